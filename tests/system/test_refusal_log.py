"""A refused push is seen in the web's log (real gunicorn): one WARNING line naming status,
reason and client, never a secret, and a flood cannot fill the log. /readyz's full answer
counts dead letters and ages the oldest undelivered report per handler."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.ingest import ingest
from dlrhook.settings import load_settings
from dlrhook.workers import stream
from tests.support import sample, wait_until
from tests.support.web import Web

pytestmark = pytest.mark.slow

TOKEN = "a-configured-token-of-some-length"
WRONG = "a-wrong-token-someone-sent-us"
API_TOKEN = "an-api-token-for-readyz-0123456"


def push(web: Web, path: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=sample("v1-one-delivered.json"),
            headers={"Content-Type": "application/json", "Connection": "close", **(headers or {})},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def refusal_lines(log: Path) -> list[dict[str, object]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("msg", "")).startswith("refused push"):
            out.append(record)
    return out


def test_a_refused_push_logs_one_warning_naming_status_reason_and_client_and_no_secret(
    start_web: Callable[..., Web], tmp_path: Path
) -> None:
    web = start_web(DLRHOOK_TOKEN=TOKEN)
    log = tmp_path / f"web-{web.port}.log"
    assert push(web, f"/notify?token={WRONG}") == 401
    wait_until(lambda: len(refusal_lines(log)) == 1, 10, "the refusal's log line")
    [line] = refusal_lines(log)
    assert line["level"] == "WARNING"
    assert (line["status"], line["reason"], line["client"]) == (401, "Unauthorized", "127.0.0.1")
    assert "401 Unauthorized from 127.0.0.1" in str(line["msg"])
    text = log.read_text()
    assert WRONG not in text and TOKEN not in text

    assert push(web, "/notify", {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}) == 415
    wait_until(lambda: len(refusal_lines(log)) == 2, 10, "the 415's log line")
    assert refusal_lines(log)[1]["status"] == 415


def test_a_flood_of_refused_pushes_logs_about_one_line_a_second_per_worker_then_counts_the_rest(
    start_web: Callable[..., Web], tmp_path: Path
) -> None:
    web = start_web(DLRHOOK_TOKEN=TOKEN)
    log = tmp_path / f"web-{web.port}.log"
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < 2.5:
        assert push(web, "/notify", {"Authorization": f"Bearer {WRONG}"}) == 401
        sent += 1
    time.sleep(1.1)  # a quiet second: the next line carries the count of those left out
    assert push(web, "/notify", {"Authorization": f"Bearer {WRONG}"}) == 401
    assert push(web, "/notify", {"Authorization": f"Bearer {WRONG}"}) == 401  # either worker
    seconds = time.monotonic() - started
    time.sleep(0.5)
    lines = refusal_lines(log)
    assert sent > 50, sent  # a flood, not a trickle
    # Two gunicorn workers, each at most one line a second (plus its first).
    assert len(lines) <= 2 * (int(seconds) + 2), (len(lines), sent)
    held = sum(int(line["suppressed"]) for line in lines)  # type: ignore[call-overload]
    # What was left out is counted by the next line of the same worker (a worker's last second
    # stays uncounted until its next refusal).
    assert sent / 2 < held < sent
    assert any("not logged" in str(line["msg"]) for line in lines)


def test_readyz_counts_dead_letters_and_ages_the_oldest_undelivered_report_per_handler(
    conn: redis_lib.Redis,
    start_web: Callable[..., Web],
    worker_env: Callable[..., object],
    run_jobs: Callable[[object], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-broken", DLRHOOK_RETRY_DELAYS="")
    conn.set("test:broken", "1")
    ingest(conn, json.loads(sample("v1-two-delivered.json"))["results"], source="push", settings=load_settings())
    run_jobs(settings)  # test-broken dead-letters both
    stream.register(conn, ["test-record"])  # a handler no worker runs now: its reports wait
    ingest(conn, json.loads(sample("v1-one-delivered.json"))["results"], source="push", settings=load_settings())
    time.sleep(1.2)
    web = start_web(DLRHOOK_API_TOKEN=API_TOKEN)
    c = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    c.request("GET", "/readyz", headers={"Authorization": f"Bearer {API_TOKEN}"})
    answer = json.loads(c.getresponse().read())
    c.close()
    assert answer["dead_letters"] == 1
    handlers = answer["handlers"]
    assert handlers["test-broken"]["dead_letters"] == 1
    assert handlers["test-broken"]["waiting"] == 1  # the report stored after the worker ran
    assert handlers["test-record"]["waiting"] == 1 and handlers["test-record"]["dead_letters"] == 0
    assert 1.0 <= handlers["test-record"]["oldest_undelivered_seconds"] < 60
    status, plain = web.request("GET", "/readyz")
    assert status == 200 and json.loads(plain) == {"status": "ok"}  # strangers still see only this
