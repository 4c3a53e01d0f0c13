"""Message status: every report folded into one record per message, and the reads of it.

The ``status`` handler (``dlrhook.workers.builtin.status``) calls :func:`fold` with each batch;
the read API (``GET /messages``, ``GET /bulks``), ``dlrhook status`` and ``dlrhook reconcile``
read with :func:`message`, :func:`bulk` and :func:`intermediate_ids`. No Flask here.

The fold is one Lua script per batch, so a batch costs one round trip and is atomic: several
workers folding reports of the same message at once cannot lose an update. The rule it applies
makes the record independent of arrival order: the current status is the report with the
greatest rank ``(final, doneAt, report key)``. So a final status is never replaced by an
intermediate one whatever its ``doneAt``; an intermediate one is replaced by a final one or by
a later intermediate one; a final one only by a later final one (a correction); the key breaks
ties so that every order of the same reports folds to the same record. A report without
``doneAt`` ranks as the earliest of its kind. The history keeps each distinct report (by
``report.key``, so a redelivered report changes nothing), read back ordered by ``doneAt``. A
seen report (no status) sets ``seenAt`` only (the earliest).

Keys, each kept for ``DLRHOOK_STATUS_TTL`` after its last change:

- ``dlrhook:msg:<messageId>``: the record, a hash (fields in the script's comment): the current
  status, the message's details, and one field per distinct report (its history entry).
- ``dlrhook:bulk:<bulkId>``: hash ``messages``, ``final``, ``g:<status group>`` counts, moved in
  the same script when a message's group or finality changes (no scans, ever).
- ``dlrhook:status:intermediate``: sorted set of the ids of messages whose status is still
  intermediate, scored by the time (ms) their status last changed. ``dlrhook reconcile`` and
  the ``dlrhook_messages_intermediate`` gauge read it; the script removes final messages and
  entries older than the TTL.

The script derives the bulk and message keys from their prefixes instead of declaring them
all in KEYS: fine on the single Redis/Valkey dlrhook runs on (README, "Scale out"), not on a
Redis Cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis
from marshmallow import Schema, fields

from dlrhook import store
from dlrhook.channels import DEFAULT_CHANNEL
from dlrhook.report import DeliveryReport, Error, Status
from dlrhook.store import keys

#: Values each item takes in the fold script's ARGV (see :func:`_item`).
_SLOTS = 11

#: status_fold.lua (its header says KEYS, ARGV and what it returns), with the item width filled in.
_FOLD_LUA = store.lua("status_fold").replace("SLOTS_VALUE", str(_SLOTS))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def channel_of(report: DeliveryReport) -> str:
    """The report's channel (upper case), :data:`DEFAULT_CHANNEL` when it names none."""
    return report.channel.upper() if report.channel else DEFAULT_CHANNEL


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _item(report: DeliveryReport, part: Callable[[Status, Error | None], tuple[int, str]]) -> list[str | int]:
    """The fold script's :data:`_SLOTS` values for one report (see the script's comment);
    *part* numbers the report's status/error pair among the batch's status parts."""
    price = report.price
    meta: dict[str, Any] = {"channel": channel_of(report)}
    if report.bulk_id is not None:
        meta["bulkId"] = report.bulk_id
    if report.to is not None:
        meta["to"] = report.to
    if report.sent_at is not None:
        meta["sentAt"] = report.sent_at.isoformat()
    if report.callback_data is not None:
        meta["callbackData"] = report.callback_data
    if price is not None:
        meta["price"] = {
            "pricePerMessage": None if price.price_per_message is None else str(price.price_per_message),
            "currency": price.currency,
        }
    status = report.status
    if status is None or report.kind == "seen":  # a seen report: no status
        seen_at = report.seen_at or report.received_at
        return ["s", report.message_id, seen_at.isoformat(), _ms(seen_at), 0, "", "", 0, "", "", _dumps(meta)]
    final = 1 if report.final else 0
    done = _dumps(_iso(report.done_at))
    done_ms = _ms(report.done_at)
    number, names_json = part(status, report.error)
    flag = "true" if final else "false"
    return [
        "r",
        report.message_id,
        report.key,
        final,
        done_ms,
        status.group_name.replace("|", "/"),  # "|" separates the script's packed fields
        report.bulk_id or "",
        number,
        f',"final":{flag},"doneAt":{done}',
        f"[{done_ms},{names_json},{flag},{done},{_dumps(report.source)},{_dumps(report.received_at.isoformat())}]",
        _dumps(meta),
    ]


#: JSON fragments of the Status/Error pairs seen (frozen and shared across a batch's reports,
#: so each pair is encoded once).
_PARTS_MAX = 4096
_parts: dict[tuple[Status, Error | None], tuple[str, str]] = {}


def _status_parts(status: Status, error: Error | None) -> tuple[str, str]:
    """(``"status":{..},"error":{..}``, ``"name","group"``) as JSON text."""
    found = _parts.get((status, error))
    if found is None:
        current = {
            "status": {
                "groupId": status.group_id,
                "groupName": status.group_name,
                "id": status.id,
                "name": status.name,
                "description": status.description,
            },
            "error": None
            if error is None
            else {
                "groupId": error.group_id,
                "groupName": error.group_name,
                "id": error.id,
                "name": error.name,
                "description": error.description,
                "permanent": error.permanent,
            },
        }
        found = (_dumps(current)[1:-1], _dumps([status.name, status.group_name])[1:-1])
        if len(_parts) >= _PARTS_MAX:
            _parts.clear()
        _parts[(status, error)] = found
    return found


def fold(conn: redis.Redis, reports: Sequence[DeliveryReport], *, ttl: int) -> list[DeliveryReport]:
    """Fold *reports* into their messages' records, bulk counters and the intermediate index,
    atomically, in one round trip; return the reports that made their message final for the
    first time. Idempotent: folding the same reports again changes nothing. Raises
    ``redis.RedisError`` when Redis does not answer (nothing of the batch was folded).
    """
    if not reports:
        return []
    numbers: dict[str, int] = {}

    def part(status: Status, error: Error | None) -> tuple[int, str]:
        current, names = _status_parts(status, error)
        number = numbers.get(current)
        if number is None:
            number = numbers[current] = len(numbers) + 1
        return number, names

    items: list[str | int] = []
    for r in reports:
        items.extend(_item(r, part))
    args: list[str | int] = [
        ttl,
        int(time.time() * 1000),
        keys.MESSAGE_PREFIX,
        keys.BULK_PREFIX,
        len(numbers),
        *numbers,
    ]
    firsts = store.script(conn, _FOLD_LUA)(keys=[keys.STATUS_INTERMEDIATE], args=[*args, *items], client=conn)
    return [reports[int(n) - 1] for n in firsts or []]


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
        "callbackData": meta.get("callbackData"),
        "price": meta.get("price"),
        "history": [
            {"status": e[1], "group": e[2], "final": e[3], "doneAt": e[4], "source": e[5], "receivedAt": e[6]}
            for e, _ in entries
        ],
    }


def bulk(conn: redis.Redis, bulk_id: str) -> dict[str, Any] | None:
    """``{"bulkId", "messages", "final", "byStatusGroup"}`` from the bulk's counters (one HGETALL,
    whatever the bulk's size), or None when no report of the bulk is known."""
    counts = {store.text(k): int(v) for k, v in conn.hgetall(keys.BULK_PREFIX + bulk_id).items()}
    if not counts:
        return None
    groups = {name[2:]: n for name, n in sorted(counts.items()) if name.startswith("g:") and n > 0}
    return {
        "bulkId": bulk_id,
        "messages": counts.get("messages", 0),
        "final": counts.get("final", 0),
        "byStatusGroup": groups,
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


class StatusOutSchema(Schema):
    """A status as the read API shows it (Infobip's names)."""

    groupId = fields.Integer(allow_none=True)  # the wire names are Infobip's
    groupName = fields.String(allow_none=True)
    id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)


class ErrorOutSchema(StatusOutSchema):
    """An error as the read API shows it."""

    permanent = fields.Boolean(allow_none=True)


class PriceOutSchema(Schema):
    """Money as exact decimal text, never a float."""

    pricePerMessage = fields.String(allow_none=True, metadata={"description": "decimal, as text"})
    currency = fields.String(allow_none=True)


class HistoryEntrySchema(Schema):
    """One distinct report of the message."""

    status = fields.String(allow_none=True, metadata={"description": "status name"})
    group = fields.String(allow_none=True, metadata={"description": "status group name"})
    final = fields.Boolean(required=True)
    doneAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    source = fields.String(required=True, metadata={"enum": ["push", "pull", "logs"]})
    receivedAt = fields.String(required=True, metadata={"format": "date-time"})


class MessageStatusSchema(Schema):
    """``GET /messages/<messageId>``: the message's folded status."""

    messageId = fields.String(required=True)
    bulkId = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    to = fields.String(allow_none=True)
    status = fields.Nested(StatusOutSchema, allow_none=True, metadata={"description": "null: only seen so far"})
    error = fields.Nested(ErrorOutSchema, allow_none=True)
    final = fields.Boolean(required=True)
    sentAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    doneAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    seenAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    callbackData = fields.String(allow_none=True)
    price = fields.Nested(PriceOutSchema, allow_none=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True)


class BulkSummarySchema(Schema):
    """``GET /bulks/<bulkId>``: counts of the bulk's messages, from counters kept by the fold."""

    bulkId = fields.String(required=True)
    messages = fields.Integer(required=True, metadata={"description": "messages with a known status"})
    final = fields.Integer(required=True, metadata={"description": "messages in a final status"})
    byStatusGroup = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True, metadata={"description": "current status group"}
    )
