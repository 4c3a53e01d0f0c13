"""Dispatch under real handlers, through real ``dlrhook worker`` processes: slow, hanging and
crashing handlers, several workers, a full Redis. Each test counts what reached the handlers.

Workers run under a small supervisor (as Heroku, systemd or honcho would): a worker that exits
is started again, and the test counts the restarts.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib
from click.testing import CliRunner
from flask import Flask

from dlrhook.cli import main
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.support import sample, wait_until
from tests.support.full import fill
from tests.support.supervisor import Supervised, recorded

pytestmark = pytest.mark.slow


def reports(n: int, prefix: str = "m") -> list[dict[str, object]]:
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    return [{**template, "messageId": f"{prefix}-{i}"} for i in range(n)]


def test_a_backlog_with_no_new_pushes_spreads_over_every_running_worker(
    conn: redis_lib.Redis, env: Callable[..., Settings], supervise: Callable[..., Supervised]
) -> None:
    supervise(3, DLRHOOK_HANDLERS="test-sleep5")
    wait_until(lambda: conn.scard("rq:workers") == 3, 30, "three workers to be up")
    ingest(conn, reports(900), source="push", settings=env())  # a replay, a poller's full pages: one backlog

    wait_until(lambda: len(recorded(conn, "test:calls:test-sleep5")) >= 900, 60, "the backlog to be delivered")
    pids = {k: int(v) for k, v in conn.hgetall("test:pids:test-sleep5").items()}
    assert len(pids) == 3, pids  # every worker took a share
    assert min(pids.values()) >= 100, pids
    assert Counter(recorded(conn, "test:calls:test-sleep5")).most_common(1)[0][1] == 1  # none twice


def test_a_slow_handler_listed_first_does_not_delay_a_fast_one(
    conn: redis_lib.Redis, env: Callable[..., Settings], supervise: Callable[..., Supervised]
) -> None:
    conn.set("test:slow", "0.3")
    supervise(2, DLRHOOK_HANDLERS="test-slow,test-record-too")
    wait_until(lambda: conn.hlen(keys.HANDLERS) == 2, 30, "the workers to register their handlers")
    started = time.monotonic()
    ingest(conn, reports(300), source="push", settings=env())

    wait_until(lambda: len(recorded(conn, "test:calls:test-record-too")) >= 300, 15, "the fast handler's 300 reports")
    took = time.monotonic() - started
    print(f"isolation: the fast handler had all 300 reports after {took:.1f} s")
    assert took < 15
    assert len(set(recorded(conn, "test:calls:test-record-too"))) == 300
    slow = recorded(conn, "test:started:test-slow")
    assert 0 < len(slow) < 300 and len(set(slow)) == len(slow)  # still working through them, none twice


def test_a_call_past_the_handler_timeout_fails_that_report_alone_and_is_dead_lettered(
    conn: redis_lib.Redis, env: Callable[..., Settings], supervise: Callable[..., Supervised]
) -> None:
    conn.sadd("test:hang", "m-1")
    ingest(conn, reports(5), source="push", settings=env())
    worker = supervise(1, DLRHOOK_HANDLERS="test-hang,test-record-too", DLRHOOK_HANDLER_TIMEOUT="1")

    wait_until(lambda: _dead_letters(conn) == 1, 40, "the hanging report's dead letter")
    assert sorted(recorded(conn, "test:calls:test-hang")) == ["m-0", "m-2", "m-3", "m-4"]  # each once
    assert sorted(recorded(conn, "test:calls:test-record-too")) == [f"m-{i}" for i in range(5)]
    assert recorded(conn, "test:started:test-hang") == ["m-1"] * 3  # three attempts, each cut off
    row = _failed_rows()[0]
    assert row["handler"] == "test-hang" and row["ids"] == "m-1" and row["attempts"] == "3"
    assert "DLRHOOK_HANDLER_TIMEOUT" in row["reason"]
    assert worker.starts == 1  # the timeout interrupted the call: no process was lost


def test_a_call_stuck_in_c_code_gets_its_worker_replaced_and_the_report_dead_lettered(
    conn: redis_lib.Redis, env: Callable[..., Settings], supervise: Callable[..., Supervised]
) -> None:
    conn.sadd("test:hang", "m-1")
    conn.set("test:hang:c", "1")
    ingest(conn, reports(4), source="push", settings=env())
    worker = supervise(1, DLRHOOK_HANDLERS="test-hang,test-record-too", DLRHOOK_HANDLER_TIMEOUT="0.5")

    wait_until(lambda: _dead_letters(conn) == 1, 90, "the stuck report's dead letter")
    row = _failed_rows()[0]
    assert row["handler"] == "test-hang" and row["ids"] == "m-1"
    assert row["reason"] == "the worker died during this call 2 times"
    assert 70 in worker.exits  # the watchdog ended the stuck worker
    wait_until(lambda: set(recorded(conn, "test:calls:test-hang")) == {"m-0", "m-2", "m-3"}, 30, "the siblings")
    assert max(Counter(recorded(conn, "test:calls:test-hang")).values()) <= 3
    assert sorted(recorded(conn, "test:calls:test-record-too")) == [f"m-{i}" for i in range(4)]  # the other, once


def test_a_call_stuck_in_c_code_that_holds_the_gil_is_ended_by_faulthandler_and_dead_lettered(
    conn: redis_lib.Redis, env: Callable[..., Settings], supervise: Callable[..., Supervised]
) -> None:
    conn.sadd("test:hang", "m-1")
    conn.set("test:hang:gil", "1")
    ingest(conn, reports(3), source="push", settings=env())
    worker = supervise(1, DLRHOOK_HANDLERS="test-hang", DLRHOOK_HANDLER_TIMEOUT="0.5")

    wait_until(lambda: _dead_letters(conn) == 1, 120, "the stuck report's dead letter")
    row = _failed_rows()[0]
    assert (row["handler"], row["ids"]) == ("test-hang", "m-1")
    assert row["reason"] == "the worker died during this call 2 times"
    assert "Timeout (0:00:07.500000)!" in worker.output()  # faulthandler's report, with the stuck stack
    wait_until(lambda: set(recorded(conn, "test:calls:test-hang")) == {"m-0", "m-2"}, 30, "the siblings")


def test_a_report_that_kills_its_worker_every_time_is_isolated_and_later_pushes_flow(
    conn: redis_lib.Redis, env: Callable[..., Settings], supervise: Callable[..., Supervised]
) -> None:
    conn.sadd("test:poison", "m-3")
    ingest(conn, reports(10), source="push", settings=env())
    worker = supervise(1, DLRHOOK_HANDLERS="test-crash,test-record-too")

    wait_until(lambda: worker.starts >= 2, 30, "the poison report to kill the first worker")
    ingest(conn, reports(5, prefix="later"), source="push", settings=env())
    wait_until(lambda: _dead_letters(conn) == 1, 90, "the poison report's dead letter")
    print(f"poison: dead-lettered after {worker.starts - 1} worker deaths")

    every = {f"m-{i}" for i in range(10) if i != 3} | {f"later-{i}" for i in range(5)}
    wait_until(lambda: set(recorded(conn, "test:calls:test-crash")) >= every, 30, "the siblings and later pushes")
    counts = Counter(recorded(conn, "test:calls:test-crash"))
    assert "m-3" not in counts
    assert max(counts.values()) <= 3, counts
    assert Counter(recorded(conn, "test:calls:test-record-too")) == Counter(every | {"m-3"})  # the other handler, once
    row = _failed_rows()[0]
    assert row["handler"] == "test-crash" and row["ids"] == "m-3"
    assert row["reason"] == "the worker died during this call 2 times"
    assert worker.starts <= 4


def test_a_full_redis_gets_503_the_worker_waits_instead_of_exiting_and_both_resume_by_themselves(
    conn: redis_lib.Redis,
    env: Callable[..., Settings],
    make_app: Callable[..., Flask],
    supervise: Callable[..., Supervised],
) -> None:
    settings = env()
    ingest(conn, reports(20), source="push", settings=settings)  # accepted before Redis filled up
    used = int(conn.info("memory")["used_memory"])
    conn.config_set("maxmemory", str(used + 4 * 1024 * 1024))
    conn.config_set("maxmemory-policy", "noeviction")
    try:
        filler = fill(conn)
        client = make_app().test_client()
        time.sleep(1.1)  # the web's memory reading is at most a second old
        answer = client.post("/notify", json={"results": reports(1, prefix="refused")})
        assert answer.status_code == 503 and answer.headers["Retry-After"]

        worker = supervise(1, DLRHOOK_HANDLERS="test-record-too")
        time.sleep(4)
        assert worker.starts == 1 and worker.proc is not None and worker.proc.poll() is None  # waiting, alive

        conn.delete(*[f"test:fill:{i}" for i in range(filler)])  # the operator (or eviction of junk) frees room
        wait_until(lambda: len(recorded(conn, "test:calls:test-record-too")) == 20, 60, "the worker to resume")
        assert worker.starts == 1  # it never exited
        time.sleep(1.1)
        assert client.post("/notify", json={"results": reports(1, prefix="later")}).status_code == 200
        assert "Redis refused the worker" in worker.output()

        # Full again while the worker runs: RQ's loop quits on the refused writes; the process stays.
        filler = fill(conn, filler)
        time.sleep(4)
        assert worker.starts == 1 and worker.proc is not None and worker.proc.poll() is None
        conn.delete(*[f"test:fill:{i}" for i in range(filler)])
        time.sleep(1.1)
        assert client.post("/notify", json={"results": reports(3, prefix="after")}).status_code == 200
        wait_until(lambda: len(recorded(conn, "test:calls:test-record-too")) == 24, 60, "the worker to resume again")
        assert worker.starts == 1
    finally:
        conn.config_set("maxmemory", "0")


def _dead_letters(conn: redis_lib.Redis) -> int:
    return len([r for r in _failed_rows()])


def _failed_rows() -> list[dict[str, str]]:
    out = CliRunner().invoke(main, ["failed", "list"]).output.splitlines()
    if not out or out[0] == "no failed jobs":
        return []
    names = ["job", "handler", "reports", "ids", "attempts", "when", "reason"]
    return [dict(zip(names, line.split("\t"), strict=True)) for line in out[1:]]


def test_a_worker_outlives_a_redis_restart_and_delivers_what_came_before_and_after(
    tmp_path: Path, process_env: dict[str, str], supervise: Callable[..., Supervised], env: Callable[..., Settings]
) -> None:
    from dlrhook.dev.embedded import EmbeddedRedis, free_port

    port = free_port()
    server = EmbeddedRedis(tmp_path / "redis", port=port, appendonly=True).start()
    own = redis_lib.Redis.from_url(server.url)
    settings = env(REDIS_URL=server.url)
    try:
        worker = supervise(1, REDIS_URL=server.url, DLRHOOK_HANDLERS="test-record-too")
        ingest(own, reports(10, prefix="before"), source="push", settings=settings)
        wait_until(lambda: own.llen("test:calls:test-record-too") == 10, 30, "the first reports")

        server.stop()  # Redis goes away ...
        time.sleep(4)
        assert worker.proc is not None and worker.proc.poll() is None  # ... the worker waits, alive
        server = EmbeddedRedis(tmp_path / "redis", port=port, appendonly=True).start()  # ... and comes back
        ingest(own, reports(10, prefix="after"), source="push", settings=settings)

        wait_until(lambda: own.llen("test:calls:test-record-too") == 20, 60, "the reports after the restart")
        got = [v.decode() for v in own.lrange("test:calls:test-record-too", 0, -1)]
        assert sorted(got) == sorted([f"before-{i}" for i in range(10)] + [f"after-{i}" for i in range(10)])
        assert worker.starts == 1  # it never exited
    finally:
        own.close()
        server.stop()
