"""A full Redis never wedges dlrhook: floods stop at the high-water mark, and a Redis filled to
its last bytes by something else still drains, through the real web and workers.

Each run starts a Redis of its own (the embedded Valkey, ``maxmemory`` 24 MB, ``noeviction``)
and three gunicorn workers, floods them with 100-report pushes from six senders at once until
every sender is refused, fills what is left of Redis to the last bytes with keys of its own,
then lets workers in. Counted: reports answered 200, how far the flood took Redis past the mark,
whether every accepted report reached the handler, and how long until a push is accepted again.
``-s`` prints the figures (README, "Reliability").
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.dev.embedded import EmbeddedRedis, free_port
from tests.support import sample, wait_until
from tests.support.full import fill
from tests.support.supervisor import Supervised

pytestmark = pytest.mark.slow

MAXMEMORY = 24 * 1024 * 1024
HIGH_WATER = 0.9
TOKEN = "full-redis-token"
SENDERS = 6
RUNS = 5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path / "redis", appendonly=False) as started:
        conn = redis_lib.Redis.from_url(started.url)
        conn.config_set("maxmemory", str(MAXMEMORY))
        conn.config_set("maxmemory-policy", "noeviction")
        yield started


def start_web(server: EmbeddedRedis, tmp_path: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """`dlrhook web` (three gunicorn workers) on this test's own Redis."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_", "PROMETHEUS_"))}
    env.update(
        REDIS_URL=server.url,
        PORT=str(port),
        WEB_CONCURRENCY="3",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"metrics-{port}"),
        DLRHOOK_TOKEN=TOKEN,
        DLRHOOK_REDIS_HIGH_WATER=str(HIGH_WATER),
        DLRHOOK_LOG_LEVEL="WARNING",
    )
    log = (tmp_path / f"web-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dlrhook"), "web"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    wait_until(lambda: _status(port, "GET", "/healthz") == 200, 30, "gunicorn to answer")
    return port, process


def _status(port: int, method: str, path: str, body: bytes | None = None) -> int | None:
    try:
        return _request(port, method, path, body)[0]
    except OSError:
        return None


def _request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


TEMPLATE = json.loads(sample("v3-one-delivered.json"))["results"][0]


def body(prefix: str, n: int) -> tuple[list[str], bytes]:
    ids = [f"{prefix}-{i}" for i in range(n)]
    return ids, json.dumps({"results": [{**TEMPLATE, "messageId": m} for m in ids]}).encode()


def flood(port: int, run: int) -> tuple[set[str], int]:
    """Six senders push 100-report batches until each has been refused 20 times in a row.
    Returns the message ids answered 200 and the number of 503s."""
    accepted: set[str] = set()
    refused = [0]
    lock = threading.Lock()

    def sender(n: int) -> None:
        in_a_row = 0
        batch = 0
        deadline = time.monotonic() + 60
        while in_a_row < 20 and time.monotonic() < deadline:
            ids, payload = body(f"r{run}-s{n}-b{batch}", 100)
            batch += 1
            status, answer = _request(port, "POST", "/notify", payload)
            if status == 200:
                in_a_row = 0
                assert json.loads(answer)["accepted"] == 100
                with lock:
                    accepted.update(ids)
            else:
                assert status == 503, answer
                in_a_row += 1
                with lock:
                    refused[0] += 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return accepted, refused[0]


def delivered(path: Path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


@pytest.mark.parametrize("run", range(1, RUNS + 1))
def test_a_flood_stops_at_the_mark_and_a_redis_filled_to_the_last_byte_drains_by_itself(
    run: int, server: EmbeddedRedis, tmp_path: Path, supervise: Callable[..., Supervised]
) -> None:
    conn = redis_lib.Redis.from_url(server.url)
    port, web = start_web(server, tmp_path)
    record = tmp_path / "delivered.txt"
    workers_first = run % 2 == 0  # even runs: the flood and the fill happen while a worker runs
    worker_env = {"REDIS_URL": server.url, "DLRHOOK_HANDLERS": "test-file", "DLRHOOK_TEST_FILE": str(record)}
    try:
        if workers_first:
            # A slow handler, so that a backlog builds up while the worker runs.
            workers = [supervise(1, **worker_env, DLRHOOK_TEST_FILE_DELAY="0.0005")]
            wait_until(lambda: conn.scard("rq:workers") == 1, 30, "the worker to be up")
            conn.config_set("maxmemory", str(MAXMEMORY // 2))  # tighter, so the flood reaches the mark
        accepted, refused = flood(port, run)
        info = conn.info("memory")
        used, limit = int(info["used_memory"]), int(info["maxmemory"])
        clients = int(info["mem_clients_normal"])
        overshoot = used - HIGH_WATER * limit
        # The mark holds: what pushes stored never took Redis past it (the estimate is conservative).
        # Redis's used memory also counts its clients' buffers, which come and go with connections
        # (the gevent web opens one for each push waiting on Redis): those alone may sit above it.
        assert refused >= 20 * SENDERS
        assert overshoot <= clients, (used, limit, clients)
        assert int(info["used_memory_peak"]) < limit  # pushes never filled Redis

        filled = fill(conn, margin=64 * 1024)
        full_at = time.monotonic()
        assert _request(port, "POST", "/notify", body(f"r{run}-full", 1)[1])[0] == 503
        if not workers_first:
            workers = [supervise(1, **worker_env) for _ in range(2)]
        wait_until(lambda: accepted <= delivered(record), 120, "every accepted report to be delivered")
        drained_after = time.monotonic() - full_at
        later_ids, later = body(f"r{run}-later", 1)
        wait_until(lambda: _request(port, "POST", "/notify", later)[0] == 200, 60, "a push to be accepted again")
        accepted_after = time.monotonic() - full_at
        wait_until(lambda: set(later_ids) <= delivered(record), 60, "the later push to be delivered")
        output = "".join(w.output() for w in workers)
        assert all(w.starts == 1 for w in workers), output  # no worker ever exited
        if not workers_first:  # (a drain already running when Redis fills up needs no write to go on)
            # At least one of them delivered without RQ (the other may find room already made).
            assert "delivering with the commands a full Redis accepts" in output
        print(
            f"\nfull-redis run {run} ({'worker running' if workers_first else 'worker started after'}): "
            f"{len(accepted)} reports answered 200, {refused} pushes refused 503; after the flood Redis "
            f"held {used / limit:.1%} of maxmemory (mark {HIGH_WATER:.0%}, {-overshoot / 1024:.0f} KiB "
            f"under it, {clients / 1024:.0f} KiB of it client buffers); filled with {filled} keys; "
            f"every accepted report delivered "
            f"{drained_after:.1f} s after Redis was full, pushes accepted again after {accepted_after:.1f} s"
        )
    finally:
        web.terminate()
        web.wait(10)
