"""The quarantine: reports that cannot be delivered as they are, kept raw with the reason.

Two places quarantine a report: ingest, when it fails validation (it was never accepted), and a
worker, when it cannot rebuild a wire report ingest had accepted. Both build the entry here
(:func:`invalid_entry`, :func:`unreadable_entry`, both through :func:`quarantine_entry`), so an
entry has one shape wherever it comes from.

Where entries are kept: the hash ``keys.QUARANTINE`` (id -> entry JSON) and its times index
``keys.QUARANTINE_TIMES`` (id -> ms since epoch when quarantined). Every Python read, write,
delete and expiry of the two is a function of this module: :func:`add` (a worker),
:func:`quarantined`, :func:`newest` and :func:`get` (listing, replay), :func:`update` and :func:`remove`
(replay), :func:`expire` (worker maintenance, ``DLRHOOK_QUARANTINE_TTL``). The one write
elsewhere is ingest's: ``store/lua/ingest_store.lua`` adds the entries of a batch to both
keys in the transaction that stores the batch. Expiry runs ``store/lua/quarantine_expire.lua``,
which reads only the expired ids.

What one push (or one pulled page) can make the quarantine hold is bounded: at most
:data:`PER_PUSH` entries of its own, and one more (:func:`omitted_entry`) counting the invalid
reports past them; each entry's ``raw`` is at most :data:`RAW_MAX` characters (a longer one is
kept cut, as text, with ``partial`` saying so). The whole quarantine keeps at most
:data:`MAX_ENTRIES` entries: past that the oldest go first (in ingest's store script, and in
:func:`expire` for a worker's entries). An entry with ``partial`` is not the whole report: a
replay leaves it alone. Replaying an entry (ingesting it again) is
:func:`dlrhook.replay.replay_quarantine`, which uses these functions.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis

from dlrhook import store
from dlrhook.channels import DEFAULT_CHANNEL
from dlrhook.defaults import MAX_ANSWER_ERRORS
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.wire import dumps

#: The ``errors`` key of an entry a worker made for a report ingest had already accepted. Such a
#: report's dedup mark was set when it was accepted, so replaying it must forget that mark.
UNREADABLE_WIRE = "_wire"

#: Entries one push (or pulled page) may add; the invalid reports past them are counted in one
#: more entry (:func:`omitted_entry`). The same as the errors a push answer lists.
PER_PUSH = MAX_ANSWER_ERRORS
#: Characters of an entry's raw report kept; a longer one is kept cut, as text.
RAW_MAX = 16 * 1024
#: Entries the quarantine keeps at most; the oldest go first.
MAX_ENTRIES = 10_000
#: The key of an entry whose ``raw`` is not the whole report (cut, or text that is no JSON).
PARTIAL = "partial"

#: quarantine_expire.lua (its header says KEYS, ARGV and what it returns).
_EXPIRE_LUA = store.lua("quarantine_expire")


# --- entries --------------------------------------------------------------------------------


def new_quarantine_id() -> str:
    """Time-ordered, unique: ``q-<ms since epoch>-<random>``."""
    return f"q-{int(time.time() * 1000):013d}-{secrets.token_hex(4)}"


def quarantine_entry(
    raw: Any,
    errors: Any,
    source: str,
    received_at: datetime | str,
    *,
    channel: str | None = None,
    partial: str | None = None,
) -> tuple[str, str]:
    """A new entry's ``(id, JSON text)``: ``{"id", "raw", "errors", "source", "received_at"}``,
    and ``"channel"`` when known (the one the URL or pull path named, for a replay).

    *raw* is the report as received (any JSON value, Decimals included), *errors* the field
    errors by name (marshmallow's form) or ``{UNREADABLE_WIRE: [why]}``, *received_at* a time or
    its ISO text. A *raw* longer than :data:`RAW_MAX` characters once written as JSON (or one
    that cannot be written: nested too deep) is kept as its first :data:`RAW_MAX` characters of
    text, ``partial`` saying why (as it does for a *partial* given).
    """
    qid = new_quarantine_id()
    when = received_at.isoformat() if isinstance(received_at, datetime) else received_at
    entry: dict[str, Any] = {"id": qid, "raw": raw, "errors": errors, "source": source, "received_at": when}
    if channel is not None:
        entry["channel"] = channel
    if partial is not None:
        entry[PARTIAL] = partial
    try:
        text = dumps(entry)
    except (ValueError, TypeError, RecursionError) as exc:
        return qid, _cut(entry, _text(raw), f"the report could not be kept as JSON ({type(exc).__name__})")
    if len(text) <= RAW_MAX + 2048 or len(_text(raw)) <= RAW_MAX:  # errors and envelope are small
        return qid, text
    raw_text = _text(raw)
    return qid, _cut(entry, raw_text, f"the report was {len(raw_text)} characters: only the first {RAW_MAX} are kept")


def _text(raw: Any) -> str:
    """*raw* as text: itself when it is text or bytes, else its JSON (its repr when it has none)."""
    if isinstance(raw, bytes):
        return raw.decode(errors="replace")
    if isinstance(raw, str):
        return raw
    try:
        return dumps(raw)
    except (ValueError, TypeError, RecursionError):
        return "<not writable as JSON>"


def _cut(entry: dict[str, Any], raw_text: str, why: str) -> str:
    entry["raw"] = raw_text[:RAW_MAX]
    entry[PARTIAL] = why
    errors = entry["errors"]
    try:
        return dumps(entry)
    except (ValueError, TypeError, RecursionError):
        entry["errors"] = {"_schema": [_text(errors)[:RAW_MAX]]}
        return dumps(entry)


def invalid_entry(raw: Any, errors: Any, source: str, received_at: datetime, channel: str | None) -> tuple[str, str]:
    """The entry of a report ingest found invalid; *channel* is the one its URL or pull path
    named (None for none)."""
    # "": the URL named no channel (``/notify/messages``), so a replay must not assume SMS.
    return quarantine_entry(raw, errors, source, received_at, channel=channel or "")


def omitted_entry(count: int, source: str, received_at: datetime, channel: str | None) -> tuple[str, str]:
    """The entry counting the *count* invalid reports of a push past its first :data:`PER_PUSH`:
    they are not kept (``raw`` null), only counted."""
    errors = {"_omitted": [f"{count} more invalid reports of this batch were not kept (at most {PER_PUSH} a batch)"]}
    return quarantine_entry(
        None, errors, source, received_at, channel=channel or "", partial=f"{count} reports not kept"
    )


def unreadable_entry(item: bytes | str, error: str) -> tuple[str, str]:
    """The entry of a wire report the worker cannot rebuild, with its raw report.

    Never raises: a wire that is no JSON (or nests too deep to read) is kept as its text."""
    channel: str | None = None
    raw: Any
    source: str = "push"
    received_at: str | None = None
    partial = None
    try:
        wire = json.loads(item)
        raw = wire.get("raw", wire) if isinstance(wire, dict) else wire
        if isinstance(wire, dict):
            if isinstance(wire.get("source"), str):
                source = wire["source"]
            if isinstance(wire.get("received_at"), str):
                received_at = wire["received_at"]
            parsed = wire.get("report")
            if isinstance(parsed, dict) and isinstance(parsed.get("channel"), str):
                channel = parsed["channel"]  # so that a replay gets the channel its URL gave
    except (ValueError, RecursionError) as exc:
        raw = item.decode(errors="replace") if isinstance(item, bytes) else item
        partial = f"the wire is kept as text: it is no JSON this worker can read ({type(exc).__name__})"
    errors = {UNREADABLE_WIRE: [f"the worker could not read this report: {error}"]}
    return quarantine_entry(raw, errors, source, received_at or datetime.now(UTC), channel=channel, partial=partial)


def accepted_before(entry: dict[str, Any]) -> bool:
    """True for an entry a worker made: its report was accepted (and its dedup mark set) first."""
    errors = entry.get("errors")
    return isinstance(errors, dict) and UNREADABLE_WIRE in errors


def replayable(entry: dict[str, Any]) -> bool:
    """False for an entry that does not hold its whole report (``partial``): replay leaves it."""
    return PARTIAL not in entry


def replay_channel(entry: dict[str, Any]) -> str | None:
    """The channel to ingest *entry*'s report under again (None: the report must name it)."""
    # The channel the URL or pull path named ("" for none); entries made before channels were
    # read, or by a worker, have none recorded: SMS, as they were then.
    return entry.get("channel", DEFAULT_CHANNEL) or None


# --- where they are kept --------------------------------------------------------------------


def add(pipe: Any, qid: str, entry: str) -> None:
    """Keep entry *qid* (its JSON text), quarantined now, in *pipe* (a worker's transaction)."""
    pipe.hset(keys.QUARANTINE, qid, entry)
    pipe.zadd(keys.QUARANTINE_TIMES, {qid: int(time.time() * 1000)})


def quarantined(conn: redis.Redis) -> list[dict[str, Any]]:
    """Every quarantine entry ``{id, raw, errors, source, received_at}``, oldest first (at most
    :data:`MAX_ENTRIES`). One that does not read back (written by hand) is listed by its id."""
    entries = []
    for qid, value in conn.hgetall(keys.QUARANTINE).items():
        try:
            entry = json.loads(value)
        except (ValueError, RecursionError) as exc:
            entry = None
            why = type(exc).__name__
        else:
            why = "not an object"
        if not isinstance(entry, dict):
            entry = {"id": store.text(qid), "raw": None, "errors": {"_entry": [f"unreadable entry: {why}"]}}
        entries.append(entry)
    return sorted(entries, key=lambda e: str(e.get("id", "")))


def newest(conn: redis.Redis, limit: int, since_ms: int | None = None) -> list[dict[str, Any]]:
    """The newest *limit* entries (quarantined at *since_ms* or later when given), newest first,
    read by the times index: what a listing shows without reading the whole quarantine."""
    floor: int | str = "-inf" if since_ms is None else since_ms
    ids: list[Any] = list(conn.zrevrangebyscore(keys.QUARANTINE_TIMES, "+inf", floor, start=0, num=limit))
    entries = []
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        for qid, value in zip(chunk, conn.hmget(keys.QUARANTINE, chunk), strict=True):
            if value is None:
                continue  # deleted or replayed: its times member stays until expiry
            try:
                entry = json.loads(value)
            except (ValueError, RecursionError):
                entry = None
            if not isinstance(entry, dict):
                entry = {"id": store.text(qid), "raw": None, "errors": {"_entry": ["unreadable entry"]}}
            entries.append(entry)
    return entries


def get(conn: redis.Redis, qid: str) -> dict[str, Any]:
    """Entry *qid*, its numbers as Decimals (as received); :class:`LookupError` when unknown."""
    value = conn.hget(keys.QUARANTINE, qid)
    if value is None:
        raise LookupError(f"no quarantined report {qid!r}")
    entry: dict[str, Any] = json.loads(value, parse_float=Decimal)
    return entry


def update(conn: redis.Redis, qid: str, entry: dict[str, Any]) -> None:
    """Write *entry* back as entry *qid* (its errors changed); its quarantine time stays."""
    conn.hset(keys.QUARANTINE, qid, dumps(entry))


def remove(conn: redis.Redis, qid: str) -> None:
    """Delete entry *qid* (replayed). Its times index member stays until :func:`expire`."""
    conn.hdel(keys.QUARANTINE, qid)


def expire(conn: redis.Redis, settings: Settings) -> int:
    """Delete quarantine entries older than ``DLRHOOK_QUARANTINE_TTL`` (at most 1,000 a call),
    and the oldest past :data:`MAX_ENTRIES`."""
    cutoff = int((time.time() - settings.quarantine_ttl) * 1000)
    prune = store.script(conn, _EXPIRE_LUA)
    return int(prune(keys=[keys.QUARANTINE_TIMES, keys.QUARANTINE], args=[cutoff, MAX_ENTRIES], client=conn))
