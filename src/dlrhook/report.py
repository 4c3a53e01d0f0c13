"""The public report model: DeliveryReport, the report every handler receives, its Status,
Error and Price, and what makes a status final. No marshmallow here: validation is
:mod:`dlrhook.schemas`, the plain-JSON wire form that Redis keeps is :mod:`dlrhook.wire`.

Adding a report field is its attribute here and its marshmallow field (JSON name, validation)
in ``dlrhook.schemas``; ``tests/unit/test_schemas.py`` fails while one lacks the other. The
wire form follows by itself (it is derived from these fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

#: Status groups after which a message's state no longer changes (docs/infobip.md, "Status groups").
FINAL_GROUPS = frozenset({"DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED"})
#: (group, status id) pairs that are intermediate although their group is final:
#: DELIVERED_TO_OPERATOR reached the operator, not the handset, and a further report may follow.
INTERMEDIATE_IN_FINAL_GROUPS = frozenset({("DELIVERED", 2)})
#: Every ``DeliveryReport.kind``.
KINDS = frozenset({"delivery", "seen", "event"})


def is_final(group_name: str, status_id: int | None) -> bool:
    """True once a message's state can no longer change (docs/infobip.md, "Status groups")."""
    return group_name in FINAL_GROUPS and (group_name, status_id) not in INTERMEDIATE_IN_FINAL_GROUPS


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
    """One report, as every handler receives it: a delivery report (``kind == "delivery"``), a
    seen report (``kind == "seen"``: ``seen_at`` set, ``status`` and ``error`` None), or an
    Email user event (``kind == "event"``: ``event`` is ``OPENED``, ``CLICKED``,
    ``UNSUBSCRIBED``, ``COMPLAINED`` or ``LATE_BOUNCE``, ``url`` the link clicked, ``event_id``
    Infobip's id of the event; ``status`` and ``error`` None; device and geo details in ``raw``).

    ``key`` is a stable identity (for a delivery report: message id, status, error and done
    time; for a seen report: message id and seen time; for an event: its ``eventId``): the same
    report pushed twice, or pushed and pulled, has the same key. ``channel`` is Infobip's name
    of the channel, upper case (``SMS``, ``WHATSAPP``, ``VIBER``, ...). ``raw`` is the report as
    received, unknown fields included.
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
    status: Status | None
    error: Error | None
    entity_id: str | None
    application_id: str | None
    campaign_reference_id: str | None
    channel: str
    kind: str
    seen_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # Email user events (kind "event"); None on other reports. After ``raw``: they were added
    # later, with defaults, so code that builds reports by keyword keeps working.
    event: str | None = None
    url: str | None = None
    event_id: str | None = None

    def __post_init__(self) -> None:
        if self.status is None and self.kind == "delivery":
            raise ValueError(f"a {self.kind} report without a status")

    @property
    def occurred_at(self) -> datetime:
        """When what the report tells happened: ``done_at`` (a delivery report), ``seen_at``
        (seen), else ``received_at``. Infobip's user events carry no time of their own
        (``sendDateTime``, ``sent_at``, is when the email was sent) and are pushed as they
        happen, so an event's is when dlrhook received it."""
        if self.kind == "delivery" and self.done_at is not None:
            return self.done_at
        if self.kind == "seen" and self.seen_at is not None:
            return self.seen_at
        return self.received_at

    @property
    def final(self) -> bool:
        """True once the message's state can no longer change: DELIVERED_TO_HANDSET, and every
        UNDELIVERABLE, EXPIRED or REJECTED status (DELIVERED_TO_OPERATOR, id 2, is not final).
        False for a seen report, which carries no status."""
        return self.status is not None and is_final(self.status.group_name, self.status.id)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> DeliveryReport:
        """Rebuild a report from :func:`wire_from_loaded` or :meth:`to_wire` output (validated by the web)."""
        return _codec.from_wire(cls, wire)

    def to_wire(self) -> dict[str, Any]:
        """The plain-JSON form, as stored on the queue (used to retry and dead-letter), every field present."""
        return _codec.to_wire(self)


# The codec is derived from the classes above, so it is imported after them.
from dlrhook import wire as _codec  # noqa: E402
