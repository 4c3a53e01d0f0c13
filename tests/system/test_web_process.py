"""The real web process: `dlrhook web` (gunicorn) on the embedded Redis, over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis

from dlrhook.dev.embedded import free_port
from dlrhook.store import keys
from tests.support import SAMPLES


def post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def announce_large_body(base: str, length: int) -> int:
    """Announce a body of *length* bytes, send only its start, and read the answer: the server
    must refuse on the Content-Length alone, without waiting for (or buffering) the body."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/notify?token=tok")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    connection.send(b'{"results": [')
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.fixture
def web(redis_url: str, conn: redis.Redis) -> Iterator[str]:
    port = free_port()
    environ = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "DLRHOOK_TOKEN": "tok",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dlrhook.cli", "web"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                break
        except OSError:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _notify_url(sample_name: str) -> str:
    """Where Infobip would push a sample: its channel's notify URL (README, "Channels")."""
    prefix = sample_name.split("-", 1)[0]
    if prefix == "messages":
        return "/notify/messages"
    return f"/notify/{prefix}" if prefix in ("whatsapp", "viber", "rcs", "mms", "email") else "/notify"


def test_every_sample_file_is_accepted_by_the_real_web_process(web: str, conn: redis.Redis) -> None:
    answers = {}
    for path in sorted(p for p in SAMPLES.iterdir() if p.is_file()):
        kind = "application/xml" if path.suffix == ".xml" else "application/json"
        answers[path.name] = post(web + _notify_url(path.name) + "?token=tok", path.read_bytes(), kind)

    assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(answers, 200)
    # 4 SMS reports (the XML sample is the v3 report again: one duplicate) and one report in
    # each of the 10 samples of other channels.
    assert conn.xlen(keys.REPORTS) == 14
    wires = [json.loads(fields[b"w"]) for _, fields in conn.xrange(keys.REPORTS)]
    kinds = sorted((w["report"]["channel"], w["report"]["kind"]) for w in wires)
    assert kinds == sorted(
        [("SMS", "delivery")] * 4
        + [("WHATSAPP", "delivery"), ("WHATSAPP", "seen"), ("VIBER", "delivery"), ("VIBER", "seen")]
        + [("RCS", "delivery"), ("RCS", "seen"), ("MMS", "delivery"), ("EMAIL", "delivery")]
        + [("VIBER_BM", "delivery"), ("VIBER_BM", "seen")]
    )
    again = post(web + "/notify?token=tok", (SAMPLES / "v1-two-delivered.json").read_bytes(), "application/json")
    assert again == (200, b'{"accepted":0,"duplicates":2,"quarantined":0}\n')


def test_the_real_web_process_survives_hostile_bodies(web: str, conn: redis.Redis) -> None:
    deep = b'{"results": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    bomb = (SAMPLES / "hostile" / "billion-laughs.xml").read_text()

    assert post(web + "/notify?token=tok", deep, "application/json")[0] == 400
    assert post(web + "/notify?token=tok", bomb.encode(), "application/xml")[0] == 400
    assert post(web + "/notify?token=nope", b"{}", "application/json")[0] == 401
    assert announce_large_body(web, 9 * 1024 * 1024) == 413
    status, _ = post(web + "/notify?token=tok", (SAMPLES / "v1-one-delivered.json").read_bytes(), "application/json")
    assert status == 200


def test_the_real_web_process_answers_hostile_numbers_at_once_with_400_or_200(web: str, conn: redis.Redis) -> None:
    def report(group_id: str, price: str = "0.01") -> bytes:
        return (
            '{"results":[{"messageId":"x","price":{"pricePerMessage":' + price + ',"currency":"EUR"},'
            '"status":{"groupId":' + group_id + ',"groupName":"DELIVERED"}}]}'
        ).encode()

    cases = {
        "1e1000000": (report("1e1000000"), 400),  # 60 bytes that once held a worker 22 s
        "1e5000": (report("1e5000"), 400),
        "1e99999999999999999999": (report("1e99999999999999999999"), 400),
        "NaN": (report("NaN"), 400),
        "price -1e400": (report("3", "-1e400"), 400),
        "group id 1e300": (report("1e300"), 200),  # a float, but no group id: quarantined
        "price text 1e400": (report("3", '"1e400"'), 200),  # 1e300 is a double, a price; this is none
    }
    for name, (body, expected) in cases.items():
        started = time.monotonic()
        status, answer = post(web + "/notify?token=tok", body, "application/json")
        elapsed = time.monotonic() - started
        assert status == expected, (name, status, answer)
        assert elapsed < 1.0, (name, elapsed)
        if expected == 200:
            assert b'"quarantined":1' in answer, name
    assert conn.hlen(keys.QUARANTINE) == 2
