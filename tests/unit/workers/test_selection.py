"""A worker runs jobs of its own handlers only: another handler's retry or replayed dead letter
moves, unrun, to that handler's own queue, and a worker running that handler delivers it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import redis as redis_lib
from dlrhook_testplugin import calls
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from dlrhook import drains, store
from dlrhook.report import DeliveryReport
from dlrhook.schemas import ReportSchema
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.wire import report_key, wire_from_loaded
from dlrhook.workers import runtime, stream
from tests.support import sample


def wires() -> list[dict[str, object]]:
    raw = json.loads(sample("v1-two-delivered.json"))["results"]
    out = []
    for r in raw:
        loaded = ReportSchema().load(r)
        wire = wire_from_loaded(loaded, r, key=report_key(loaded), source="push", received_at=datetime.now(UTC))
        out.append(DeliveryReport.from_wire(wire).to_wire())
    return out


def test_a_retry_for_a_handler_this_worker_does_not_run_waits_in_its_queue_for_one_that_does(
    conn: redis_lib.Redis, worker_env: Callable[..., Settings]
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record,test-broken")
    conn.set("test:broken", "1")  # were it called here, it would fail
    stream.register(conn, ["test-record", "test-broken"])  # a worker ran test-broken once
    shared = store.queue(conn, settings)
    job = shared.enqueue(keys.DELIVER_FUNC, args=["test-broken", wires(), 2], job_id="dead-replayed")
    runtime.select(["test-record"])
    SimpleWorker([shared], connection=conn, serializer=JSONSerializer).work(burst=True)

    own = drains.handler_queue(shared, "test-broken")
    assert calls(conn, "test-broken") == []
    assert FailedJobRegistry(queue=shared).count == 0
    [parked] = own.get_jobs()
    assert parked.args == job.args and parked.id.startswith("dead-")  # the same attempt, still a replay

    conn.delete("test:broken")
    runtime.select(["test-broken"])
    SimpleWorker([own, shared], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert len(calls(conn, "test-broken")) == 2
    assert own.count == 0 and FailedJobRegistry(queue=own).count == 0


def test_a_retry_for_a_handler_no_worker_registered_fails_visibly_instead_of_waiting_for_nobody(
    conn: redis_lib.Redis, worker_env: Callable[..., Settings]
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    shared = store.queue(conn, settings)
    shared.enqueue(keys.DELIVER_FUNC, args=["test-broken", wires(), 2], job_id="deliver-orphan")
    runtime.select(["test-record"])
    SimpleWorker([shared], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert FailedJobRegistry(queue=shared).get_job_ids() == ["deliver-orphan"]
    assert drains.handler_queue(shared, "test-broken").count == 0
    assert calls(conn, "test-broken") == []
