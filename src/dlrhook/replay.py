"""Dead letters and quarantine: what ``dlrhook failed`` and ``dlrhook quarantine`` show and replay.

Dead letters are failed jobs in RQ's FailedJobRegistry (see :mod:`dlrhook.workers.retries`); replaying
one re-queues it, which is one more attempt for that handler and those reports. Quarantined
reports are raw reports that failed validation (or that a worker could not read); replaying one
runs it through :func:`dlrhook.ingest.ingest` again, the one way reports enter the system.
Reading and writing the quarantine itself is :mod:`dlrhook.quarantine`'s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from marshmallow import ValidationError
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from dlrhook import drains, quarantine, store
from dlrhook.ingest import ingest
from dlrhook.schemas import ReportSchema
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.wire import report_key


@dataclass(frozen=True)
class DeadLetter:
    """One failed job as ``dlrhook failed list`` shows it."""

    job_id: str
    handler: str
    reports: int
    attempts: int | None
    error: str
    failed_at: datetime | None
    message_ids: tuple[str, ...] = ()
    queue: str = ""


def _registries(q: Queue) -> list[FailedJobRegistry]:
    """The failed registries of *q* and of each registered handler's own queue."""
    registered = sorted(store.text(h) for h in q.connection.hkeys(keys.HANDLERS))
    names = [q] + [drains.handler_queue(q, h) for h in registered]
    return [FailedJobRegistry(queue=x) for x in names]


def dead_letters(q: Queue, *, handler: str | None = None, since: datetime | None = None) -> list[DeadLetter]:
    """Every failed job of *q* (and of the handlers' own queues), oldest first, of *handler*
    only and failed at *since* or later when given; jobs dlrhook did not dead-letter itself are
    shown too."""
    out = []
    for registry in _registries(q):
        for job_id in registry.get_job_ids():
            if job_id.startswith(keys.DRAIN_JOB_PREFIX):
                continue  # a drain whose worker died: it carries no reports (they are in the stream)
            try:
                job = Job.fetch(job_id, connection=q.connection, serializer=q.serializer)
            except NoSuchJobError:
                continue
            entry = _entry(job, registry.name)
            if handler is not None and entry.handler != handler:
                continue
            if since is not None and (entry.failed_at is None or _aware(entry.failed_at) < since):
                continue
            out.append(entry)
    return sorted(out, key=lambda e: _aware(e.failed_at) if e.failed_at else datetime.min.replace(tzinfo=UTC))


def count_dead_letters(q: Queue) -> int:
    """How many failed jobs the registries :func:`dead_letters` reads hold (drains included), in
    one round trip: what a caller checks before reading them all."""
    with q.connection.pipeline(transaction=False) as pipe:
        for registry in _registries(q):
            pipe.zcard(registry.key)
        return sum(int(n) for n in pipe.execute())


def dead_letter(q: Queue, job_id: str) -> tuple[DeadLetter, list[Any]]:
    """One dead letter and its reports (the wire form), or :class:`LookupError`."""
    for registry in _registries(q):
        if job_id in registry:
            try:
                job = Job.fetch(job_id, connection=q.connection, serializer=q.serializer)
            except NoSuchJobError:
                break
            args = _args(job)
            wires = args[1] if job.func_name == keys.DELIVER_FUNC and len(args) > 1 else []
            return _entry(job, registry.name), list(wires) if isinstance(wires, list) else []
    raise LookupError(f"no failed job {job_id!r}")


def _entry(job: Job, queue: str) -> DeadLetter:
    """A failed job as a dead letter (one dlrhook did not make itself is read from its arguments)."""
    meta = job.meta or {}
    args = _args(job)
    handler = meta.get("handler") or (str(args[0]) if job.func_name == keys.DELIVER_FUNC and args else "")
    reports = meta.get("reports") or (len(args[1]) if job.func_name == keys.DELIVER_FUNC and len(args) > 1 else 0)
    latest = job.latest_result()
    error = meta.get("error") or _last_line((latest.exc_string if latest else None) or "")
    ids = meta.get("message_ids")
    if ids is None and job.func_name == keys.DELIVER_FUNC and len(args) > 1 and isinstance(args[1], list):
        ids = [str((w.get("report") or {}).get("message_id", "")) for w in args[1] if isinstance(w, dict)]
    return DeadLetter(
        job_id=job.id,
        handler=str(handler or job.func_name),
        reports=int(reports),
        attempts=meta.get("attempts"),
        error=error,
        failed_at=job.ended_at,
        message_ids=tuple(str(i) for i in ids or ()),
        queue=queue,
    )


def replay_failed(q: Queue, entries: list[DeadLetter]) -> Counter[str]:
    """Re-queue these dead letters (one more attempt each); returns the reports re-queued by handler.

    Raises :class:`LookupError` for one that is no longer in its failed registry (replayed or
    deleted meanwhile); those before it are re-queued.
    """
    done: Counter[str] = Counter()
    registries = {r.name: r for r in _registries(q)}
    for e in entries:
        registry = registries.get(e.queue) or FailedJobRegistry(queue=q)
        try:
            registry.requeue(e.job_id)
        except (InvalidJobOperation, NoSuchJobError):
            raise LookupError(f"no failed job {e.job_id!r}") from None
        done[e.handler] += e.reports
    return done


def delete_failed(q: Queue, entries: list[DeadLetter]) -> Counter[str]:
    """Delete these dead letters and their reports for good; returns the reports deleted by handler."""
    done: Counter[str] = Counter()
    registries = {r.name: r for r in _registries(q)}
    for e in entries:
        registry = registries.get(e.queue) or FailedJobRegistry(queue=q)
        try:
            registry.remove(e.job_id, delete_job=True)
        except NoSuchJobError:
            registry.remove(e.job_id)
        done[e.handler] += e.reports
    return done


def lookup(q: Queue, job_ids: list[str]) -> list[DeadLetter]:
    """The dead letters of *job_ids*, in that order; :class:`LookupError` for an unknown one."""
    return [dead_letter(q, job_id)[0] for job_id in job_ids]


@dataclass
class QuarantineReplay:
    """What replaying quarantine entries did, by entry id."""

    accepted: list[str]
    duplicates: list[str]
    still_invalid: list[str]


def replay_quarantine(conn: redis.Redis, settings: Settings, ids: list[str] | None = None) -> QuarantineReplay:
    """Validate the given entries again (all when *ids* is None) and ingest the valid ones.

    An entry is removed only once ingested (accepted, or a duplicate of a report already
    taken); one still invalid stays, with its errors updated. An entry a worker made (its report
    had been accepted, then could not be read) is delivered again, not counted as a duplicate
    of its own first acceptance. Raises :class:`LookupError` for
    an unknown id.
    """
    result = QuarantineReplay([], [], [])
    schema = ReportSchema()
    wanted = ids if ids is not None else [e["id"] for e in quarantine.quarantined(conn)]
    for qid in wanted:
        entry = quarantine.get(conn, qid)
        if not quarantine.replayable(entry):  # cut or counted only: there is no whole report to ingest
            result.still_invalid.append(qid)
            continue
        raw = entry.get("raw")
        try:
            if not isinstance(raw, dict):
                raise ValidationError({"_schema": ["A report must be an object."]})
            loaded = schema.load(raw)
        except ValidationError as exc:
            entry["errors"] = exc.messages
            quarantine.update(conn, qid, entry)
            result.still_invalid.append(qid)
            continue
        if quarantine.accepted_before(entry):
            # A worker quarantined it after ingest had accepted it, so the report's own dedup
            # mark is set and would make this replay a duplicate that reaches no handler. Forget
            # that one mark (this report's only) so that ingest takes it as new.
            conn.delete(keys.seen_key(report_key(loaded)))
        outcome = ingest(
            conn,
            [raw],
            source=str(entry.get("source") or "push"),
            settings=settings,
            channel=quarantine.replay_channel(entry),
        )
        if outcome.quarantined:  # valid a moment ago: ingest made a new entry, keep the old one only
            result.still_invalid.append(qid)
            continue
        quarantine.remove(conn, qid)
        (result.accepted if outcome.accepted else result.duplicates).append(qid)
    return result


def delete_quarantine(conn: redis.Redis, ids: list[str]) -> int:
    """Delete these quarantine entries for good (they stop counting in the gauge); returns how
    many. Raises :class:`LookupError` for an unknown id before deleting any."""
    for qid in ids:
        quarantine.get(conn, qid)
    for qid in ids:
        quarantine.remove(conn, qid)
    return len(ids)


def _args(job: Job) -> list[Any]:
    try:
        return list(job.args)
    except Exception:  # an unreadable job still gets listed
        return []


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
