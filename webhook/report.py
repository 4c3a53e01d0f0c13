"""DeliveryReport: the parsed report handlers receive, and its plain-JSON wire form.

The web validates a raw report once with marshmallow (``dlrhook.schemas``) and stores
:func:`wire_from_loaded` of the result: plain JSON that Redis keeps and workers read.
Workers rebuild the report with :meth:`DeliveryReport.from_wire`, which trusts what the web
validated and so costs microseconds, not marshmallow's fraction of a millisecond.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from dlrhook.schemas import is_final

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Price:
    price_per_message: Decimal | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class Status:
    group_id: int
    group_name: str
    id: int | None
    name: str | None
    description: str | None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Error:
    group_id: int | None
    group_name: str | None
    id: int | None
    name: str | None
    description: str | None
    permanent: bool | None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One delivery report, as every handler receives it.

    ``key`` is a stable identity (message id, status, error and done time): the same report
    pushed twice, or pushed and pulled, has the same key. ``raw`` is the report as received,
    unknown fields included.
    """

    key: str
    source: str
    received_at: datetime
    message_id: str
    bulk_id: str | None
    to: str | None
    sender: str | None
    sent_at: datetime | None
    done_at: datetime | None
    message_count: int | None
    mcc_mnc: str | None
    price: Price | None
    callback_data: str | None
    status: Status
    error: Error | None
    entity_id: str | None
    application_id: str | None
    campaign_reference_id: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def final(self) -> bool:
        """True for a final status: DELIVERED_TO_HANDSET (and any DELIVERED status but
        DELIVERED_TO_OPERATOR, id 2), and every UNDELIVERABLE, EXPIRED or REJECTED status.
        A seen report (no status) is not final. See :func:`dlrhook.schemas.is_final`."""
        status = self.status
        if status is None:
            return False
        return is_final(status.group_name, status.id, status.name)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> DeliveryReport:
        """Rebuild a report from :func:`wire_from_loaded` or :meth:`to_wire` output (validated by the web)."""
        r = wire["report"]
        price = r.get("price")
        error = r.get("error")
        return cls(
            key=wire["key"],
            source=wire["source"],
            received_at=_received_at(wire["received_at"]),
            message_id=r["message_id"],
            bulk_id=r.get("bulk_id"),
            to=r.get("to"),
            sender=r.get("sender"),
            sent_at=_dt(r.get("sent_at")),
            done_at=_dt(r.get("done_at")),
            message_count=r.get("message_count"),
            mcc_mnc=r.get("mcc_mnc"),
            price=_shared(_price, price) if price else None,
            callback_data=r.get("callback_data"),
            status=_shared(Status, r["status"]),
            error=_shared(Error, error) if error else None,
            entity_id=r.get("entity_id"),
            application_id=r.get("application_id"),
            campaign_reference_id=r.get("campaign_reference_id"),
            raw=wire["raw"],
        )

    def to_wire(self) -> dict[str, Any]:
        """The plain-JSON form, as stored on the queue (used to retry and dead-letter)."""
        r: dict[str, Any] = {
            "message_id": self.message_id,
            "bulk_id": self.bulk_id,
            "to": self.to,
            "sender": self.sender,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "message_count": self.message_count,
            "mcc_mnc": self.mcc_mnc,
            "price": _price_wire(self.price),
            "callback_data": self.callback_data,
            "status": _slots_dict(self.status),
            "error": _slots_dict(self.error) if self.error else None,
            "entity_id": self.entity_id,
            "application_id": self.application_id,
            "campaign_reference_id": self.campaign_reference_id,
        }
        return {
            "key": self.key,
            "source": self.source,
            "received_at": self.received_at.isoformat(),
            "report": r,
            "raw": self.raw,
        }


def report_key(loaded: dict[str, Any]) -> str:
    """The stable identity of a validated report: message id, status, error and done time.

    The done time is compared in UTC, so ``+0100`` and ``+01:00`` spellings are one report.
    """
    status = loaded["status"]
    error = loaded.get("error") or {}
    done = loaded.get("done_at")
    parts = (
        loaded["message_id"],
        str(status.get("group_id")),
        str(status.get("id")),
        str(error.get("group_id")),
        str(error.get("id")),
        done.astimezone(UTC).isoformat() if done else "",
    )
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


#: Optional report fields: the wire leaves them out when absent or null (from_wire reads None).
_OPTIONAL = (
    "bulk_id",
    "to",
    "sender",
    "message_count",
    "mcc_mnc",
    "callback_data",
    "entity_id",
    "application_id",
    "campaign_reference_id",
)


def wire_from_loaded(
    loaded: dict[str, Any], raw: dict[str, Any], *, key: str, source: str, received_at: datetime
) -> dict[str, Any]:
    """The wire form of a report that ``ReportSchema().load`` returned.

    Optional fields that are absent or null are left out: every byte here is written by the web,
    kept in Redis and parsed again by a worker.
    """
    r: dict[str, Any] = {"message_id": loaded["message_id"]}
    for name in _OPTIONAL:
        value = loaded.get(name)
        if value is not None:
            r[name] = value
    sent_at = loaded.get("sent_at")
    if sent_at:
        r["sent_at"] = sent_at.isoformat()
    done_at = loaded.get("done_at")
    if done_at:
        r["done_at"] = done_at.isoformat()
    price = loaded.get("price")
    if price:
        r["price"] = {"price_per_message": _dec_str(price.get("price_per_message")), "currency": price.get("currency")}
    status = loaded["status"]
    r["status"] = {k: status.get(k) for k in Status.__slots__}
    error = loaded.get("error")
    if error:
        r["error"] = {k: error.get(k) for k in Error.__slots__}
    return {"key": key, "source": source, "received_at": received_at.isoformat(), "report": r, "raw": raw}


#: Status, Error and Price objects already built, by their wire dict. They are frozen, and the
#: same few repeat across nearly every report of a batch, so reports share them: building them
#: was a third of what rebuilding a report costs a worker.
_SHARED_MAX = 4096
_shared_objects: dict[tuple[Any, ...], Any] = {}
_last_received_at: tuple[str, datetime] | None = None


def _shared(make: Callable[..., T], values: dict[str, Any]) -> T:
    """``make(**values)``, or the equal object made before (types are part of the key: 1 == True)."""
    try:
        key = (make, *values.items(), *map(type, values.values()))
        hit = _shared_objects.get(key)
    except TypeError:  # an unhashable value: make it, do not remember it
        return make(**values)
    if hit is None:
        hit = make(**values)
        if len(_shared_objects) >= _SHARED_MAX:
            _shared_objects.clear()
        _shared_objects[key] = hit
    return hit


def _price(price_per_message: str | None = None, currency: str | None = None, **_: Any) -> Price:
    return Price(_dec(price_per_message), currency)


def _received_at(value: str) -> datetime:
    """``datetime.fromisoformat``, remembering the last one: a batch's reports share it."""
    global _last_received_at
    last = _last_received_at
    if last is not None and last[0] == value:
        return last[1]
    parsed = datetime.fromisoformat(value)
    _last_received_at = (value, parsed)
    return parsed


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _dec_str(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _slots_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _price_wire(price: Price | None) -> dict[str, Any] | None:
    if price is None:
        return None
    return {"price_per_message": _dec_str(price.price_per_message), "currency": price.currency}
