"""A burst of pushes against a slow Redis, through real gunicorn (gevent): each push in flight
holds a Redis connection, so without a bound the web opens one per waiting push (up to 1000 a
process) and a managed plan's connection cap refuses every client, the workers' too. With
``DLRHOOK_REDIS_MAX_CONNECTIONS`` the web holds at most that many a process; the pushes beyond
wait for one, then get a 503, and nothing answered 200 is lost.

Slow Redis: ``DLRHOOK_DURABILITY=replica`` with the replica stopped (SIGSTOP), so every push
waits ``DLRHOOK_DURABILITY_TIMEOUT`` for a WAIT no replica answers, as in a failover.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis as redis_lib

from tests.support import sample
from tests.support.pusher import stored_ids
from tests.support.servers import Server
from tests.support.web import Web

PUSHES = 60
PROCESSES = 2


def clients(conn: redis_lib.Redis) -> int:
    """Connections on the server that are neither a replica's nor *conn*'s own."""
    listed = conn.client_list()
    return sum(1 for c in listed if "S" not in c["flags"]) - 1


@contextmanager
def peak(conn: redis_lib.Redis) -> Iterator[list[int]]:
    """The most connections seen while the block runs (sampled every 20 ms), in ``[0]``."""
    found = [0]
    done = threading.Event()

    def sample_clients() -> None:
        while not done.is_set():
            found[0] = max(found[0], clients(conn))
            time.sleep(0.02)

    thread = threading.Thread(target=sample_clients)
    thread.start()
    try:
        yield found
    finally:
        done.set()
        thread.join()


def burst(web: Web, prefix: str) -> tuple[Counter[int], set[str]]:
    """:data:`PUSHES` pushes of one report each, all at once; their answers and the ids answered 200."""
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    answers: Counter[int] = Counter()
    accepted: set[str] = set()
    lock = threading.Lock()
    go = threading.Barrier(PUSHES)

    def push(n: int) -> None:
        message_id = f"{prefix}-{n}"
        body = json.dumps({"results": [{**template, "messageId": message_id}]}).encode()
        go.wait()
        try:
            status, _ = web.request("POST", "/notify", body, "application/json")
        except (OSError, http.client.HTTPException):
            status = 0
        with lock:
            answers[status] += 1
            if status == 200:
                accepted.add(message_id)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(PUSHES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers, accepted


def test_a_burst_against_a_slow_redis_holds_at_most_the_pool(start_web: Callable[..., Web], tmp_path: Path) -> None:
    primary = Server("valkey", tmp_path / "a", appendonly=False).start()
    replica = Server("valkey", tmp_path / "b", appendonly=False).start(replica_of=primary)
    watch = primary.client()
    assert replica.process is not None
    try:
        runs = {}
        for cap in ("3", "200"):
            web = start_web(
                REDIS_URL=primary.url,
                WEB_CONCURRENCY=str(PROCESSES),
                DLRHOOK_DURABILITY="replica",
                DLRHOOK_DURABILITY_TIMEOUT="0.5",
                DLRHOOK_REDIS_MAX_CONNECTIONS=cap,
            )
            replica.process.send_signal(signal.SIGSTOP)
            try:
                with peak(watch) as most:
                    answers, accepted = burst(web, f"slow-{cap}")
            finally:
                replica.process.send_signal(signal.SIGCONT)
            # A stopped replica means no push is durable: each is a 503, none a 500 or a dropped socket.
            assert answers == Counter({503: PUSHES}), answers
            assert not accepted
            runs[cap] = most[0]
            # The replica back, the same web answers 200 and holds what it answered.
            answers, accepted = burst(web, f"back-{cap}")
            assert answers == Counter({200: PUSHES}), answers
            assert accepted <= stored_ids(watch)
            web.process.terminate()
            web.process.wait(30)
        # The bound holds: 3 a process, plus the one each process writes its per-minute counts
        # with (dlrhook.activity, never in a push's path), where without it the same burst opened
        # a connection per waiting push.
        assert runs["3"] <= (3 + 1) * PROCESSES, runs
        assert runs["200"] >= 20, runs
    finally:
        replica.process.send_signal(signal.SIGCONT)
        primary.stop()
        replica.stop()
