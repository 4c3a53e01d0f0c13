"""Reports of one message in its successive states, for the message-status tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dlrhook.report import DeliveryReport
from dlrhook.schemas import ReportSchema
from dlrhook.wire import report_key, wire_from_loaded

SENT = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)

STATUSES: dict[str, dict[str, Any]] = {
    "PENDING_ENROUTE": {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"},
    "DELIVERED_TO_OPERATOR": {"groupId": 3, "groupName": "DELIVERED", "id": 2, "name": "DELIVERED_TO_OPERATOR"},
    "DELIVERED_TO_HANDSET": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
    "UNDELIVERABLE_NOT_DELIVERED": {
        "groupId": 2,
        "groupName": "UNDELIVERABLE",
        "id": 9,
        "name": "UNDELIVERABLE_NOT_DELIVERED",
    },
    "EXPIRED_EXPIRED": {"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED"},
}


def raw_report(
    message_id: str, status: str, done_after: float | None, *, bulk_id: str | None = "BULK-1", **extra: Any
) -> dict[str, Any]:
    """A v1 report of *message_id* in *status*, done *done_after* seconds after it was sent."""
    raw: dict[str, Any] = {
        "messageId": message_id,
        "to": "41793026727",
        "sentAt": SENT.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "smsCount": 1,
        "price": {"pricePerMessage": 0.01, "currency": "EUR"},
        "status": {**STATUSES[status], "description": status.lower()},
        "error": {"groupId": 0, "groupName": "Ok", "id": 0, "name": "NO_ERROR", "permanent": False},
        **extra,
    }
    if bulk_id is not None:
        raw["bulkId"] = bulk_id
    if done_after is not None:
        raw["doneAt"] = (SENT + timedelta(seconds=done_after)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return raw


def report(
    message_id: str, status: str, done_after: float | None, *, source: str = "push", **kw: Any
) -> DeliveryReport:
    """The DeliveryReport a handler gets for :func:`raw_report` (validated, through the wire form)."""
    raw = raw_report(message_id, status, done_after, **kw)
    loaded = ReportSchema().load(raw)
    wire = wire_from_loaded(loaded, raw, key=report_key(loaded), source=source, received_at=datetime.now(UTC))
    return DeliveryReport.from_wire(json.loads(json.dumps(wire)))


def names(record: dict | None) -> list[str]:
    """The statuses in a message record's history, oldest first."""
    assert record is not None
    return [h["status"] for h in record["history"]]
