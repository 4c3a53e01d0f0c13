"""The one ingest function: validate, quarantine, deduplicate, store, wake a worker.

Push (the web) and pull (the poller) both call :func:`ingest`; nothing else writes reports
to Redis. It returns only once Redis holds the whole batch, in one transaction: on any Redis
failure nothing of the batch is stored and :class:`StoreUnavailable` is raised.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from marshmallow import ValidationError
from rq import Retry

from dlrhook import metrics, store
from dlrhook.defaults import MAX_ANSWER_ERRORS
from dlrhook.errors import StoreUnavailable
from dlrhook.quarantine import new_quarantine_id as new_quarantine_id  # re-exported for dispatch
from dlrhook.quarantine import quarantine_entry
from dlrhook.report import dumps as dumps  # re-exported: dispatch and replay import it from here
from dlrhook.report import report_key, wire_from_loaded
from dlrhook.schemas import ReportSchema
from dlrhook.settings import Settings

_SCHEMA = ReportSchema()

# Atomically: remember each report's identity for the dedup window and queue the new ones;
# quarantine the invalid ones; mark the last push. With ARGV[3] == "1" it first checks that a
# drain job is pending and, if none is, does nothing and returns -1 (the caller then stores
# and enqueues in one MULTI). KEYS: inbox, quarantine, last-push, drain-pending, seen keys...
# ARGV: ttl, number of quarantine pairs, require-pending, last-push value or "", wire
# reports..., quarantine (id, json) pairs... Otherwise returns one character per valid report,
# "1" accepted or "0" duplicate (the metrics time only the accepted ones).
_STORE_LUA = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[4]) == 0 then
  return -1
end
local ttl = tonumber(ARGV[1])
local nq = tonumber(ARGV[2])
local nvalid = #KEYS - 4
local flags = {}
for i = 1, nvalid do
  if redis.call('SET', KEYS[i + 4], '1', 'NX', 'EX', ttl) then
    redis.call('RPUSH', KEYS[1], ARGV[i + 4])
    flags[i] = '1'
  else
    flags[i] = '0'
  end
end
for j = 0, nq - 1 do
  redis.call('HSET', KEYS[2], ARGV[nvalid + 5 + 2 * j], ARGV[nvalid + 6 + 2 * j])
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4])
end
return table.concat(flags)
"""


@dataclass
class IngestResult:
    """What became of a batch: counts, and the field errors of quarantined reports by index."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    errors: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The push answer's body: the counts, and the errors of the first
        ``MAX_ANSWER_ERRORS`` quarantined reports (``errorsOmitted`` counts the others)."""
        body: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
        }
        if self.errors:
            if len(self.errors) > MAX_ANSWER_ERRORS:
                body["errors"] = dict(itertools.islice(self.errors.items(), MAX_ANSWER_ERRORS))
                body["errorsOmitted"] = len(self.errors) - MAX_ANSWER_ERRORS
            else:
                body["errors"] = self.errors
        return body


def ingest(
    conn: redis.Redis,
    raw_reports: list[Any],
    *,
    source: str,
    settings: Settings,
) -> IngestResult:
    """Validate each raw report, quarantine the invalid ones, and store the rest for the workers.

    A report whose identity (``DeliveryReport.key``) was seen within ``DLRHOOK_DEDUP_TTL``
    counts as a duplicate and is not queued again. Returns only after Redis holds the batch;
    raises :class:`StoreUnavailable` (and stores nothing) when Redis cannot take it.
    """
    started = time.perf_counter()
    received_at = datetime.now(UTC)
    result = IngestResult()
    seen_keys: list[bytes] = []
    wires: list[str] = []
    timings: list[tuple[str, float] | None] = []  # (status group, doneAt - sentAt) per wire
    quarantine: list[str] = []
    for index, raw in enumerate(raw_reports):
        if not isinstance(raw, dict):
            _quarantine(
                result, quarantine, index, raw, {"_schema": ["A report must be an object."]}, source, received_at
            )
            continue
        try:
            loaded = _SCHEMA.load(raw)
        except ValidationError as exc:
            _quarantine(result, quarantine, index, raw, exc.messages, source, received_at)
            continue
        key = report_key(loaded)
        seen_keys.append(store.seen_key(key))
        wires.append(dumps(wire_from_loaded(loaded, raw, key=key, source=source, received_at=received_at)))
        timings.append(_delivery_time(loaded))

    flags = ""
    if wires or quarantine:
        try:
            flags = _store(conn, settings, seen_keys, wires, quarantine, source, received_at)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis could not take the batch: {type(exc).__name__}: {exc}") from exc
    result.accepted = flags.count("1")
    result.duplicates = len(wires) - result.accepted
    metrics.record_ingest(source, result, started, (t for t, f in zip(timings, flags, strict=True) if t and f == "1"))
    return result


def _delivery_time(loaded: dict[str, Any]) -> tuple[str, float] | None:
    """(status group, doneAt - sentAt in seconds), when both times are present."""
    sent, done = loaded.get("sent_at"), loaded.get("done_at")
    if sent is None or done is None:
        return None
    return loaded["status"]["group_name"], (done - sent).total_seconds()


def _quarantine(
    result: IngestResult,
    pairs: list[str],
    index: int,
    raw: Any,
    errors: Any,
    source: str,
    received_at: datetime,
) -> None:
    pairs.extend(quarantine_entry(raw, errors, source, received_at))
    result.quarantined += 1
    result.errors[str(index)] = errors


def _store(
    conn: redis.Redis,
    settings: Settings,
    seen_keys: list[bytes],
    wires: list[str],
    quarantine: list[str],
    source: str,
    received_at: datetime,
) -> str:
    """Store the batch and make sure a drain job will see it, atomically; return the flags.

    Fast path, one round trip: while a drain job is pending the store script alone does it all
    (a drain job clears the flag before it drains, so a batch stored while the flag is set is
    drained by that job). When no drain job is pending the script stores nothing, and the batch
    is stored together with a new drain job in one MULTI/EXEC, under WATCH of the flag.
    """
    script = store.script(conn, _STORE_LUA)
    keys: list[str | bytes] = [store.INBOX, store.QUARANTINE, store.LAST_PUSH, store.DRAIN_PENDING, *seen_keys]
    last_push = f"{received_at.timestamp():.3f}" if source == "push" else ""
    args = [settings.dedup_ttl, len(quarantine) // 2, "1" if wires else "0", last_push, *wires, *quarantine]
    while True:
        answer = script(keys=keys, args=args, client=conn)
        if answer != -1:
            return _flags(answer)
        q = store.queue(conn, settings)  # only here: making an RQ Queue costs ~50 us a push
        with conn.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(store.DRAIN_PENDING)  # type: ignore[no-untyped-call]
                pipe.multi()
                script(keys=keys, args=[*args[:2], "0", *args[3:]], client=pipe)
                enqueue_drain(q, pipe)
                return _flags(pipe.execute()[0])
            except redis.WatchError:
                continue  # a drain job was queued meanwhile: back to the fast path


def _flags(answer: Any) -> str:
    """The store script's per-report flags ("1" accepted, "0" duplicate) as text."""
    return answer.decode() if isinstance(answer, bytes) else str(answer or "")


def enqueue_drain(q: Any, pipe: Any) -> None:
    """Queue one drain job in *pipe* (already in MULTI) and mark it pending.

    The mark expires as a safety net: should a queued job vanish (a flushed queue), the next
    batch after five minutes queues a new one; workers also re-check the inbox periodically.
    """
    pipe.set(store.DRAIN_PENDING, "1", ex=300)
    q.enqueue_call(
        store.DRAIN_FUNC,
        job_id=f"drain-{uuid.uuid4().hex}",
        retry=Retry(max=3),  # a drain abandoned by a killed worker runs again, batch and all
        result_ttl=0,
        description="dlrhook: dispatch queued reports",
        pipeline=pipe,
    )
