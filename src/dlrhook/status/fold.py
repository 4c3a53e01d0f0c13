"""The fold: a batch of reports into their messages' records in Redis, one Lua script a batch
(``store/lua/status_fold.lua``). The rules are in :mod:`dlrhook.status`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis

from dlrhook import store
from dlrhook.channels import DEFAULT_CHANNEL
from dlrhook.report import DeliveryReport, Error, Status
from dlrhook.status.buckets import final_bucket
from dlrhook.store import keys

#: Values each item takes in the fold script's ARGV (see :func:`_item`).
_SLOTS = 12

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
    if report.kind == "event":  # an Email user event: its first time of each kind, no status
        at = report.occurred_at
        name = (report.event or "").replace("|", "/")
        return ["e", report.message_id, at.isoformat(), _ms(at), 0, name, "", 0, "", "", _dumps(meta), -1]
    if status is None or report.kind == "seen":  # a seen report: no status
        seen_at = report.seen_at or report.received_at
        return ["s", report.message_id, seen_at.isoformat(), _ms(seen_at), 0, "", "", 0, "", "", _dumps(meta), -1]
    final = 1 if report.final else 0
    done = _dumps(_iso(report.done_at))
    done_ms = _ms(report.done_at)
    number, names_json = part(status, report.error)
    flag = "true" if final else "false"
    bucket = -1
    if final and report.sent_at is not None and report.done_at is not None:
        bucket = final_bucket((report.done_at - report.sent_at).total_seconds())
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
        bucket,
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
