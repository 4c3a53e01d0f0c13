"""Hostile clients against the real web process (`dlrhook web`, gunicorn's gevent workers):
slow and half-open sockets, chunked bodies past the limit, tokens in bad request lines, a
stranger asking /readyz, an allowlist offered as authentication."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bench import hostile
from dlrhook.dev.embedded import free_port
from dlrhook.store import keys
from tests.support.web import Web

pytestmark = pytest.mark.slow

#: gunicorn_conf's keepalive: the most a header may take to arrive, or a connection may sit idle.
KEEPALIVE = 5
#: Slack for a loaded 2-core machine on top of each bound.
SLACK = 3
BODY_TIMEOUT = 3


def test_hundreds_of_slow_and_half_open_sockets_do_not_delay_a_push_and_are_cut_off(
    start_web: Callable[..., Web], conn: redis.Redis
) -> None:
    web = start_web(DLRHOOK_TOKEN=hostile.TOKEN, DLRHOOK_BODY_TIMEOUT=str(BODY_TIMEOUT))
    counts = {"half_open": 100, "silent": 50, "trickle": 150, "anon_trickle": 50, "idle": 50}

    outcome = asyncio.run(hostile.attack(web.port, counts, settle=1.5, pushes=5))

    assert outcome.push_statuses and set(outcome.push_statuses) == {200}, outcome.push_statuses
    assert max(outcome.push_seconds) < 2.0, hostile.summary(outcome)
    assert outcome.open_count() == 0, hostile.summary(outcome)
    # Without credentials a trickled body gets its 401 at once; gunicorn then waits at most
    # keepalive seconds for the rest of the body before it closes.
    assert outcome.statuses("anon_trickle") == {"401": counts["anon_trickle"]}, hostile.summary(outcome)
    for kind in ("half_open", "silent", "idle", "anon_trickle"):
        longest = outcome.longest(kind)
        assert longest is not None and longest <= KEEPALIVE + SLACK, hostile.summary(outcome)
    # A body trickled a byte a second gets its 408 at DLRHOOK_BODY_TIMEOUT; gunicorn then waits at
    # most keepalive seconds for the rest before it closes the connection.
    assert outcome.statuses("trickle") == {"408": counts["trickle"]}, hostile.summary(outcome)
    answered = [s.answered - s.opened for s in outcome.of("trickle") if s.answered is not None]
    assert max(answered) <= BODY_TIMEOUT + SLACK
    longest = outcome.longest("trickle")
    assert longest is not None and longest <= BODY_TIMEOUT + KEEPALIVE + SLACK
    # Every legitimate push was stored; no trickled one was.
    assert conn.xlen(keys.REPORTS) == len(outcome.push_statuses)


def _chunked_post(port: int, path: str, chunks: list[bytes]) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for chunk in chunks:
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def test_a_chunked_body_over_the_limit_is_a_413_and_one_within_it_is_taken(start_web: Callable[..., Web]) -> None:
    web = start_web(DLRHOOK_TOKEN="chunky-token", DLRHOOK_MAX_BODY="4096")
    body = hostile.report_body()

    status, answer = _chunked_post(web.port, "/notify?token=chunky-token", [body[:10], body[10:]])
    assert (status, answer["accepted"]) == (200, 1)

    padded = body[:-2] + b" " * 5000 + body[-2:]  # valid JSON, 5 KB
    status, answer = _chunked_post(web.port, "/notify?token=chunky-token", [padded[:3000], padded[3000:]])
    assert status == 413
    assert "DLRHOOK_MAX_BODY" in str(answer["detail"])


def test_a_token_in_a_bad_request_line_never_reaches_gunicorns_log(
    start_web: Callable[..., Web], tmp_path: Path
) -> None:
    token = "s3cret-token-value"
    # gunicorn's access log on too: it writes every request line, query string and all.
    web = start_web(DLRHOOK_TOKEN=f"old-token-value,{token}", GUNICORN_CMD_ARGS="--access-logfile -")
    for line in (
        f"POST /notify?token={token} HTTP/1.1 trailing\r\n",  # not a request line
        f"POST /notify?token={token} HTTP/7.1\r\n",  # no such version
        f"GET /notify?token={token}&x=\x01 HTTP/1.1\r\n",  # a control character
    ):
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
            sock.sendall(line.encode() + b"Host: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    assert web.request("POST", f"/notify?token={token}", hostile.report_body(), "application/json")[0] == 200
    time.sleep(0.5)
    log = (tmp_path / f"web-{web.port}.log").read_text()
    assert "Invalid request from ip=" in log  # gunicorn did log the bad lines
    assert '"POST /notify?token=[secret] HTTP/1.1" 200' in log  # and the push, in its access log
    assert token not in log
    assert "token=[secret]" in log


def test_readyz_tells_a_stranger_only_whether_it_is_ready(start_web: Callable[..., Web]) -> None:
    web = start_web(DLRHOOK_TOKEN="push-token", DLRHOOK_API_TOKEN="read-token")
    status, body = web.request("GET", "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})

    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    connection.request("GET", "/readyz", headers={"Authorization": "Bearer read-token"})
    full = json.loads(connection.getresponse().read())
    connection.close()
    assert full["status"] == "ok" and full["auth"] == "token" and "stream" in full


def test_an_allowlist_without_a_secret_stops_the_start_naming_why(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_"))}
    env.update(REDIS_URL=redis_url, PORT=str(free_port()), DLRHOOK_ALLOWED_IPS="infobip")
    dlrhook = str(Path(sys.executable).parent / "dlrhook")
    refused = subprocess.run([dlrhook, "web"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "DLRHOOK_ALLOWED_IPS" in refused.stderr and "DLRHOOK_ALLOWLIST_ONLY=true" in refused.stderr
