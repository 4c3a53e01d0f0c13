"""The report stream's upkeep: which handlers it is kept for, and what can leave it.

Every accepted report is one entry of ``dlrhook:reports``; each registered handler reads it
through a consumer group of its own name (:mod:`dlrhook.workers.dispatch`). This module
registers and forgets handlers, trims the entries every group has acknowledged, counts each
handler's backlog, and runs the periodic upkeep (:func:`maintain`). None of it scans the
keyspace: its cost is a few commands per registered handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue

from dlrhook import drains, quarantine, store
from dlrhook.settings import Settings
from dlrhook.store import keys

log = logging.getLogger("dlrhook.dispatch")


def register(conn: redis.Redis, handler_names: Sequence[str]) -> None:
    """Make *handler_names* receive reports: a consumer group each, and a name ingest wakes.

    A new handler's group starts at the oldest report still kept (those not yet delivered to
    every other handler), so reports accepted before any worker ran are not lost.
    """
    now = int(time.time())
    with conn.pipeline(transaction=False) as pipe:
        for name in handler_names:
            pipe.hset(keys.HANDLERS, name, now)
            pipe.xgroup_create(keys.REPORTS, name, id="0", mkstream=True)
        for answer in pipe.execute(raise_on_error=False):
            if isinstance(answer, Exception) and "BUSYGROUP" not in str(answer):
                raise answer


def forget(conn: redis.Redis, q: Queue, handler_name: str) -> int:
    """Stop keeping reports for *handler_name* (a handler no worker runs any more); *q* is the
    shared queue.

    Returns how many reports were waiting for it. Its group is destroyed, so the stream can be
    trimmed past them; the jobs parked in its own queue (a drain, retries that no worker ran)
    are deleted with that queue; its dead letters stay.
    """
    waiting = backlog(conn).get(handler_name, 0)
    parked = drains.handler_queue(q, handler_name)
    # Its retries carry reports for this handler alone: forgotten with it.
    parked.empty()  # type: ignore[no-untyped-call]
    with conn.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.HANDLERS, handler_name)
        pipe.xgroup_destroy(keys.REPORTS, handler_name)
        drains.forget(pipe, handler_name)
        pipe.delete(keys.ACTIVE_PREFIX + handler_name)
        pipe.execute(raise_on_error=False)
    trim(conn)
    return waiting


def registered(conn: redis.Redis) -> list[str]:
    """The handler names reports are kept for."""
    return sorted(store.text(h) for h in conn.hkeys(keys.HANDLERS))


def maintain(conn: redis.Redis, q: Queue, settings: Settings) -> list[str]:
    """Queue a drain for every handler with undelivered or abandoned reports; trim the stream.

    Also removes the consumers of dead drains once they hold nothing, and expired quarantine
    entries. Returns the handlers woken. Cost: a few commands per registered handler, whatever
    the number of reports (no scan of the keyspace).
    """
    idle_ms = settings.abandon_after * 1000
    work = []
    found = groups(conn)
    for group in found:
        name = store.text(group["name"])
        if _has_new(conn, group) or (
            group["pending"] and conn.xpending_range(keys.REPORTS, name, "-", "+", 1, idle=idle_ms)
        ):
            work.append(name)
        for consumer in conn.xinfo_consumers(keys.REPORTS, name):
            if not consumer["pending"] and consumer["idle"] > idle_ms:
                conn.xgroup_delconsumer(keys.REPORTS, name, consumer["name"])
    woken = drains.wake(conn, q, work, verify=True)
    if woken:
        log.info("maintenance: queued drains for %s", ", ".join(woken))
    trim(conn, found)
    expired = quarantine.expire(conn, settings)
    if expired:
        log.info("maintenance: deleted %d quarantined reports older than DLRHOOK_QUARANTINE_TTL", expired)
    return woken


def trim(conn: redis.Redis, found: list[dict[str, Any]] | None = None) -> int:
    """Delete the stream entries every handler's group has acknowledged; returns how many.

    *found*: the groups as :func:`groups` just read them (saves reading them again)."""
    found = groups(conn) if found is None else found
    if not found:
        return 0
    floors = []
    for group in found:
        # XPENDING after XINFO GROUPS: another drain may have acknowledged the last pending entry
        # in between (its summary then has no min): the group's floor is past what it has read.
        summary = conn.xpending(keys.REPORTS, group["name"]) if group["pending"] else None
        if summary and summary.get("min"):
            floors.append(store.entry_id(summary["min"]))
        else:
            ms, seq = store.entry_id(group["last-delivered-id"])
            floors.append((ms, seq + 1))
    ms, seq = min(floors)
    return int(conn.xtrim(keys.REPORTS, minid=f"{ms}-{seq}", approximate=False))


def backlog(conn: redis.Redis) -> dict[str, int]:
    """Reports not yet delivered to each handler: unread plus claimed and unacknowledged."""
    out = {}
    for group in groups(conn):
        lag = group.get("lag")
        if lag is None:  # unknown after deletions inside the group's range: count them
            after = f"({store.text(group['last-delivered-id'])}"
            lag = len(conn.xrange(keys.REPORTS, min=after, max="+") or [])
        out[store.text(group["name"])] = int(lag) + int(group["pending"])
    return out


def migrate_legacy(conn: redis.Redis) -> int:
    """Move reports left by dlrhook 0.1 (the inbox list and drain claims) into the stream.

    Runs once at each worker start; the scan of claim keys happens only here, never periodically.
    """
    move = store.script(conn, _MIGRATE_LUA)
    moved = 0
    legacy = [keys.LEGACY_INBOX, *conn.scan_iter(match=keys.LEGACY_CLAIMED_PREFIX + "*", count=1000)]
    for key in legacy:
        moved += int(move(keys=[key, keys.REPORTS], client=conn))
    if moved:
        log.warning("moved %d reports left by an older dlrhook into the report stream", moved)
    return moved


#: legacy_migrate.lua (its header says KEYS, ARGV and what it returns).
_MIGRATE_LUA = store.lua("legacy_migrate")


def has_unread(conn: redis.Redis, found: list[dict[str, Any]], handler_name: str) -> bool:
    """True when reports wait that *handler_name*'s group (among *found*) has not read yet."""
    group = next((g for g in found if store.text(g["name"]) == handler_name), None)
    return group is not None and _has_new(conn, group)


def groups(conn: redis.Redis) -> list[dict[str, Any]]:
    """Every handler's consumer group (XINFO GROUPS), none when the stream does not exist."""
    return store.report_groups(conn)


def _has_new(conn: redis.Redis, group: dict[str, Any]) -> bool:
    lag = group.get("lag")
    if lag is not None:
        return int(lag) > 0
    return bool(conn.xrange(keys.REPORTS, min=f"({store.text(group['last-delivered-id'])}", max="+", count=1))
