"""Reading the folded records back from Redis: one message, one bulk's counts, and the messages
still intermediate (for reconcile and the ``dlrhook_messages_intermediate`` gauge).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from dlrhook import store
from dlrhook.status.buckets import FINAL_BUCKETS
from dlrhook.store import keys


def message(conn: redis.Redis, message_id: str) -> dict[str, Any] | None:
    """The folded status of *message_id* in the read API's shape (README, "Message status"),
    or None when no report of it is known (or its record expired)."""
    fields = {store.text(k): store.text(v) for k, v in conn.hgetall(keys.MESSAGE_PREFIX + message_id).items()}
    if not fields:
        return None
    meta = json.loads(fields.get("meta") or "{}")
    current = json.loads(fields.get("cur") or "{}")
    # h:<report key> -> [doneAt ms, status, group, final, doneAt, source, receivedAt]
    entries = sorted((json.loads(v), k) for k, v in fields.items() if k.startswith("h:"))
    events = {k[2:]: v for k, v in sorted(fields.items()) if k.startswith("e:")}
    return {
        "messageId": message_id,
        "bulkId": meta.get("bulkId"),
        "channel": meta.get("channel"),
        "to": meta.get("to"),
        "status": current.get("status"),
        "error": current.get("error"),
        "final": bool(current.get("final", False)),
        "sentAt": meta.get("sentAt"),
        "doneAt": current.get("doneAt"),
        "seenAt": fields.get("seen"),
        "openedAt": events.get("OPENED"),
        "clickedAt": events.get("CLICKED"),
        "unsubscribedAt": events.get("UNSUBSCRIBED"),
        "events": events,
        "callbackData": meta.get("callbackData"),
        "price": meta.get("price"),
        "history": [
            {"status": e[1], "group": e[2], "final": e[3], "doneAt": e[4], "source": e[5], "receivedAt": e[6]}
            for e, _ in entries
        ],
    }


def bulk(conn: redis.Redis, bulk_id: str) -> dict[str, Any] | None:
    """``{"bulkId", "messages", "final", "byStatusGroup", "secondsToFinal"}`` from the bulk's
    counters (one HGETALL, whatever the bulk's size), or None when no report of the bulk is known.
    ``secondsToFinal``: messages by the time from sentAt to the doneAt of the report that first
    made them final, per bucket (keys: upper bounds in seconds, and ``+Inf``; not cumulative)."""
    counts = {store.text(k): int(v) for k, v in conn.hgetall(keys.BULK_PREFIX + bulk_id).items()}
    if not counts:
        return None
    groups = {name[2:]: n for name, n in sorted(counts.items()) if name.startswith("g:") and n > 0}
    return {
        "bulkId": bulk_id,
        "messages": counts.get("messages", 0),
        "final": counts.get("final", 0),
        "byStatusGroup": groups,
        "secondsToFinal": {name: counts.get(f"t:{n}", 0) for n, name in enumerate(FINAL_BUCKETS)},
    }


def intermediate_ids(
    conn: redis.Redis, older_than: float, *, limit: int | None = None, newer_than: float | None = None
) -> list[str]:
    """Ids of messages whose status is intermediate and has not changed for *older_than* seconds
    (but changed within *newer_than* seconds, when given), the longest-waiting first, at most
    *limit*."""
    now = time.time()
    cutoff = (now - older_than) * 1000
    floor: float | str = "-inf" if newer_than is None else (now - newer_than) * 1000
    if limit is None:
        found = conn.zrangebyscore(keys.STATUS_INTERMEDIATE, floor, cutoff)
    else:
        found = conn.zrangebyscore(keys.STATUS_INTERMEDIATE, floor, cutoff, start=0, num=limit)
    return [store.text(m) for m in found]


def count_intermediate(conn: redis.Redis, older_than: float) -> int:
    """How many messages are intermediate with no change for *older_than* seconds (one ZCOUNT)."""
    return int(conn.zcount(keys.STATUS_INTERMEDIATE, "-inf", (time.time() - older_than) * 1000))


# --- the read API's shapes, for /openapi.json ---------------------------------------------
