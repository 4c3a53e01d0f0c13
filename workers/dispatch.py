"""The jobs that hand reports to the handlers: ``drain`` (the inbox) and ``deliver`` (retries).

Ingest pushes each accepted report's wire JSON onto ``dlrhook:inbox`` and queues one
:func:`drain` job when none is pending. A drain claims up to ``DLRHOOK_BATCH_SIZE`` reports at a
time into ``dlrhook:claimed:<job id>`` (atomically, in Lua), gives them to every handler, then,
in one transaction, schedules the retries and dead letters and deletes the claim. So one RQ job
(~10 ms of overhead) carries thousands of reports, and a claim always belongs to one job: if
the job's worker dies, the job is retried by RQ (and finds its claim first), or worker
maintenance (:func:`recover_claims`) puts the claim back in the inbox.

Failures are isolated per handler and per report: only the reports a handler failed are
retried, only for that handler, as a :func:`deliver` job after ``DLRHOOK_RETRY_DELAYS[n]``
(through RQ's scheduler). When the delays run out they are dead-lettered: a failed job in RQ's
FailedJobRegistry whose meta names the handler and the attempt count, with the last traceback
as its failure, replayable by ``dlrhook failed replay``. Nothing is dropped silently.

Delivery is at least once per (report, handler): a worker killed between calling a handler and
committing the batch's outcome delivers that batch again.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry, get_current_job
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import StartedJobRegistry
from rq.timeouts import BaseTimeoutException

from dlrhook import metrics, store
from dlrhook.ingest import dumps, enqueue_drain, new_quarantine_id
from dlrhook.report import DeliveryReport
from dlrhook.settings import Settings
from dlrhook.workers import handlers as handler_registry
from dlrhook.workers import runtime
from dlrhook.workers.handlers import Handler, PartialFailure

log = logging.getLogger("dlrhook.dispatch")

#: Redis caps Lua's unpack() near 8000 values; claims move in chunks well below that.
_CHUNK = 1000

# KEYS: inbox, claim list; ARGV: most reports to claim. Moves them and returns them.
_CLAIM_LUA = f"""
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], #items, -1)
for i = 1, #items, {_CHUNK} do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + {_CHUNK} - 1, #items)))
end
return items
"""

# KEYS: claim list, inbox. Puts an orphaned claim back at the inbox's head, in order.
_RETURN_LUA = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #items, 1, -1 do
  redis.call('LPUSH', KEYS[2], items[i])
end
redis.call('DEL', KEYS[1])
return #items
"""

#: Job states in which a claim's job will still run (and so finds its claim itself).
_ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED}


@dataclass
class Outcome:
    """What one handler made of some reports, by index: failed, or never tried (shutdown)."""

    failed: list[int] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)
    error: str = ""


# --- the jobs -------------------------------------------------------------------------------


def drain() -> None:
    """Deliver the inbox to every handler, batch by batch, within ``DLRHOOK_DRAIN_BUDGET``.

    Contract: clears the pending flag first (so a batch stored from then on queues its own
    drain), finishes its own claim left by a killed run, then claims and delivers until the
    inbox is empty, the budget is spent or the worker is stopping; in the last two cases it
    queues a follow-up drain (unless one is pending) and returns.
    """
    job = _current_job()
    conn: redis.Redis = job.connection
    settings = runtime.settings()
    q = store.queue(conn, settings)
    chosen = _handlers(settings)
    claim_key = store.CLAIMED_PREFIX + job.id
    deadline = time.monotonic() + settings.drain_budget

    conn.delete(store.DRAIN_PENDING)
    leftovers = conn.lrange(claim_key, 0, -1)
    if leftovers:
        log.info("drain %s: delivering %d reports claimed by its killed run", job.id, len(leftovers))
        _deliver_batch(conn, q, settings, chosen, claim_key, leftovers)
    claim = store.script(conn, _CLAIM_LUA)
    while True:
        if runtime.stopping() or time.monotonic() >= deadline:
            if conn.llen(store.INBOX):
                ensure_drain(conn, q)
            return
        raw = claim(keys=[store.INBOX, claim_key], args=[settings.batch_size], client=conn)
        if not raw:
            return
        _deliver_batch(conn, q, settings, chosen, claim_key, raw)


def deliver(handler_name: str, wires: list[dict[str, Any]], attempt: int) -> None:
    """Attempt number *attempt* of handler *handler_name* for these reports (a retry job).

    Reports the handler fails again are retried after the next delay, or dead-lettered when the
    delays are spent; the others are done. Raises only when the handler cannot be loaded (the
    job then fails with its reports in its arguments, replayable).
    """
    job = _current_job()
    conn: redis.Redis = job.connection
    settings = runtime.settings()
    q = store.queue(conn, settings)
    handler = handler_registry.load(handler_name)
    reports = [DeliveryReport.from_wire(w) for w in wires]
    outcome = _call(handler, reports)
    with conn.pipeline(transaction=True) as pipe:
        _settle(pipe, q, settings, handler.name, wires, outcome, attempt)
        pipe.execute()


# --- maintenance ----------------------------------------------------------------------------


def recover_claims(conn: redis.Redis, q: Queue) -> int:
    """Put back in the inbox every claim whose drain job will not run again; returns reports moved.

    A claim's job that is queued, scheduled or started finds its claim itself; one that failed,
    finished or vanished left it orphaned. Run after RQ's registry cleanup, which turns a job
    abandoned by a killed worker into a retry (still alive) or a failure (orphan).
    """
    moved = 0
    give_back = store.script(conn, _RETURN_LUA)
    for key in conn.scan_iter(match=store.CLAIMED_PREFIX + "*", count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        job_id = name[len(store.CLAIMED_PREFIX) :]
        job = Job.fetch_many([job_id], connection=conn, serializer=q.serializer)[0]
        status = job.get_status(refresh=False) if job is not None else None
        if status in _ALIVE:
            continue
        n = int(give_back(keys=[key, store.INBOX], client=conn))
        if n:
            log.warning("moved %d reports claimed by drain %s (%s) back to the inbox", n, job_id, status or "gone")
            moved += n
    if moved:
        ensure_drain(conn, q, force=True)
    return moved


def ensure_drain(conn: redis.Redis, q: Queue, *, force: bool = False) -> bool:
    """Queue a drain job unless one is pending; returns True when it queued one.

    With *force*, the pending flag is not trusted: a drain is queued unless a drain job is
    actually queued or running (the safety net for a flag that outlived its job).
    """
    if force and not _drain_job_exists(conn, q):
        conn.delete(store.DRAIN_PENDING)
    with conn.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(store.DRAIN_PENDING)  # type: ignore[no-untyped-call]
                if pipe.exists(store.DRAIN_PENDING):
                    return False
                pipe.multi()
                enqueue_drain(q, pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def check_inbox(conn: redis.Redis, q: Queue) -> bool:
    """Queue a drain when the inbox holds reports but no drain job exists; True if it did."""
    if not conn.llen(store.INBOX) or _drain_job_exists(conn, q):
        return False
    log.warning("the inbox holds reports but no drain job exists: queueing one")
    return ensure_drain(conn, q, force=True)


def _drain_job_exists(conn: redis.Redis, q: Queue) -> bool:
    started = StartedJobRegistry(q.name, connection=conn, serializer=q.serializer)
    ids = [*q.get_job_ids(), *started.get_job_ids(cleanup=False)]
    ids += [i.decode() if isinstance(i, bytes) else str(i) for i in conn.lrange(q.intermediate_queue_key, 0, -1)]
    return any(i.startswith("drain-") for i in ids)


# --- one batch ------------------------------------------------------------------------------


def _deliver_batch(
    conn: redis.Redis,
    q: Queue,
    settings: Settings,
    chosen: Sequence[Handler],
    claim_key: str,
    raw: Sequence[bytes | str],
) -> None:
    """Give one claimed batch to every handler, then commit retries, dead letters and the claim."""
    wires: list[dict[str, Any]] = []
    reports: list[DeliveryReport] = []
    unreadable: list[tuple[bytes | str, str]] = []
    for item, wire in zip(raw, _decode_all(raw), strict=True):
        try:
            reports.append(DeliveryReport.from_wire(wire))
            wires.append(wire)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            unreadable.append((item, f"{type(exc).__name__}: {exc}"))
    outcomes = [(h, _call(h, reports)) for h in chosen]
    with conn.pipeline(transaction=True) as pipe:
        for handler, outcome in outcomes:
            _settle(pipe, q, settings, handler.name, wires, outcome, 1)
        for item, error in unreadable:
            _quarantine_unreadable(pipe, item, error)
        pipe.delete(claim_key)
        pipe.execute()


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


def _call(handler: Handler, reports: list[DeliveryReport]) -> Outcome:
    """Call *handler* on *reports*; never raises for the handler's own errors (job timeouts do)."""
    if not reports:
        return Outcome()
    if runtime.past_deadline():
        return Outcome(untried=list(range(len(reports))))
    if handler.batch:
        try:
            handler.func(list(reports))
        except PartialFailure as exc:
            ids = {id(r) for r in exc.failed}
            keys = {r.key for r in exc.failed}
            failed = [i for i, r in enumerate(reports) if id(r) in ids or r.key in keys]
            return Outcome(failed=failed, error=traceback.format_exc())
        except BaseTimeoutException:
            raise
        except Exception:
            return Outcome(failed=list(range(len(reports))), error=traceback.format_exc())
        return Outcome()
    outcome = Outcome()
    for i, report in enumerate(reports):
        if runtime.past_deadline():
            outcome.untried = list(range(i, len(reports)))
            break
        try:
            handler.func(report)
        except BaseTimeoutException:
            raise
        except Exception:
            outcome.failed.append(i)
            outcome.error = traceback.format_exc()
    return outcome


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
        # Shutting down: the untried reports go back as a job of their own, the attempt unspent.
        job = _deliver_job(q, handler_name, [wires[i] for i in outcome.untried], attempt)
        q.enqueue_job(job, pipeline=pipe)
        log.info(
            "shutting down: %d reports handed back for handler %s as %s", len(outcome.untried), handler_name, job.id
        )


def _deliver_job(q: Queue, handler_name: str, wires: list[dict[str, Any]], attempt: int) -> Job:
    return q.create_job(
        store.DELIVER_FUNC,
        args=[handler_name, wires, attempt],
        job_id=f"deliver-{uuid.uuid4().hex}",
        result_ttl=0,
        retry=Retry(max=3),  # a retry abandoned by a killed worker runs again
        description=f"dlrhook: {handler_name}, attempt {attempt}, {len(wires)} reports",
    )


def _dead_letter(pipe: Any, q: Queue, handler_name: str, wires: list[dict[str, Any]], attempts: int, error: str) -> Job:
    """Record *wires* as a failed job in RQ's FailedJobRegistry; replaying it is one more attempt."""
    job = q.create_job(
        store.DELIVER_FUNC,
        args=[handler_name, wires, attempts + 1],
        job_id=f"dead-{uuid.uuid4().hex}",
        result_ttl=0,
        description=f"dlrhook: {handler_name} gave up on {len(wires)} reports after {attempts} attempts",
        meta={
            "handler": handler_name,
            "attempts": attempts,
            "reports": len(wires),
            "error": _last_line(error),
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    job.ended_at = datetime.now(UTC)
    job.save(pipeline=pipe)
    record_job_failure(job, error or "failed", pipe)
    return job


def _quarantine_unreadable(pipe: Any, item: bytes | str, error: str) -> None:
    """A wire report the worker cannot rebuild goes to the quarantine with its raw report."""
    try:
        wire = json.loads(item)
        raw: Any = wire.get("raw", wire) if isinstance(wire, dict) else wire
        source = wire.get("source", "push") if isinstance(wire, dict) else "push"
        received_at = wire.get("received_at") if isinstance(wire, dict) else None
    except ValueError:
        raw = item.decode(errors="replace") if isinstance(item, bytes) else item
        source, received_at = "push", None
    qid = new_quarantine_id()
    entry = {
        "id": qid,
        "raw": raw,
        "errors": {"_wire": [f"the worker could not read this report: {error}"]},
        "source": source,
        "received_at": received_at or datetime.now(UTC).isoformat(),
    }
    pipe.hset(store.QUARANTINE, qid, dumps(entry))
    log.error("quarantined a report the worker could not read: %s", error)


def _last_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _current_job() -> Job:
    job = get_current_job()
    if job is None:
        raise RuntimeError("dlrhook dispatch functions run as RQ jobs")
    return job


_selected: dict[Settings, list[Handler]] = {}


def _handlers(settings: Settings) -> list[Handler]:
    """The process's handlers, selected once per configuration."""
    if settings not in _selected:
        _selected[settings] = handler_registry.select(settings)
    return _selected[settings]
