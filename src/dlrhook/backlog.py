"""Per handler, what is not delivered yet: reports waiting, the age of the oldest, dead letters.

Read from Redis at request time (``/readyz``'s full answer): the report stream's consumer
groups (one per handler; an entry's id is the millisecond it was stored) and RQ's failed
registries, the shared queue's and each handler's own (:func:`dlrhook.drains.handler_queue`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from rq import Queue
from rq.registry import FailedJobRegistry

from dlrhook import drains, store
from dlrhook.store import keys

#: Dead letters read one by one to tell their handler; past this many only the total is given.
MAX_READ = 1000


def per_handler(conn: redis.Redis, q: Queue) -> tuple[int, dict[str, dict[str, Any]]]:
    """``(dead letters in all, {handler: {waiting, oldest_undelivered_seconds, dead_letters}})``.

    ``oldest_undelivered_seconds`` is the age of the oldest report the handler has not
    acknowledged (claimed or not yet read), None when it has every one; ``dead_letters`` is
    None when there are more than :data:`MAX_READ` in all.
    """
    now_ms = time.time() * 1000
    names = sorted(store.text(h) for h in conn.hkeys(keys.HANDLERS))
    out: dict[str, dict[str, Any]] = {n: {"waiting": 0, "oldest_undelivered_seconds": None} for n in names}
    for group in store.report_groups(conn):
        name = store.text(group["name"])
        oldest = _oldest(conn, name, store.text(group["last-delivered-id"]), int(group["pending"]))
        waiting = group.get("lag")
        if waiting is None:
            waiting = len(conn.xrange(keys.REPORTS, min=f"({store.text(group['last-delivered-id'])}", max="+") or [])
        out.setdefault(name, {})
        out[name]["waiting"] = int(waiting) + int(group["pending"])
        out[name]["oldest_undelivered_seconds"] = None if oldest is None else round(max(0.0, now_ms - oldest) / 1000, 1)
    registries = [FailedJobRegistry(queue=x) for x in [q] + [drains.handler_queue(q, n) for n in names]]
    ids = [store.text(i) for r in registries for i in conn.zrange(r.key, 0, -1)]
    ids = [i for i in ids if not i.startswith(keys.DRAIN_JOB_PREFIX)]
    counts: dict[str, int] | None = None
    if len(ids) <= MAX_READ:
        counts = {}
        with conn.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(f"rq:job:{job_id}", "meta")
            for meta in pipe.execute():
                handler = _handler_of(meta)
                counts[handler] = counts.get(handler, 0) + 1
    for name, entry in out.items():
        entry["dead_letters"] = None if counts is None else counts.get(name, 0)
    return len(ids), out


def parked(conn: redis.Redis, q: Queue, names: list[str] | None = None) -> dict[str, int]:
    """Jobs waiting in each handler's own queue (parked by workers that do not run it), for
    *names* (default: every registered handler), one pipelined LLEN each."""
    if names is None:
        names = sorted(store.text(h) for h in conn.hkeys(keys.HANDLERS))
    if not names:
        return {}
    with conn.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(drains.handler_queue(q, name).key)
        return {name: int(n) for name, n in zip(names, pipe.execute(), strict=True)}


def parked_jobs(conn: redis.Redis, q: Queue) -> int:
    """Jobs waiting in the handlers' own queues, in all."""
    return sum(parked(conn, q).values())


def _oldest(conn: redis.Redis, group: str, last_delivered: str, pending: int) -> float | None:
    """The ms timestamp of the group's oldest unacknowledged entry, None when there is none."""
    stamps = []
    if pending:
        summary = conn.xpending(keys.REPORTS, group)
        if summary and summary.get("min"):
            stamps.append(_ms(store.text(summary["min"])))
    unread = conn.xrange(keys.REPORTS, min=f"({last_delivered}", max="+", count=1)
    if unread:
        stamps.append(_ms(store.text(unread[0][0])))
    return min(stamps) if stamps else None


def _handler_of(meta: Any) -> str:
    """The handler a dead letter's meta names (:func:`dlrhook.workers.retries.dead_letter`)."""
    try:
        found = json.loads(meta) if meta else {}
    except ValueError:
        return ""
    return str(found.get("handler") or "") if isinstance(found, dict) else ""


def _ms(entry_id: str) -> float:
    return float(entry_id.partition("-")[0])
