"""The one ingest function: validate, quarantine, deduplicate, store, wake a worker.

Push (the web) and pull (the poller) both call :func:`ingest`; nothing else writes reports
to Redis. It returns only once Redis holds the whole batch, in one transaction, as durably as
``DLRHOOK_DURABILITY`` asks: on any Redis failure nothing of the batch is stored and
:class:`StoreUnavailable` is raised; when the batch is stored but not durable in time,
:class:`NotDurable` (a StoreUnavailable) is.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from marshmallow import ValidationError

from dlrhook import drains, metrics, quarantine, store
from dlrhook import quarantine as quarantine_mod  # the local name `quarantine` is a batch's entries
from dlrhook.channels import DEFAULT_CHANNEL
from dlrhook.defaults import MAX_ANSWER_ERRORS
from dlrhook.errors import DurabilityUnsupported, NotDurable, StoreUnavailable
from dlrhook.outcomes import Outcomes
from dlrhook.schemas import ReportSchema
from dlrhook.settings import Settings
from dlrhook.store import durability, keys
from dlrhook.wire import dumps, report_key, wire_from_loaded

_SCHEMA = ReportSchema()
log = logging.getLogger("dlrhook.ingest")

#: ingest_store.lua (its header says KEYS, ARGV and what it returns).
_STORE_LUA = store.lua("ingest_store")


@dataclass
class IngestResult(Outcomes):
    """What became of a batch: its :class:`~dlrhook.outcomes.Outcomes` counts, and the field
    errors of quarantined reports by index."""

    errors: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The push answer's body: the counts, and the errors of the first
        ``MAX_ANSWER_ERRORS`` quarantined reports (``errorsOmitted`` counts the others)."""
        body: dict[str, Any] = super().as_dict()
        if self.errors:
            body["errors"] = dict(itertools.islice(self.errors.items(), MAX_ANSWER_ERRORS))
            omitted = max(len(self.errors), self.quarantined) - len(body["errors"])
            if omitted > 0:
                body["errorsOmitted"] = omitted
        return body


def ingest(
    conn: redis.Redis,
    raw_reports: list[Any],
    *,
    source: str,
    settings: Settings,
    channel: str | None = DEFAULT_CHANNEL,
) -> IngestResult:
    """Validate each raw report, quarantine the invalid ones, and store the rest for the workers.

    *channel* (upper case) is the channel of reports whose body does not name one: the one the
    notify URL or the pull path names, SMS by default; with None such a report is quarantined.
    A report whose identity (``DeliveryReport.key``) was seen within ``DLRHOOK_DEDUP_TTL``
    counts as a duplicate and is not queued again. Returns only after Redis holds the batch;
    raises :class:`StoreUnavailable` (and stores nothing) when Redis cannot take it.
    """
    started = time.perf_counter()
    try:
        full = store.over_high_water(conn, settings)
    except redis.RedisError as exc:
        raise StoreUnavailable(f"Redis could not take the batch: {type(exc).__name__}: {exc}") from exc
    if full:
        raise StoreUnavailable(full)
    received_at = datetime.now(UTC)
    result = IngestResult()
    seen_keys: list[bytes] = []
    wires: list[str] = []
    timings: list[tuple[str, str, float] | None] = []  # (channel, status group, doneAt - sentAt) per wire
    channels: list[str] = []
    quarantine: list[str] = []
    for index, raw in enumerate(raw_reports):
        if not isinstance(raw, dict):
            _quarantine(
                result,
                quarantine,
                index,
                raw,
                {"_schema": ["A report must be an object."]},
                source,
                received_at,
                channel,
            )
            continue
        try:
            loaded = _SCHEMA.load(raw)
        except ValidationError as exc:
            _quarantine(result, quarantine, index, raw, exc.messages, source, received_at, channel)
            continue
        if loaded.get("channel") is None:
            if channel is None:
                errors = {"channel": ["Missing data for required field (the URL names no channel)."]}
                _quarantine(result, quarantine, index, raw, errors, source, received_at, channel)
                continue
            loaded["channel"] = channel
        key = report_key(loaded)
        seen_keys.append(keys.seen_key(key))
        wires.append(dumps(wire_from_loaded(loaded, raw, key=key, source=source, received_at=received_at)))
        timings.append(_delivery_time(loaded))
        channels.append(loaded["channel"])

    if result.quarantined > quarantine_mod.PER_PUSH:
        omitted = result.quarantined - quarantine_mod.PER_PUSH
        quarantine.extend(quarantine_mod.omitted_entry(omitted, source, received_at, channel))
    flags = ""
    if wires or quarantine:
        try:
            flags = _store(conn, settings, seen_keys, wires, quarantine, source, received_at)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis could not take the batch: {type(exc).__name__}: {exc}") from exc
    result.accepted = flags.count("1")
    result.duplicates = len(wires) - result.accepted
    outcomes = ["accepted" if f == "1" else "duplicate" for f in flags]
    metrics.record_ingest(
        source,
        result,
        started,
        (t for t, f in zip(timings, flags, strict=True) if t and f == "1"),
        zip(channels, outcomes, strict=True),
        quarantined_channel=channel,
    )
    return result


#: Redis memory a stored report takes beyond its wire's length: the stream entry's share of its
#: node and the dedup key (measured: tests/system/test_full_redis.py prints the ratio).
ENTRY_OVERHEAD = 200


def _footprint(wires: list[str], quarantine: list[str]) -> int:
    """About the bytes of Redis memory the batch will take (the store script checks it against
    the high-water mark before writing)."""
    return sum(map(len, wires)) + sum(map(len, quarantine)) + ENTRY_OVERHEAD * (len(wires) + len(quarantine) // 2)


def _delivery_time(loaded: dict[str, Any]) -> tuple[str, str, float] | None:
    """(channel, status group, doneAt - sentAt in seconds) of a delivery report with both times."""
    sent, done, status = loaded.get("sent_at"), loaded.get("done_at"), loaded.get("status")
    if sent is None or done is None or status is None:
        return None
    return loaded["channel"], status["group_name"], (done - sent).total_seconds()


def _quarantine(
    result: IngestResult,
    pairs: list[str],
    index: int,
    raw: Any,
    errors: Any,
    source: str,
    received_at: datetime,
    channel: str | None,
) -> None:
    # Bounded (dlrhook.quarantine): the first PER_PUSH are kept and their errors answered, the
    # others only counted, so 10,000 bad reports cost what 100 do.
    result.quarantined += 1
    if len(result.errors) < MAX_ANSWER_ERRORS:
        result.errors[str(index)] = errors
    if len(pairs) < 2 * quarantine.PER_PUSH:
        pairs.extend(quarantine.invalid_entry(raw, errors, source, received_at, channel))


def _store(
    conn: redis.Redis,
    settings: Settings,
    seen_keys: list[bytes],
    wires: list[str],
    quarantine: list[str],
    source: str,
    received_at: datetime,
) -> str:
    """Store the batch in one round trip (with ``DLRHOOK_DURABILITY``'s wait), then queue drain
    jobs for handlers that have none; raise :class:`NotDurable` when the wait fell short.

    The second step only happens when the store script names such handlers (none while their
    drains are queued, which is most of the time under load). A process killed between the two
    leaves the batch stored and the handlers' drains to worker maintenance, which queues one for
    any handler with undelivered reports.
    """
    script = store.script(conn, _STORE_LUA)
    names: list[str | bytes] = [
        keys.REPORTS,
        keys.QUARANTINE,
        keys.LAST_PUSH,
        keys.HANDLERS,
        keys.QUARANTINE_TIMES,
        *seen_keys,
    ]
    last_push = f"{received_at.timestamp():.3f}" if source == "push" else ""
    args: list[Any] = [
        settings.dedup_ttl,
        len(quarantine) // 2,
        last_push,
        keys.DRAIN_PENDING_PREFIX,  # the script tests the handlers' pending marks (dlrhook.drains)
        int(received_at.timestamp() * 1000),
        settings.redis_high_water if settings.redis_high_water < 1 else 0,
        _footprint(wires, quarantine),
        *wires,
        *quarantine,
        quarantine_mod.MAX_ENTRIES,  # last, whatever comes before it
    ]
    try:
        (flags, wake), shortfall = _run_durably(conn, settings, script, names, args)
    except redis.ResponseError as exc:
        full = store.full_reason(exc, settings)
        if full is None:
            raise
        raise StoreUnavailable(full) from None
    if wake:
        try:
            # Only here: making an RQ Queue costs ~50 us a push.
            drains.wake(conn, store.queue(conn, settings), [store.text(h) for h in wake])
        except redis.RedisError as exc:
            # The batch is stored: answering 503 now would only bring it back as duplicates.
            log.warning("stored a batch but could not queue its drain jobs (maintenance will): %s", exc)
    if shortfall is not None:
        # Stored, not durable: no 200. Infobip's retry finds the reports' dedup keys (duplicates)
        # if the batch survived, and stores it again if it did not.
        raise NotDurable(f"the batch is stored but {shortfall}")
    return store.text(flags)


def _run_durably(
    conn: redis.Redis, settings: Settings, script: Any, names: list[str | bytes], args: list[Any]
) -> tuple[Any, str | None]:
    """The store script, then ``DLRHOOK_DURABILITY``'s wait on the same connection
    (:func:`dlrhook.store.durability.execute`); returns its reply and what fell short, if anything.

    A push always writes (its last-push mark), so its wait covers every earlier write too: the
    retry of a batch whose first wait fell short waits for that batch, even as all duplicates.
    """
    try:
        for attempt in (1, 2):
            try:
                replies, shortfall = durability.execute(
                    conn, settings, lambda pipe: pipe.evalsha(script.sha, len(names), *names, *args)
                )
                return replies[0], shortfall
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                conn.script_load(script.script)  # a restarted or new server: load it, and once more
    except DurabilityUnsupported as exc:
        log.error("%s", exc)
        raise StoreUnavailable(str(exc)) from exc
    raise AssertionError("unreachable")
