"""What /metrics says about the worker side, read by a real web from the Redis real workers use
(issue 19: the gauges the alert rules read must not lie).

- ``dlrhook_queue_depth{queue="jobs"}`` counts the jobs parked in a handler's own queue
  (``<DLRHOOK_QUEUE>:<handler>``), not only the shared queue's;
- ``dlrhook handlers forget NAME`` empties that handler's queue;
- a handler's drains are bounded by the workers that run it (``Lane.most_drains``), and
  ``dlrhook_handler_workers`` counts them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import redis as redis_lib

from dlrhook import drains, store
from dlrhook.settings import load_settings
from dlrhook.workers import handlers as handler_registry
from dlrhook.workers import stream
from dlrhook.workers.lane import Lane
from tests.support import sample, wait_until
from tests.support.supervisor import Supervised
from tests.support.web import Web

pytestmark = pytest.mark.slow

BUILTIN_ONLY = {"PYTHONPATH": ""}


def _batch(start: int, n: int) -> bytes:
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    return json.dumps({"results": [{**template, "messageId": f"mp-{i}"} for i in range(start, start + n)]}).encode()


def test_a_drain_parked_for_a_handler_no_worker_runs_is_a_queued_job_and_forget_empties_its_queue(
    conn: redis_lib.Redis,
    supervise: Callable[..., Supervised],
    start_web: Callable[..., Web],
    process_env: dict[str, str],
) -> None:
    # "gone" was run once (its group exists: reports are kept for it); no worker runs it now.
    stream.register(conn, ["gone"])
    worker = supervise(**BUILTIN_ONLY, DLRHOOK_HANDLERS="log")
    wait_until(lambda: "log" in stream.registered(conn), what="the worker to register log")
    web = start_web()
    status, answer = web.request("POST", "/notify", _batch(0, 20), "application/json")
    assert status == 200, answer
    pushed = time.monotonic()
    hq = drains.handler_queue(store.queue(conn, load_settings()), "gone")
    wait_until(lambda: conn.llen(hq.key) == 1, what="gone's drain to be parked in its own queue")
    wait_until(lambda: stream.backlog(conn).get("log", 1) == 0, what="log to have every report")

    time.sleep(max(0.0, pushed + 0.5 - time.monotonic()))  # the age is given to a tenth of a second
    samples = web.scrape()
    shared = conn.llen(store.queue(conn, load_settings()).key)
    assert samples['dlrhook_queue_depth{queue="jobs"}'] == shared + 1  # the parked drain counts
    assert samples['dlrhook_handler_queued_jobs{handler="gone"}'] == 1
    assert samples['dlrhook_handler_waiting{handler="gone"}'] == 20
    assert samples['dlrhook_handler_waiting{handler="log"}'] == 0
    assert samples['dlrhook_handler_oldest_undelivered_seconds{handler="gone"}'] >= 0.4
    assert samples['dlrhook_handler_oldest_undelivered_seconds{handler="log"}'] == 0
    assert samples['dlrhook_handler_workers{handler="gone"}'] == 0
    assert samples['dlrhook_handler_workers{handler="log"}'] == 1
    assert samples['dlrhook_handler_dead_letters{handler="gone"}'] == 0
    assert samples["dlrhook_workers"] == 1
    assert samples["dlrhook_redis_memory_used_bytes"] > 0

    forgot = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "handlers", "forget", "gone"],
        env={**process_env, **BUILTIN_ONLY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert forgot.returncode == 0, forgot.stderr
    assert "20 waiting reports" in forgot.stdout
    assert conn.llen(hq.key) == 0
    after = web.scrape()
    assert after['dlrhook_queue_depth{queue="jobs"}'] == conn.llen(store.queue(conn, load_settings()).key)
    assert not [k for k in after if 'handler="gone"' in k]
    assert "Traceback" not in worker.output()


def test_a_handler_may_run_one_drain_per_worker_that_runs_it_less_one(
    conn: redis_lib.Redis,
    supervise: Callable[..., Supervised],
    start_web: Callable[..., Web],
) -> None:
    # Three workers: two run log only, one runs status only.
    supervise(2, **BUILTIN_ONLY, DLRHOOK_HANDLERS="log")
    supervise(**BUILTIN_ONLY, DLRHOOK_HANDLERS="status")
    wait_until(lambda: {"log", "status"} <= set(stream.registered(conn)), what="both handlers to register")
    settings = load_settings()
    q = store.queue(conn, settings)
    log_workers = f"rq:workers:{drains.handler_queue(q, 'log').name}"  # RQ's set of a queue's workers
    wait_until(lambda: conn.scard(log_workers) == 2, what="two workers to listen to log's queue")
    web = start_web()
    samples = web.scrape()
    assert samples["dlrhook_workers"] == 3
    assert samples['dlrhook_handler_workers{handler="log"}'] == 2
    assert samples['dlrhook_handler_workers{handler="status"}'] == 1

    # Two handlers registered: each may run one drain less than the workers that run it (at least one).
    # Three workers listen to the shared queue; counting them would allow two drains of status,
    # the second of which no worker could run but the one already busy with the first.
    for name, most in (("log", 1), ("status", 1)):
        lane = Lane(conn, q, settings, handler_registry.Handler(name, _noop, batch=False), "test-consumer")
        assert lane.most_drains() == most, name
    supervise(**BUILTIN_ONLY, DLRHOOK_HANDLERS="log")
    wait_until(lambda: conn.scard(log_workers) == 3, what="a third log worker")
    lane = Lane(conn, q, settings, handler_registry.Handler("log", _noop, batch=False), "test-consumer")
    assert lane.most_drains() == 2


def _noop(report: object) -> None:
    return None
