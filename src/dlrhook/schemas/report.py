"""The schemas of one report and of a push: v1 and v3 field names alike.

``ReportSchema().load(raw)`` turns one raw report (from JSON or from XML, where every leaf is
text) into a plain dict with snake_case keys, aware datetimes and Decimal money.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, missing, post_load, pre_load, validates_schema

from dlrhook.report import is_final
from dlrhook.schemas.base import LeanSchema, in_utc_range, not_blank
from dlrhook.schemas.fields import (
    AwareDateTime,
    Boolean,
    Decimal,
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
    """One report, delivery or seen, of any channel.

    ``messageId`` is always required. A delivery report (``event: "DELIVERY"``, or no ``event``)
    requires ``status``; a seen report (``event: "SEEN"``, or ``seenAt`` without ``status``)
    requires ``seenAt`` and loads with no status and no error, whatever it carries. The
    Messages API's ``destination`` is read as ``to``, and a channel seen report's ``from`` (the
    end user) as ``to``; ``channel`` is upper-cased and, when the body has none, set by ingest
    from the URL or the pull path.
    """

    message_id = String(data_key="messageId", required=True, validate=not_blank)
    bulk_id = String(data_key="bulkId", allow_none=True)
    to = String(allow_none=True)
    sender = String(data_key="from", allow_none=True)
    sent_at = AwareDateTime(data_key="sentAt", allow_none=True, validate=in_utc_range)
    done_at = AwareDateTime(data_key="doneAt", allow_none=True, validate=in_utc_range)
    message_count = Integer(data_key="smsCount", allow_none=True)
    mcc_mnc = TextOrInt(data_key="mccMnc", allow_none=True)
    price = SharedNested(PriceSchema, allow_none=True)
    callback_data = String(data_key="callbackData", allow_none=True)
    # Required for delivery reports only: see _required_by_kind.
    status = SharedNested(StatusSchema)
    error = SharedNested(ErrorSchema, allow_none=True)
    entity_id = String(data_key="entityId", allow_none=True)
    application_id = String(data_key="applicationId", allow_none=True)
    campaign_reference_id = String(data_key="campaignReferenceId", allow_none=True)
    channel = UpperString(allow_none=True, validate=not_blank)
    kind = Kind(data_key="event", metadata={"enum": ["DELIVERY", "SEEN"]})  # absent: "delivery" (_final)
    seen_at = AwareDateTime(data_key="seenAt", allow_none=True, validate=in_utc_range)

    @pre_load
    def _v3_names(self, data: Any, **kwargs: Any) -> Any:
        """Map v3 names (``sender``, ``messageCount``, ``platform{}``) and the Messages API's
        ``destination`` onto the v1 ones, and mark a seen-shaped report without ``event`` SEEN."""
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
        if "event" not in data and kind_of(data) == "seen":
            data["event"] = "SEEN"
            # The channels' own seen reports write the end user (who saw the message) in `from`
            # and the business number in `to` (docs/infobip.md): swapped, `to` is the message's
            # recipient and `sender` the business, as in every delivery report.
            data["from"], data["to"] = data.get("to"), data.get("from")
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

    @post_load
    def _final(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.setdefault("kind", "delivery") == "seen":
            # A seen report says the message was seen, not where its delivery stands.
            data.pop("status", None)
            data.pop("error", None)
            data["final"] = False
        else:
            data["final"] = is_final(data["status"]["group_name"], data["status"].get("id"))
        return data


class PushSchema(LeanSchema):
    """A push body: ``{"results": [report, ...]}``. Used for the OpenAPI document; the endpoint
    validates ``results`` as a list itself and each report on its own, so one bad report cannot
    reject its siblings."""

    results = fields.List(fields.Nested(ReportSchema), required=True)
