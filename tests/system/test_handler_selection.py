"""Real workers run the drains of the handlers they selected only (issue 19, the bug).

The issue's scenario: ``forward`` configured once (so its consumer group exists), then its
settings removed; every worker now skips it, and pushes keep arriving. Before the fix a worker
that skipped ``forward`` still ran forward's drains and dead-lettered every report with
"DLRHOOK_FORWARD_URL and DLRHOOK_FORWARD_SECRET must be set".
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Callable

import pytest
import redis as redis_lib
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from dlrhook import drains, store
from dlrhook.settings import load_settings
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.support import sample, wait_until
from tests.support.receiver import SECRET, Receiver
from tests.support.supervisor import Supervised
from tests.support.web import Web

pytestmark = pytest.mark.slow

#: The built-in handlers only (log, forward, status): the test plugins are left off the path.
BUILTIN_ONLY = {"PYTHONPATH": ""}
API_TOKEN = "an-api-token-for-readyz-0123456"


def failed_jobs(conn: redis_lib.Redis) -> list[str]:
    """Every failed job but drains (they carry no reports: a drain whose worker stopped is failed
    by RQ's cleanup, its reports still in the stream), with what it failed of."""
    q = store.queue(conn, load_settings())
    queues = [q] + [drains.handler_queue(q, h) for h in stream.registered(conn)]
    out = []
    for registry in (FailedJobRegistry(queue=x) for x in queues):
        for job_id in registry.get_job_ids():
            if job_id.startswith(keys.DRAIN_JOB_PREFIX):
                continue
            latest = Job.fetch(job_id, connection=conn, serializer=JSONSerializer).latest_result()
            out.append(f"{registry.name} {job_id}: {(latest.exc_string if latest else '') or ''}"[-600:])
    return out


def test_reports_for_a_handler_no_worker_runs_wait_for_it_and_are_never_dead_lettered(
    conn: redis_lib.Redis,
    supervise: Callable[..., Supervised],
    start_web: Callable[..., Web],
) -> None:
    receiver = Receiver()
    forward = {"DLRHOOK_FORWARD_URL": receiver.url, "DLRHOOK_FORWARD_SECRET": SECRET}

    # forward configured once: its group exists and keeps reports from now on.
    first = supervise(**BUILTIN_ONLY, **forward)
    wait_until(lambda: "forward" in stream.registered(conn), what="the first worker to register forward")
    first.stopping = True
    assert first.proc is not None
    os.killpg(first.proc.pid, signal.SIGTERM)  # stopped as a deploy stops it, to be started without forward
    first.proc.wait(30)

    # its settings removed: two workers that skip it (installed but not configured).
    skipping = supervise(2, **BUILTIN_ONLY)
    wait_until(lambda: "skipped" in skipping.output(), what="a worker to skip forward")
    web = start_web(DLRHOOK_API_TOKEN=API_TOKEN)
    for start in range(0, 60, 20):
        status, answer = web.request("POST", "/notify", _batch(start), "application/json")
        assert status == 200, answer
    wait_until(lambda: stream.backlog(conn).get("log", 1) == 0, what="log to have every report")
    wait_until(lambda: stream.backlog(conn).get("status", 1) == 0, what="status to have every report")
    time.sleep(5)  # many maintenance rounds (1 s) and retry rounds (0, 0) for a wrong drain to run

    assert failed_jobs(conn) == []
    assert stream.backlog(conn)["forward"] == 60
    assert receiver.requests == []
    assert "must be set" not in skipping.output()
    parked = conn.lrange(drains.handler_queue(store.queue(conn, load_settings()), "forward").key, 0, -1)
    assert len(parked) == 1  # one drain waits for forward; it does not pass from worker to worker
    c = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    c.request("GET", "/readyz", headers={"Authorization": f"Bearer {API_TOKEN}"})
    ready = json.loads(c.getresponse().read())
    c.close()
    assert ready["handlers"]["forward"]["waiting"] == 60 and ready["handlers"]["forward"]["dead_letters"] == 0
    assert ready["queued_jobs"] >= 1  # the parked drain counts

    # a worker with forward's settings comes back: it gets every report, once.
    supervise(**BUILTIN_ONLY, **forward)
    wait_until(lambda: len(receiver.requests) >= 60, what="forward to deliver the 60 kept reports")
    time.sleep(2)
    ids = [json.loads(b)["report"]["message_id"] for _, b in receiver.requests]
    assert sorted(ids) == sorted(f"sel-{i}" for i in range(60))
    assert failed_jobs(conn) == []
    wait_until(lambda: stream.backlog(conn).get("forward", 1) == 0, what="forward's backlog to empty")


def _batch(start: int) -> bytes:
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    return json.dumps({"results": [{**template, "messageId": f"sel-{i}"} for i in range(start, start + 20)]}).encode()
