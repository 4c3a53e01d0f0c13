"""The jobs that hand reports to the handlers: ``drain(handler)`` and ``deliver`` (retries).

Design (docs/workers.md has the long form):

- Ingest appends every accepted report to one Redis stream, ``dlrhook:reports``. Each handler
  reads it through a consumer group of its own name, so each handler has its own position,
  its own claims and its own failures: a slow, hanging or crashing handler holds back no other
  handler, and no handler ever sees a report again because another one failed.
- ``drain(handler)`` jobs do the reading. Several may run for one handler at once (on several
  workers), each claiming its own batches (``XREADGROUP``), so a backlog spreads over every
  worker: a drain that finds a full batch wakes one more, up to the number of workers (one
  less when other handlers are registered, so that a slow handler can never hold every worker).
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
- A stream entry is trimmed once every handler's group has acknowledged it (:func:`trim`).

Calling a handler (timeout, watchdog) lives in :mod:`dlrhook.workers.calls`; registering
handlers, trimming and maintenance in :mod:`dlrhook.workers.stream`.

Delivery is at least once per (report, handler): a worker killed between calling a handler and
acknowledging the batch delivers those reports again, to that handler only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry, Worker, get_current_job
from rq.job import Job
from rq.job_lifecycle import record_job_failure

from dlrhook import drains, metrics, store
from dlrhook.quarantine import UNREADABLE_WIRE, quarantine_entry
from dlrhook.report import DeliveryReport
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import calls, runtime, stream
from dlrhook.workers import handlers as handler_registry
from dlrhook.workers.calls import CRASHES_TTL, Outcome
from dlrhook.workers.handlers import Handler

log = logging.getLogger("dlrhook.dispatch")

#: Reports claimed at first by a per-report handler whose pace this process does not know yet.
FIRST_CLAIM = 16
#: Seconds of a per-report handler's work one claim holds: short claims are what lets a backlog
#: spread over every worker and a slow handler's slice end on time.
CLAIM_SECONDS = 1.0


# --- the jobs -------------------------------------------------------------------------------


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
    lane = _Lane(conn, store.queue(conn, settings), settings, handler_registry.load(handler_name), job.id)
    conn.delete(keys.pending_key(handler_name))
    if not lane.acquire():
        # Enough drains of this handler run already. Each of them checks for reports left when
        # it ends (after giving up its slot), so waking another here would only make churn.
        return
    deadline = time.monotonic() + settings.drain_budget
    try:
        with _Heartbeat(lane):
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
    lane = _Lane(conn, store.queue(conn, settings), settings, handler_registry.load(handler_name), job.id)
    deadline = time.monotonic() + settings.drain_budget
    rerun = job.retries_left is not None and job.retries_left < _DELIVER_RETRIES
    items = [_Item(None, w, DeliveryReport.from_wire(w)) for w in wires]
    careful = rerun or len(items) == 1 or lane.has_crashes(items)
    try:
        lane.deliver_items(items, careful=careful, deadline=deadline, attempt=attempt)
    finally:
        calls.watchdog.done()


#: drain_acquire.lua (its header says KEYS, ARGV and what it returns).
_ACQUIRE_LUA = store.lua("drain_acquire")


# --- one handler's lane ---------------------------------------------------------------------

_DELIVER_RETRIES = 3


@dataclass
class _Item:
    """A report being delivered: its stream entry id (None for a retry job), wire and object."""

    entry_id: bytes | None
    wire: dict[str, Any]
    report: DeliveryReport


class _Lane:
    """One drain's (or retry job's) view of one handler: claims, calls, acknowledgements."""

    def __init__(self, conn: redis.Redis, q: Queue, settings: Settings, handler: Handler, consumer: str) -> None:
        self.conn = conn
        self.q = q
        self.settings = settings
        self.handler = handler
        self.group = handler.name
        self.consumer = consumer
        self.active_key = keys.ACTIVE_PREFIX + handler.name
        self.crashes_key = keys.CRASHES_PREFIX + handler.name
        self.held: list[bytes] = []  # entry ids claimed and not yet acknowledged (the heartbeat renews them)

    # slots: how many drains of this handler run at once

    def most_drains(self) -> int:
        """How many drains of this handler may run at once: one per worker, less one while other
        handlers are registered, so that a slow handler can never hold every worker."""
        registered = self.conn.hlen(keys.HANDLERS)
        workers = max(1, Worker.count(connection=self.conn, queue=self.q))
        return workers if registered <= 1 else max(1, workers - 1)

    def acquire(self) -> bool:
        now = time.time()
        acquire = store.script(self.conn, _ACQUIRE_LUA)
        lease = now + self.settings.abandon_after
        args: list[Any] = [now, lease, self.most_drains(), self.consumer]
        return bool(acquire(keys=[self.active_key], args=args, client=self.conn))

    def renew(self) -> None:
        """Heartbeat: keep the slot and the held entries from looking abandoned."""
        with self.conn.pipeline(transaction=False) as pipe:
            pipe.zadd(self.active_key, {self.consumer: time.time() + self.settings.abandon_after}, xx=True)
            held: list[Any] = list(self.held)
            if held:
                pipe.xclaim(keys.REPORTS, self.group, self.consumer, 0, held, justid=True)
            pipe.execute()

    def release(self) -> None:
        self.conn.zrem(self.active_key, self.consumer)

    def spread(self) -> None:
        """A full batch means more is waiting: wake another drain if this handler may run more."""
        self.conn.zremrangebyscore(self.active_key, "-inf", time.time())
        if self.conn.zcard(self.active_key) < self.most_drains():  # workers come and go meanwhile
            drains.wake(self.conn, self.q, [self.group])

    def finish(self) -> None:
        """Leave a drain queued if reports are left; drop this drain's consumer; trim."""
        with contextlib.suppress(redis.ResponseError):  # no group (forgotten meanwhile)
            self.conn.xgroup_delconsumer(keys.REPORTS, self.group, self.consumer)
        groups = stream.groups(self.conn)
        if stream.has_unread(self.conn, groups, self.group):
            drains.wake(self.conn, self.q, [self.group])
        stream.trim(self.conn, groups)

    # claims

    def claim_size(self, deadline: float) -> int:
        """Reports to claim: a batch handler takes a full batch; a per-report handler as many as
        its measured pace fits in ``CLAIM_SECONDS`` (and in the time left)."""
        size = self.settings.batch_size
        if self.handler.batch:
            return size
        pace = _pace.get(self.handler.name)
        if pace is None:
            return min(size, FIRST_CLAIM)
        left = min(max(deadline - time.monotonic(), 0.0), CLAIM_SECONDS)
        return max(1, min(size, int(left / max(pace, 1e-6))))

    def read(self, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        answer: Any = self.conn.xreadgroup(self.group, self.consumer, {keys.REPORTS: ">"}, count=count)
        entries = list(answer[0][1]) if answer else []
        self.held = [e[0] for e in entries]
        return entries

    def reclaim(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Batches claimed by drains whose worker went silent for ``DLRHOOK_ABANDON_AFTER`` s."""
        out: list[tuple[bytes, dict[bytes, bytes]]] = []
        start = "0-0"
        idle_ms = self.settings.abandon_after * 1000
        while len(out) < self.settings.batch_size:
            answer: Any = self.conn.xautoclaim(
                keys.REPORTS, self.group, self.consumer, idle_ms, start_id=start, count=self.settings.batch_size
            )
            start, entries = store.text(answer[0]), answer[1]
            out.extend((eid, fields) for eid, fields in entries if fields is not None)
            deleted = answer[2] if len(answer) > 2 else []
            if deleted:
                self.conn.xack(keys.REPORTS, self.group, *deleted)
            if start == "0-0":
                break
        self.held = [e[0] for e in out]
        return out

    # delivery

    def deliver(self, entries: list[tuple[bytes, dict[bytes, bytes]]], *, careful: bool, deadline: float) -> None:
        """Give claimed stream entries to the handler and acknowledge every one of them."""
        items: list[_Item] = []
        unreadable: list[tuple[Any, Any, str]] = []
        raw: list[Any] = [fields.get(b"w", b"") for _, fields in entries]
        for (eid, _), item, wire in zip(entries, raw, _decode_all(raw), strict=True):
            try:
                items.append(_Item(eid, wire, DeliveryReport.from_wire(wire)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                unreadable.append((eid, item, f"{type(exc).__name__}: {exc}"))
        if unreadable:
            with self.conn.pipeline(transaction=True) as pipe:
                for eid, item, error in unreadable:
                    _quarantine_unreadable(pipe, item, error)
                    pipe.xack(keys.REPORTS, self.group, eid)
                pipe.execute()
        self.deliver_items(items, careful=careful, deadline=deadline, attempt=1)
        self.held = []

    def deliver_items(self, items: list[_Item], *, careful: bool, deadline: float, attempt: int) -> None:
        if careful:
            for n, item in enumerate(items):
                if runtime.past_deadline():  # shutting down: the rest go back, the attempt unspent
                    rest = items[n:]
                    self._commit(rest, Outcome(untried=list(range(len(rest)))), attempt)
                    return
                self._deliver_alone(item, deadline, attempt)
            return
        started = time.monotonic()
        outcome = calls.call(self, [i.report for i in items], deadline)
        tried = len(items) - len(outcome.untried)
        if tried and not self.handler.batch:
            _learn_pace(self.handler.name, (time.monotonic() - started) / tried)
        self._commit(items, outcome, attempt)

    def _commit(self, items: list[_Item], outcome: Outcome, attempt: int) -> None:
        """In one transaction: the retries, dead letters and hand-backs *outcome* calls for, and
        the acknowledgement of every stream entry among *items*."""
        with self.conn.pipeline(transaction=True) as pipe:
            self._settle(pipe, [i.wire for i in items], outcome, attempt)
            acked = [i.entry_id for i in items if i.entry_id is not None]
            if acked:
                pipe.xack(keys.REPORTS, self.group, *acked)
            pipe.execute()

    def _deliver_alone(self, item: _Item, deadline: float, attempt: int) -> None:
        """One report, its crash counted before the call and forgotten after it."""
        key = item.report.key
        crashes = int(self.conn.hget(self.crashes_key, key) or 0)
        with self.conn.pipeline(transaction=True) as pipe:
            if crashes >= self.settings.max_crashes:
                reason = f"the worker died during this call {crashes} times"
                job = _dead_letter(pipe, self.q, self.handler.name, [item.wire], attempt, reason, reason=reason)
                metrics.count_dead_lettered(self.handler.name, 1)
                log.error(
                    "handler %s: %s for message %s: dead-lettered as %s",
                    self.handler.name,
                    reason,
                    item.report.message_id,
                    job.id,
                    extra={"handler": self.handler.name, "failed_job": job.id},
                )
            else:
                with self.conn.pipeline(transaction=True) as count:
                    count.hincrby(self.crashes_key, key, 1)
                    count.expire(self.crashes_key, CRASHES_TTL)
                    count.execute()
                outcome = calls.call(self, [item.report], deadline, counted=True)
                self._settle(pipe, [item.wire], outcome, attempt)
            pipe.hdel(self.crashes_key, key)
            if item.entry_id is not None:
                pipe.xack(keys.REPORTS, self.group, item.entry_id)
            pipe.execute()

    def has_crashes(self, items: list[_Item]) -> bool:
        return any(self.conn.hmget(self.crashes_key, [i.report.key for i in items]))

    def _settle(self, pipe: Any, wires: list[dict[str, Any]], outcome: Outcome, attempt: int) -> None:
        _settle(pipe, self.q, self.settings, self.handler.name, wires, outcome, attempt)


class _Heartbeat:
    """While a drain runs: renew its slot and its claimed entries every third of the abandon time."""

    def __init__(self, lane: _Lane) -> None:
        self.lane = lane
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dlrhook-lease", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(max(1.0, self.lane.settings.abandon_after / 3)):
            try:
                self.lane.renew()
            except redis.RedisError as exc:
                log.warning("drain heartbeat for %s failed: %s", self.lane.handler.name, exc)


_pace: dict[str, float] = {}


def _learn_pace(handler: str, seconds_per_report: float) -> None:
    old = _pace.get(handler)
    _pace[handler] = seconds_per_report if old is None else 0.7 * old + 0.3 * seconds_per_report


# --- outcomes -------------------------------------------------------------------------------


def _settle(
    pipe: Any,
    q: Queue,
    settings: Settings,
    handler_name: str,
    wires: list[dict[str, Any]],
    outcome: Outcome,
    attempt: int,
) -> None:
    """Queue, in *pipe*, the retry or dead letter of what failed and the hand-back of the untried."""
    succeeded = len(wires) - len(outcome.failed) - len(outcome.untried)
    if succeeded:
        metrics.count_handler_call(handler_name, True, succeeded)
    if outcome.failed:
        metrics.count_handler_call(handler_name, False, len(outcome.failed))
        failed = [wires[i] for i in outcome.failed]
        delays = settings.retry_delays
        last_line = _last_line(outcome.error)
        if attempt <= len(delays):
            delay = delays[attempt - 1]
            job = _deliver_job(q, handler_name, failed, attempt + 1)
            metrics.count_retry(handler_name, len(failed))
            if delay:
                q.schedule_job(job, datetime.now(UTC) + timedelta(seconds=delay), pipeline=pipe)
            else:
                q.enqueue_job(job, pipeline=pipe)
            log.warning(
                "handler %s failed %d of %d reports (attempt %d); retrying in %d s",
                handler_name,
                len(failed),
                len(wires),
                attempt,
                delay,
                extra={"handler": handler_name, "attempt": attempt, "error": last_line, "retry_job": job.id},
            )
        else:
            job = _dead_letter(pipe, q, handler_name, failed, attempt, outcome.error)
            metrics.count_dead_lettered(handler_name, len(failed))
            log.error(
                "handler %s gave up on %d reports after %d attempts: dead-lettered as %s",
                handler_name,
                len(failed),
                attempt,
                job.id,
                extra={"handler": handler_name, "attempt": attempt, "error": last_line, "failed_job": job.id},
            )
    if outcome.untried:
        # Time is up (shutdown, or the drain's budget): the untried reports go back as a job of
        # their own, at the back of the queue, the attempt unspent.
        job = _deliver_job(q, handler_name, [wires[i] for i in outcome.untried], attempt)
        q.enqueue_job(job, pipeline=pipe)
        log.info("%d reports handed back for handler %s as %s", len(outcome.untried), handler_name, job.id)


def _deliver_job(q: Queue, handler_name: str, wires: list[dict[str, Any]], attempt: int) -> Job:
    return q.create_job(
        keys.DELIVER_FUNC,
        args=[handler_name, wires, attempt],
        job_id=f"deliver-{uuid.uuid4().hex}",
        result_ttl=0,
        timeout=86400,  # the job bounds its own time (budget, handler timeout)
        retry=Retry(max=_DELIVER_RETRIES),  # a retry abandoned by a killed worker runs again, carefully
        description=f"dlrhook: {handler_name}, attempt {attempt}, {len(wires)} reports",
    )


def _dead_letter(
    pipe: Any,
    q: Queue,
    handler_name: str,
    wires: list[dict[str, Any]],
    attempts: int,
    error: str,
    *,
    reason: str | None = None,
) -> Job:
    """Record *wires* as a failed job in RQ's FailedJobRegistry; replaying it is one more attempt.

    ``record_job_failure`` (rq.job_lifecycle) is RQ's own, undocumented, way to fail a job that
    never ran; docs/workers.md says so. The job's meta carries what ``dlrhook failed list`` shows.
    """
    job = q.create_job(
        keys.DELIVER_FUNC,
        args=[handler_name, wires, attempts + 1],
        job_id=f"dead-{uuid.uuid4().hex}",
        result_ttl=0,
        timeout=86400,
        description=f"dlrhook: {handler_name} gave up on {len(wires)} reports after {attempts} attempts",
        meta={
            "handler": handler_name,
            "attempts": attempts,
            "reports": len(wires),
            "message_ids": [str(w.get("report", {}).get("message_id", "")) for w in wires],
            "error": reason or _last_line(error),
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    job.ended_at = datetime.now(UTC)
    job.save(pipeline=pipe)
    record_job_failure(job, error or "failed", pipe)
    return job


def _decode_all(raw: Sequence[bytes | str]) -> list[Any]:
    """Parse the wires in one ``json.loads`` (a third faster than one call each); should one
    not parse, each is parsed alone and the unparsable ones come back as their error text."""
    items = [i if isinstance(i, bytes) else i.encode() for i in raw]
    try:
        decoded = json.loads(b"[" + b",".join(items) + b"]")
        if len(decoded) == len(items):
            return list(decoded)
    except ValueError:
        pass
    out: list[Any] = []
    for item in items:
        try:
            out.append(json.loads(item))
        except ValueError as exc:
            out.append(f"unparsable: {exc}")
    return out


def _quarantine_unreadable(pipe: Any, item: bytes | str, error: str) -> None:
    """A wire report the worker cannot rebuild goes to the quarantine with its raw report."""
    channel: str | None = None
    try:
        wire = json.loads(item)
        raw: Any = wire.get("raw", wire) if isinstance(wire, dict) else wire
        source = wire.get("source", "push") if isinstance(wire, dict) else "push"
        received_at = wire.get("received_at") if isinstance(wire, dict) else None
        parsed = wire.get("report") if isinstance(wire, dict) else None
        if isinstance(parsed, dict) and isinstance(parsed.get("channel"), str):
            channel = parsed["channel"]  # so that a replay gets the channel its URL gave
    except ValueError:
        raw = item.decode(errors="replace") if isinstance(item, bytes) else item
        source, received_at = "push", None
    errors = {UNREADABLE_WIRE: [f"the worker could not read this report: {error}"]}
    qid, entry = quarantine_entry(raw, errors, source, received_at or datetime.now(UTC), channel=channel)
    pipe.hset(keys.QUARANTINE, qid, entry)
    pipe.zadd(keys.QUARANTINE_TIMES, {qid: int(time.time() * 1000)})
    log.error("quarantined a report the worker could not read: %s", error)


def _last_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _current_job() -> Job:
    job = get_current_job()
    if job is None:
        raise RuntimeError("dlrhook dispatch functions run as RQ jobs")
    return job
