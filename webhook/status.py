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
``report.key``, so a redelivered report changes nothing), ordered by ``doneAt``, at most
:data:`HISTORY_MAX` of them. A seen report (no status) sets ``seenAt`` only (the earliest).

Keys, each kept for ``DLRHOOK_STATUS_TTL`` after its last change:

- ``dlrhook:msg:<messageId>``: the record, JSON.
- ``dlrhook:bulk:<bulkId>``: hash ``messages``, ``final``, ``g:<status group>`` counts, moved in
  the same script when a message's group or finality changes (no scans, ever).
- ``dlrhook:status:intermediate``: sorted set of the ids of messages whose status is still
  intermediate, scored by the time (ms) their status last changed. ``dlrhook reconcile`` and
  the ``dlrhook_messages_intermediate`` gauge read it; the script removes final messages and
  entries older than the TTL.

The script derives the bulk and message keys from their prefixes instead of declaring them
all in KEYS: fine on the single Redis/Valkey dlrhook runs on (DESIGN.md, "Scale"), not on a
Redis Cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis
from marshmallow import Schema, fields

from dlrhook import store
from dlrhook.report import DeliveryReport

MESSAGE_PREFIX = store.PREFIX + "msg:"
BULK_PREFIX = store.PREFIX + "bulk:"
INTERMEDIATE = store.PREFIX + "status:intermediate"
#: Most reports kept in a message's history (a message has two to four in practice); the
#: earliest go first.
HISTORY_MAX = 50
#: Channel of a report that names none: this receiver takes Infobip SMS reports.
DEFAULT_CHANNEL = "SMS"

# ARGV: ttl seconds, now (ms), message prefix, bulk prefix, JSON array of items (see _item).
# KEYS: the intermediate index. Returns the 1-based indexes of the items that made their
# message final for the first time (the metrics time sentAt -> first final status from them).
_FOLD_LUA = """
local ttl = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local mprefix, bprefix = ARGV[3], ARGV[4]
local items = cjson.decode(ARGV[5])
local null = cjson.null
local META = {'bulkId', 'channel', 'to', 'sentAt', 'callbackData', 'price'}
local HMAX = HISTORY_MAX_VALUE
local firsts = {}
local function present(v) return v ~= nil and v ~= null end
local function above(f, d, k, rec)
  if rec.rk == nil then return true end
  if f ~= rec.rf then return f > rec.rf end
  if d ~= rec.rd then return d > rec.rd end
  return k > rec.rk
end
local function before(a, b)
  if a.d ~= b.d then return a.d < b.d end
  return a.k < b.k
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl * 1000))
for n, it in ipairs(items) do
  local mkey = mprefix .. it.i
  local raw = redis.call('GET', mkey)
  local rec
  if raw then
    rec = cjson.decode(raw)
  else
    rec = {messageId = it.i, history = {}}
  end
  if type(rec.history) ~= 'table' then rec.history = {} end
  local changed, moved = false, false
  if it.seen then
    if not present(rec.sm) or it.sm < rec.sm then
      rec.seenAt, rec.sm = it.seenAt, it.sm
      changed = true
    end
    for _, name in ipairs(META) do
      if present(it.meta[name]) and not present(rec[name]) then rec[name] = it.meta[name]; changed = true end
    end
  else
    local dup = false
    for _, h in ipairs(rec.history) do
      if h.k == it.k then dup = true; break end
    end
    if not dup then
      changed = true
      local hist = rec.history
      hist[#hist + 1] = it.h
      table.sort(hist, before)
      while #hist > HMAX do table.remove(hist, 1) end
      local was_final = rec.rf
      if above(it.f, it.d, it.k, rec) then
        rec.rf, rec.rd, rec.rk, rec.g = it.f, it.d, it.k, it.g
        rec.status, rec.error, rec.doneAt = it.status, it.error, it.doneAt
        rec.final = (it.f == 1)
        moved = true
        for _, name in ipairs(META) do
          if present(it.meta[name]) then rec[name] = it.meta[name] end
        end
        if it.f == 1 and was_final ~= 1 then firsts[#firsts + 1] = n end
      else
        for _, name in ipairs(META) do
          if present(it.meta[name]) and not present(rec[name]) then rec[name] = it.meta[name] end
        end
      end
    end
  end
  if changed then
    if rec.g ~= nil and present(rec.bulkId) then
      local bkey = bprefix .. rec.bulkId
      if rec.cb == nil then
        redis.call('HINCRBY', bkey, 'messages', 1)
        redis.call('HINCRBY', bkey, 'g:' .. rec.g, 1)
        if rec.rf == 1 then redis.call('HINCRBY', bkey, 'final', 1) end
        rec.cb, rec.cg, rec.cf = rec.bulkId, rec.g, rec.rf
      elseif rec.cb == rec.bulkId then
        if rec.cg ~= rec.g then
          redis.call('HINCRBY', bkey, 'g:' .. rec.cg, -1)
          redis.call('HINCRBY', bkey, 'g:' .. rec.g, 1)
          rec.cg = rec.g
        end
        if rec.cf ~= rec.rf then
          redis.call('HINCRBY', bkey, 'final', rec.rf - rec.cf)
          rec.cf = rec.rf
        end
      end
      redis.call('EXPIRE', bkey, ttl)
    end
    if rec.rf == 1 then
      redis.call('ZREM', KEYS[1], it.i)
    elseif moved then
      redis.call('ZADD', KEYS[1], now, it.i)
    end
    redis.call('SET', mkey, cjson.encode(rec), 'EX', ttl)
  end
end
return firsts
""".replace("HISTORY_MAX_VALUE", str(HISTORY_MAX))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def channel_of(report: DeliveryReport) -> str:
    """The report's channel (upper case), :data:`DEFAULT_CHANNEL` when it names none."""
    value = getattr(report, "channel", None)
    return str(value).upper() if value else DEFAULT_CHANNEL


def _item(report: DeliveryReport) -> dict[str, Any]:
    """What the fold script needs of one report: plain JSON, times as ISO text and as ms."""
    price = report.price
    meta: dict[str, Any] = {
        "bulkId": report.bulk_id,
        "channel": channel_of(report),
        "to": report.to,
        "sentAt": _iso(report.sent_at),
        "callbackData": report.callback_data,
        "price": None
        if price is None
        else {
            "pricePerMessage": None if price.price_per_message is None else str(price.price_per_message),
            "currency": price.currency,
        },
    }
    status = report.status
    if status is None or getattr(report, "kind", "delivery") == "seen":  # a seen report: no status
        seen_at = getattr(report, "seen_at", None) or report.received_at
        return {"i": report.message_id, "seen": True, "seenAt": _iso(seen_at), "sm": _ms(seen_at), "meta": meta}
    error = report.error
    final = 1 if report.final else 0
    done = _iso(report.done_at)
    done_ms = _ms(report.done_at)
    return {
        "i": report.message_id,
        "k": report.key,
        "f": final,
        "d": done_ms,
        "g": status.group_name,
        "doneAt": done,
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
        "h": {
            "k": report.key,
            "d": done_ms,
            "status": status.name,
            "group": status.group_name,
            "final": bool(final),
            "doneAt": done,
            "source": report.source,
            "receivedAt": report.received_at.isoformat(),
        },
        "meta": meta,
    }


def fold(conn: redis.Redis, reports: Sequence[DeliveryReport], *, ttl: int) -> list[DeliveryReport]:
    """Fold *reports* into their messages' records, bulk counters and the intermediate index,
    atomically, in one round trip; return the reports that made their message final for the
    first time. Idempotent: folding the same reports again changes nothing. Raises
    ``redis.RedisError`` when Redis does not answer (nothing of the batch was folded).
    """
    if not reports:
        return []
    items = json.dumps([_item(r) for r in reports], separators=(",", ":"), ensure_ascii=False)
    script = store.script(conn, _FOLD_LUA)
    now_ms = int(time.time() * 1000)
    firsts = script(keys=[INTERMEDIATE], args=[ttl, now_ms, MESSAGE_PREFIX, BULK_PREFIX, items], client=conn)
    return [reports[int(n) - 1] for n in firsts or []]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _null(value: Any) -> Any:
    """cjson writes an empty Lua table as ``{}``: an absent object here."""
    return None if value == {} else value


def message(conn: redis.Redis, message_id: str) -> dict[str, Any] | None:
    """The folded status of *message_id* in the read API's shape (DESIGN.md, "Message status"),
    or None when no report of it is known (or its record expired)."""
    raw = conn.get(MESSAGE_PREFIX + message_id)
    if raw is None:
        return None
    rec = json.loads(raw)
    history = rec.get("history")
    return {
        "messageId": rec.get("messageId", message_id),
        "bulkId": rec.get("bulkId"),
        "channel": rec.get("channel"),
        "to": rec.get("to"),
        "status": _null(rec.get("status")),
        "error": _null(rec.get("error")),
        "final": bool(rec.get("final", False)),
        "sentAt": rec.get("sentAt"),
        "doneAt": rec.get("doneAt"),
        "seenAt": rec.get("seenAt"),
        "callbackData": rec.get("callbackData"),
        "price": _null(rec.get("price")),
        "history": [
            {
                "status": h.get("status"),
                "group": h.get("group"),
                "final": bool(h.get("final", False)),
                "doneAt": h.get("doneAt"),
                "source": h.get("source"),
                "receivedAt": h.get("receivedAt"),
            }
            for h in (history if isinstance(history, list) else [])
        ],
    }


def bulk(conn: redis.Redis, bulk_id: str) -> dict[str, Any] | None:
    """``{"bulkId", "messages", "final", "byStatusGroup"}`` from the bulk's counters (one HGETALL,
    whatever the bulk's size), or None when no report of the bulk is known."""
    counts = {_text(k): int(v) for k, v in conn.hgetall(BULK_PREFIX + bulk_id).items()}
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
        found = conn.zrangebyscore(INTERMEDIATE, floor, cutoff)
    else:
        found = conn.zrangebyscore(INTERMEDIATE, floor, cutoff, start=0, num=limit)
    return [_text(m) for m in found]


def count_intermediate(conn: redis.Redis, older_than: float) -> int:
    """How many messages are intermediate with no change for *older_than* seconds (one ZCOUNT)."""
    return int(conn.zcount(INTERMEDIATE, "-inf", (time.time() - older_than) * 1000))


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
