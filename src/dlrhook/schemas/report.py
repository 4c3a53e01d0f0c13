"""The schemas of one report and of a push: v1 and v3 field names alike.

``ReportSchema().load(raw)`` turns one raw report (from JSON or from XML, where every leaf is
text) into a plain dict with snake_case keys, aware datetimes and Decimal money.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal as _Decimal
from typing import Any

from marshmallow import ValidationError, fields, missing, post_load, pre_load, validates_schema

from dlrhook.report import is_final
from dlrhook.schemas.base import LeanSchema, in_utc_range, not_blank
from dlrhook.schemas.fields import (
    MAX_ADDRESS,
    MAX_CALLBACK_DATA,
    MAX_ID,
    MAX_URL,
    AwareDateTime,
    Boolean,
    Decimal,
    Identifier,
    Integer,
    Kind,
    SharedNested,
    String,
    TextOrInt,
    UpperString,
    kind_of,
)


class PriceSchema(LeanSchema):
    price_per_message = Decimal(data_key="pricePerMessage", allow_none=True)
    currency = String(allow_none=True)


class StatusSchema(LeanSchema):
    group_id = Integer(data_key="groupId", required=True)
    group_name = UpperString(data_key="groupName", required=True)
    id = Integer(allow_none=True)
    name = String(allow_none=True)
    description = String(allow_none=True)
    action = String(allow_none=True)


class ErrorSchema(LeanSchema):
    group_id = Integer(data_key="groupId", allow_none=True)
    group_name = UpperString(data_key="groupName", allow_none=True)
    id = Integer(allow_none=True)
    name = String(allow_none=True)
    description = String(allow_none=True)
    permanent = Boolean(allow_none=True)


class ReportSchema(LeanSchema):
    """One report, delivery, seen or Email user event, of any channel.

    ``messageId`` (text or a number) is always required. A delivery report (``event:
    "DELIVERY"``, or no ``event``) requires ``status``; a seen report (``event: "SEEN"``, or
    ``seenAt`` without ``status``) requires ``seenAt``; an Email user event (``notificationType``
    without ``status``) requires ``notificationType``. Seen reports and events load with no
    status and no error, whatever they carry. The Messages API's ``destination`` and an event's
    ``recipient`` are read as ``to``, an event's ``sendDateTime`` (epoch milliseconds) as
    ``sentAt``; ``channel`` is upper-cased and, when the body has none, set by ingest from the
    URL or the pull path (an Email user event's is ``EMAIL``).
    """

    message_id = Identifier(data_key="messageId", required=True)
    bulk_id = String(data_key="bulkId", allow_none=True, max_length=MAX_ID)
    to = String(allow_none=True, max_length=MAX_ADDRESS)
    sender = String(data_key="from", allow_none=True, max_length=MAX_ADDRESS)
    sent_at = AwareDateTime(data_key="sentAt", allow_none=True, validate=in_utc_range)
    done_at = AwareDateTime(data_key="doneAt", allow_none=True, validate=in_utc_range)
    message_count = Integer(data_key="smsCount", allow_none=True)
    mcc_mnc = TextOrInt(data_key="mccMnc", allow_none=True)
    price = SharedNested(PriceSchema, allow_none=True)
    callback_data = String(data_key="callbackData", allow_none=True, max_length=MAX_CALLBACK_DATA)
    # Required for delivery reports only: see _required_by_kind.
    status = SharedNested(StatusSchema)
    error = SharedNested(ErrorSchema, allow_none=True)
    entity_id = String(data_key="entityId", allow_none=True)
    application_id = String(data_key="applicationId", allow_none=True)
    campaign_reference_id = String(data_key="campaignReferenceId", allow_none=True)
    channel = UpperString(allow_none=True, validate=not_blank)
    # absent: read from the shape (_v3_names), else "delivery" (_final)
    kind = Kind(data_key="event", metadata={"enum": ["DELIVERY", "SEEN"]})
    seen_at = AwareDateTime(data_key="seenAt", allow_none=True, validate=in_utc_range)
    # Email user events (kind "event"): OPENED, CLICKED, UNSUBSCRIBED, COMPLAINED, LATE_BOUNCE.
    event = UpperString(data_key="notificationType", allow_none=True)
    url = String(allow_none=True, max_length=MAX_URL)
    event_id = Identifier(data_key="eventId", allow_none=True, blank=True)  # blank: as absent (the key)

    @pre_load
    def _v3_names(self, data: Any, **kwargs: Any) -> Any:
        """Map v3 names (``sender``, ``messageCount``, ``platform{}``), the Messages API's
        ``destination`` and the Email user events' names onto the v1 ones, and mark a report
        without ``event`` with the kind its shape says."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "from" not in data and "sender" in data:
            data["from"] = data["sender"]
        if "to" not in data and "destination" in data:
            data["to"] = data["destination"]
        if "smsCount" not in data and "messageCount" in data:
            data["smsCount"] = data["messageCount"]
        platform = data.get("platform")
        if isinstance(platform, dict):
            for name in ("entityId", "applicationId"):
                if name not in data and name in platform:
                    data[name] = platform[name]
        if data.get("event", missing) is None:
            del data["event"]  # null: no event, as absent (the kind is read from the shape)
        if "event" not in data:
            kind = kind_of(data)
            if kind == "seen":
                data["event"] = "SEEN"
                _end_user_in_to(data)
            elif kind == "event":
                data["event"] = "USER_EVENT"
                _event_names(data)
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _required_by_kind(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        """A delivery report must have ``status``, a seen report ``seenAt``: a report without what
        its kind needs is not what it claims to be (and is quarantined)."""
        if not isinstance(original, Mapping):
            return
        kind = kind_of(original)
        if kind == "delivery" and "status" not in original:
            raise ValidationError("Missing data for required field.", "status")
        if kind == "seen" and original.get("seenAt") is None:
            raise ValidationError("A seen report requires seenAt.", "seenAt")
        if kind == "event" and not str(original.get("notificationType") or "").strip():
            raise ValidationError("A user event requires notificationType.", "notificationType")

    @post_load
    def _final(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.setdefault("kind", "delivery") in ("seen", "event"):
            # A seen report or a user event says what the end user did, not where the
            # message's delivery stands.
            data.pop("status", None)
            data.pop("error", None)
            data["final"] = False
        else:
            data["final"] = is_final(data["status"]["group_name"], data["status"].get("id"))
        return data


def _end_user_in_to(data: dict[str, Any]) -> None:
    """A channel seen report's ``to`` is the message's recipient, as in its examples (the spec's
    text says otherwise: docs/infobip.md, "Where the spec disagrees with itself"); only a
    ``contact.phoneNumber`` (WhatsApp's end user) equal to ``from`` and not ``to`` swaps them."""
    contact = data.get("contact")
    phone = contact.get("phoneNumber") if isinstance(contact, dict) else None
    if phone is not None and phone == data.get("from") and phone != data.get("to"):
        data["from"], data["to"] = data.get("to"), data.get("from")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Epoch milliseconds a datetime can hold (years 1 to 9999).
_MS_RANGE = (-62135596800000, 253402300799999)


def _event_names(data: dict[str, Any]) -> None:
    """An Email user event's ``recipient`` is ``to``, its ``sendDateTime`` (epoch ms, a number)
    ``sentAt``; one no datetime can hold is left out (``raw`` keeps it); the channel is EMAIL."""
    if "to" not in data and "recipient" in data:
        data["to"] = data["recipient"]
    when = data.get("sendDateTime")
    if "sentAt" not in data and when is not None and not isinstance(when, bool) and len(str(when)) <= 40:
        try:
            ms = _Decimal(when) if isinstance(when, int | str) else _Decimal(str(when))
            if ms.is_finite() and _MS_RANGE[0] <= ms <= _MS_RANGE[1]:
                data["sentAt"] = (_EPOCH + timedelta(milliseconds=int(ms))).isoformat()
        except (ArithmeticError, ValueError, OverflowError):
            pass  # not a number of milliseconds: no sentAt, the raw report keeps it
    data.setdefault("channel", "EMAIL")


class PushSchema(LeanSchema):
    """A push body: ``{"results": [report, ...]}``. Used for the OpenAPI document; the endpoint
    validates ``results`` as a list itself and each report on its own, so one bad report cannot
    reject its siblings."""

    results = fields.List(fields.Nested(ReportSchema), required=True)
