"""The jobs that hand reports to the handlers: ``drain(handler)`` and ``deliver`` (retries).

Design (docs/workers.md has the long form):

- Ingest appends every accepted report to one Redis stream, ``dlrhook:reports``. Each handler
  reads it through a consumer group of its own name, so each handler has its own position,
  its own claims and its own failures: a slow, hanging or crashing handler holds back no other
  handler, and no handler ever sees a report again because another one failed.
- ``drain(handler)`` jobs do the reading. Several may run for one handler at once (on several
  workers), each claiming its own batches (``XREADGROUP``), so a backlog spreads over every
  worker: a drain that finds a full batch wakes one more, up to the number of workers that run
  the handler (one less when other handlers are registered, so that a slow handler can never
  hold every worker).
  A drain works for ``DLRHOOK_DRAIN_BUDGET`` seconds, then queues its successor at the back of
  the queue: handlers take turns.
- Each handler call is bounded by ``DLRHOOK_HANDLER_TIMEOUT`` (SIGALRM interrupts it; the call
  has failed). A call that cannot be interrupted is ended with the process after
  ``HANDLER_KILL_GRACE`` more seconds by a watchdog thread, which first records the crash; C
  code that even holds the GIL meets faulthandler's watchdog 2-3 s later.
- A batch whose worker died (SIGKILL, a crash, the watchdog) stays claimed in the stream. After
  ``DLRHOOK_ABANDON_AFTER`` seconds without a heartbeat a drain reclaims it (``XAUTOCLAIM``) and
  delivers it carefully: one report at a time, counting in ``dlrhook:crashes:<handler>`` each
  call the process does not survive, acknowledging each report as soon as its call returns. A
  report whose calls killed the worker ``DLRHOOK_MAX_CRASHES`` times is dead-lettered for that
  handler; its siblings are delivered at most twice.
- Failures are per handler and per report: only the reports a handler failed are retried, for
  that handler only, as a ``deliver`` job after ``DLRHOOK_RETRY_DELAYS[n]`` (RQ's scheduler);
  when the delays run out they are dead-lettered (RQ's FailedJobRegistry, replayable).
- A stream entry is trimmed once every handler's group has acknowledged it
  (:func:`dlrhook.workers.stream.trim`).

This module holds the two jobs, at the paths RQ stores (``keys.DRAIN_FUNC``,
``keys.DELIVER_FUNC``); the rest lives beside it in :mod:`dlrhook.workers`: a handler's slots,
claims and acknowledgements in :mod:`~dlrhook.workers.lane`, the drain's heartbeat in
:mod:`~dlrhook.workers.heartbeat`, claim sizes in :mod:`~dlrhook.workers.pace`, retries and dead
letters in :mod:`~dlrhook.workers.retries`, reading entries back (and quarantining unreadable
ones) in :mod:`~dlrhook.workers.decode`, calling a handler (timeout, watchdog) in
:mod:`~dlrhook.workers.calls`, registering handlers, trimming and maintenance in
:mod:`~dlrhook.workers.stream`. When a drain is queued is :mod:`dlrhook.drains`.

A worker runs jobs of the handlers it selected only. It listens to the shared queue and to the
own queue of each handler it runs (``<DLRHOOK_QUEUE>:<handler>``); a job of another handler
that it takes from the shared queue is moved, unrun, to that handler's queue
(:func:`dlrhook.drains.park` for a drain, the same attempt as a new job for a retry), where it
waits for a worker that runs the handler: the reports stay in the stream, never dead-lettered
by a worker that cannot deliver them, and the job does not pass from worker to worker. A
handler no worker registered (forgotten, or never run) has nothing to wait for: its drain ends,
its retry job fails (listed by ``dlrhook failed list``, replayable).

Delivery is at least once per (report, handler): a worker killed between calling a handler and
acknowledging the batch delivers those reports again, to that handler only.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from rq import get_current_job
from rq.job import Job

from dlrhook import drains, store
from dlrhook.errors import HandlerLoadError
from dlrhook.report import DeliveryReport
from dlrhook.store import keys
from dlrhook.workers import calls, runtime
from dlrhook.workers import handlers as handler_registry
from dlrhook.workers.decode import Item
from dlrhook.workers.heartbeat import Heartbeat
from dlrhook.workers.lane import Lane
from dlrhook.workers.retries import DEAD_LETTER_PREFIX, DELIVER_RETRIES, deliver_job

log = logging.getLogger("dlrhook.dispatch")


def drain(handler_name: str) -> None:
    """Deliver *handler_name*'s share of the report stream for up to ``DLRHOOK_DRAIN_BUDGET`` s.

    Contract: clears the handler's pending mark first (so a batch stored from then on wakes a
    new drain), takes a slot among the handler's running drains (or returns at once when they
    are enough), claims and delivers batches until the stream is empty for this handler, the
    budget is spent or the worker is stopping, then reclaims batches abandoned by dead workers
    and delivers them carefully. It leaves a drain queued whenever work is left.
    """
    job = _current_job()
    conn: redis.Redis = job.connection
    settings = runtime.settings()
    if not runtime.runs(handler_name):
        if not conn.hexists(keys.HANDLERS, handler_name):  # forgotten: no group, nothing to drain
            drains.started(conn, handler_name)
            return
        parked = drains.park(conn, store.queue(conn, settings), handler_name)
        log.info(
            "drain of handler %s, which this worker does not run, waits for one that does (%s)", handler_name, parked
        )
        return
    lane = Lane(conn, store.queue(conn, settings), settings, handler_registry.load(handler_name), job.id)
    drains.started(conn, handler_name)
    if not lane.acquire():
        # Enough drains of this handler run already. Each of them checks for reports left when
        # it ends (after giving up its slot), so waking another here would only make churn.
        return
    deadline = time.monotonic() + settings.drain_budget
    try:
        with Heartbeat(lane):
            while not runtime.stopping() and time.monotonic() < deadline:
                wanted = lane.claim_size(deadline)
                entries = lane.read(wanted)
                if not entries:
                    break
                if len(entries) == wanted:
                    lane.spread()
                lane.deliver(entries, careful=False, deadline=deadline)
            # Abandoned batches last: new reports flow first, even while one of them kills workers.
            abandoned = [] if runtime.stopping() else lane.reclaim()
            if abandoned:
                log.warning(
                    "handler %s: %d reports abandoned by a dead worker, delivering them one at a time",
                    handler_name,
                    len(abandoned),
                )
                lane.deliver(abandoned, careful=True, deadline=deadline)
    finally:
        calls.watchdog.done()
        lane.release()
    lane.finish()


def deliver(handler_name: str, wires: list[dict[str, Any]], attempt: int) -> None:
    """Attempt number *attempt* of handler *handler_name* for these reports (a retry job).

    Reports the handler fails again are retried after the next delay, or dead-lettered when the
    delays are spent; the others are done. A job run again after its worker died, or holding a
    report that already crashed a worker, calls the handler one report at a time, counting
    crashes. Raises only when the handler cannot be loaded (the job then fails with its reports
    in its arguments, replayable).
    """
    job = _current_job()
    conn: redis.Redis = job.connection
    settings = runtime.settings()
    if not runtime.runs(handler_name):
        if not conn.hexists(keys.HANDLERS, handler_name):
            # No worker registered it (forgotten, or never run): fail the job, visibly and
            # replayable (`dlrhook failed list`), rather than park it where nothing reads it.
            raise HandlerLoadError(
                f"handler {handler_name!r}: this worker does not run it and no worker has registered it"
            )
        # Not this worker's handler (a replayed dead letter, a retry queued by another worker):
        # the same attempt waits in the handler's own queue for a worker that runs it.
        replayed = job.id.startswith(DEAD_LETTER_PREFIX)  # stays one, so that its worker says what it did
        prefix = DEAD_LETTER_PREFIX if replayed else "deliver-"
        parked = deliver_job(store.queue(conn, settings), handler_name, wires, attempt, prefix)
        drains.handler_queue(store.queue(conn, settings), handler_name).enqueue_job(parked)
        log.info(
            "%d reports for handler %s, which this worker does not run, wait for one that does (%s)",
            len(wires),
            handler_name,
            parked.id,
        )
        return
    lane = Lane(conn, store.queue(conn, settings), settings, handler_registry.load(handler_name), job.id)
    deadline = time.monotonic() + settings.drain_budget
    rerun = job.retries_left is not None and job.retries_left < DELIVER_RETRIES
    items = [Item(None, w, DeliveryReport.from_wire(w)) for w in wires]
    careful = rerun or len(items) == 1 or lane.has_crashes(items)
    try:
        lane.deliver_items(items, careful=careful, deadline=deadline, attempt=attempt)
    finally:
        calls.watchdog.done()
    if job.id.startswith(DEAD_LETTER_PREFIX):  # a replayed dead letter: say what became of it
        log.info(
            "replayed dead letter %s: %d reports handed to handler %s (attempt %d; any it failed again "
            "are retried or dead-lettered, logged above)",
            job.id,
            len(items),
            handler_name,
            attempt,
            extra={"handler": handler_name, "replayed_job": job.id, "reports": len(items)},
        )


def _current_job() -> Job:
    job = get_current_job()
    if job is None:
        raise RuntimeError("dlrhook dispatch functions run as RQ jobs")
    return job
