"""What the console's pages show, read from Redis: no Flask here, only the core's readers.

Every status read goes through :func:`status_of` (one place to switch to another status store).
What one page makes Redis send is bounded: the overview reads fixed keys (60 minute hashes, one
per handler and path); a message's whereabouts look at the newest :data:`STREAM_SCAN` stream
entries and :data:`QUARANTINE_SCAN` quarantine entries, and say so when there are more.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from dlrhook import activity, backlog, quarantine, replay, status, store
from dlrhook.settings import Settings
from dlrhook.store import keys

#: Newest report-stream entries a message page looks through for the message's raw reports.
STREAM_SCAN = 20_000
#: Dead letters a message page reads through for the message's id; past this many it says so.
DEAD_SCAN = 1_000
#: Newest quarantine entries a message page (and a quarantine listing) looks through.
QUARANTINE_SCAN = 1_000


def status_of(statuses: status.StatusStore, kind: str, ident: str) -> dict[str, Any] | None:
    """The folded status of message *ident* (*kind* ``message``) or the counts of bulk *ident*
    (``bulk``) from the configured status store (``DLRHOOK_STATUS_STORE``): the one status read
    of the console. A store that cannot answer raises StatusUnavailable (a 503 page)."""
    return statuses.bulk(ident) if kind == "bulk" else statuses.message(ident)


@dataclass
class PullPath:
    """One reports path as the overview shows it."""

    path: str
    state: str
    pages_waiting: int = 0
    lock_ttl: int | None = None


def overview(conn: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Everything the overview page shows (see its template)."""
    now = time.time()
    q = store.queue(conn, settings)
    series = activity.series(conn, 60, now)
    dead_total, handlers = backlog.per_handler(conn, q)
    used, limit = store.memory(conn)
    with conn.pipeline(transaction=False) as pipe:
        pipe.xlen(keys.REPORTS)
        pipe.hlen(keys.QUARANTINE)
        pipe.get(keys.LAST_PUSH)
        pipe.hlen(keys.PULL_REJECTED)
        stream, quarantined, last_push, rejected = pipe.execute()
    return {
        "now": now,
        "series": series,
        "last_pushes": sorted(activity.last_pushes(conn).items(), key=lambda kv: -kv[1]),
        "last_push": float(last_push) if last_push else None,
        "handlers": handlers,
        "dead_letters": dead_total,
        "stream": stream,
        "quarantined": quarantined,
        "rejected_pages": rejected,
        "memory": {"used": used, "max": limit, "high_water": settings.redis_high_water},
        "pull": pull_paths(conn, settings, float(last_push) if last_push else None, now),
    }


def pull_paths(conn: redis.Redis, settings: Settings, last_push: float | None, now: float) -> list[PullPath]:
    """Each reports path's state: not configured, off, paused (fallback, pushes arriving),
    polled (a poller holds its lock) or no poller running."""
    if not settings.infobip_base_url:
        return [PullPath(p, "not configured: INFOBIP_BASE_URL is unset (push only)") for p in settings.report_paths]
    account = keys.account_id(settings.infobip_base_url, settings.infobip_api_key, settings.infobip_username)
    out = []
    for path in settings.report_paths:
        primary = path == settings.primary_pull_path
        with conn.pipeline(transaction=False) as pipe:
            pipe.pttl(keys.pull_lock_key(account, path, primary=primary))
            pipe.hlen(keys.pull_pages_key(path, primary=primary))
            ttl_ms, pages = pipe.execute()
        held = ttl_ms is not None and int(ttl_ms) > 0
        if settings.pull_mode == "off":
            state = "off (DLRHOOK_PULL_MODE=off)"
        elif settings.pull_mode == "fallback" and last_push is not None and now - last_push < settings.pull_quiet:
            state = f"paused: a push came {now - last_push:.0f} s ago (fallback after {settings.pull_quiet} s quiet)"
        elif held:
            state = "polling (a poller holds its lock)"
        else:
            state = "no poller holds its lock: is the poller process running?"
        out.append(PullPath(path, state, int(pages), int(ttl_ms) // 1000 if held else None))
    return out


@dataclass
class Copy:
    """One report of the message that Redis still holds, as received (``raw``) and where."""

    where: str
    wire: dict[str, Any]
    handlers: dict[str, str] = field(default_factory=dict)


@dataclass
class Whereabouts:
    """What Redis holds of one message besides its status: its reports in the stream (and each
    handler's progress with them), in dead letters and in the quarantine."""

    copies: list[Copy]
    handlers: dict[str, str]
    dead_letters: list[replay.DeadLetter]
    quarantined: list[dict[str, Any]]
    scanned: int
    stream_length: int
    #: Dead letters in all: more than :data:`DEAD_SCAN`, and they were not read through.
    dead_total: int = 0


def whereabouts(conn: redis.Redis, settings: Settings, message_id: str) -> Whereabouts:
    """Find *message_id*'s reports: the newest :data:`STREAM_SCAN` stream entries, every dead
    letter (by the message ids it names; none read when there are more than :data:`DEAD_SCAN`),
    the newest :data:`QUARANTINE_SCAN` quarantine entries.

    ``handlers`` says, per registered handler, ``delivered``, ``claimed`` (a drain holds it),
    ``waiting`` or ``dead-lettered``: from the stream entries found; a handler with no entry of
    the message left in the stream and no dead letter has every report of it (``delivered``).
    """
    needle = message_id.encode()
    groups = store.report_groups(conn)
    names = sorted(store.text(h) for h in conn.hkeys(keys.HANDLERS))
    copies: list[Copy] = []
    scanned = 0
    top = "+"
    while scanned < STREAM_SCAN:
        chunk = conn.xrevrange(keys.REPORTS, max=top, min="-", count=500)
        if not chunk:
            break
        for entry_id, fields in chunk:
            value = (fields or {}).get(b"w") or b""
            if needle in value:
                wire = json.loads(value)
                if (wire.get("report") or {}).get("message_id") == message_id:
                    copies.append(Copy(f"stream entry {store.text(entry_id)}", wire, _progress(conn, groups, entry_id)))
        scanned += len(chunk)
        top = f"({store.text(chunk[-1][0])}"
    handlers = {n: "delivered" for n in names}
    for copy in copies:
        for name, state in copy.handlers.items():
            if _RANK.get(state, 0) > _RANK.get(handlers.get(name, "delivered"), 0):
                handlers[name] = state
    q = store.queue(conn, settings)
    dead_total = replay.count_dead_letters(q)
    dead = [] if dead_total > DEAD_SCAN else [d for d in replay.dead_letters(q) if message_id in d.message_ids]
    for d in dead:
        handlers[d.handler] = "dead-lettered"
        _, wires = replay.dead_letter(q, d.job_id)
        for wire in wires:
            if isinstance(wire, dict) and (wire.get("report") or {}).get("message_id") == message_id:
                copies.append(Copy(f"dead letter {d.job_id} ({d.handler})", wire))
    found = [
        e
        for e in quarantine.newest(conn, QUARANTINE_SCAN)
        if isinstance(e.get("raw"), dict) and e["raw"].get("messageId") == message_id
    ]
    return Whereabouts(copies, handlers, dead, found, scanned, int(conn.xlen(keys.REPORTS)), dead_total)


#: The state a handler is shown in when the message's reports are in several.
_RANK = {"delivered": 0, "claimed (a drain is delivering it)": 1, "waiting": 2, "dead-lettered": 3}


def _progress(conn: redis.Redis, groups: list[dict[str, Any]], entry_id: Any) -> dict[str, str]:
    """Each handler's state with one stream entry: delivered, claimed or waiting."""
    out = {}
    for group in groups:
        name = store.text(group["name"])
        last = store.text(group["last-delivered-id"])
        if store.entry_id(entry_id) > store.entry_id(last):
            out[name] = "waiting"
            continue
        pending = conn.xpending_range(keys.REPORTS, name, min=entry_id, max=entry_id, count=1)
        out[name] = "claimed (a drain is delivering it)" if pending else "delivered"
    return out


def since_of(choice: str | None, now: datetime) -> datetime | None:
    """The start of a listing's time filter (``15m``, ``1h``, ``6h``, ``24h``, ``7d``), None for any."""
    seconds = SINCE_CHOICES.get(choice or "")
    return None if seconds is None else datetime.fromtimestamp(now.timestamp() - seconds, tz=now.tzinfo)


#: The time filters of the listings: label -> seconds back from now.
SINCE_CHOICES = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
