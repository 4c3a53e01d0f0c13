"""marshmallow schemas for Infobip delivery reports, v1 and v3 field names alike.

``ReportSchema().load(raw)`` turns one raw report (from JSON or from XML, where every leaf is
text) into a plain dict with snake_case keys, aware datetimes and Decimal money. The same
schemas document the API in ``/openapi.json``, so the document cannot drift from validation.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing, post_load, pre_load, validates_schema
from marshmallow.utils import set_value

from dlrhook.report import is_final

#: Largest id, group id or count a report may carry: Infobip's ids are (Java) ints. Unknown
#: statuses pass through, so the bound is the type's, not the table's in docs/infobip.md.
MAX_INT = 2**31 - 1
#: A price is money per message: at most a billion either side of zero in any currency, to at most this many places.
MAX_PRICE = 10**9
MAX_PRICE_PLACES = 20


def _between(value: Any, low: int, high: int) -> bool:
    """``low <= value <= high`` for a float or Decimal; False for NaN (a Decimal NaN raises)."""
    try:
        return bool(low <= value <= high)
    except ArithmeticError:
        return False


String = fields.String
Boolean = fields.Boolean
AwareDateTime = fields.AwareDateTime


class Integer(fields.Integer):
    """A whole number from 0 to :data:`MAX_INT`, given as a JSON number or as XML text.

    A float or Decimal is range-checked before it is converted: ``int(Decimal("1e300"))``
    builds a 301-digit number, and a million-digit one takes seconds.
    """

    default_error_messages = {"range": "Must be a whole number from 0 to {high}."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"minimum": 0, "maximum": MAX_INT})
        super().__init__(strict=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float | decimal.Decimal) and not _between(value, 0, MAX_INT):
            raise self.make_error("range", high=MAX_INT)
        number: int = super()._deserialize(value, attr, data, **kwargs)
        if not 0 <= number <= MAX_INT:
            raise self.make_error("range", high=MAX_INT)
        return number


class Decimal(fields.Decimal):
    """Money: a finite Decimal of at most :data:`MAX_PRICE` in size, with at most
    :data:`MAX_PRICE_PLACES` decimal places (marshmallow itself refuses NaN and Infinity)."""

    default_error_messages = {
        "range": "Must be an amount between -{high} and {high} with at most {places} decimal places."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> decimal.Decimal:
        amount: decimal.Decimal = super()._deserialize(value, attr, data, **kwargs)
        exponent = amount.as_tuple().exponent
        if not _between(amount, -MAX_PRICE, MAX_PRICE) or not isinstance(exponent, int) or exponent < -MAX_PRICE_PLACES:
            raise self.make_error("range", high=MAX_PRICE, places=MAX_PRICE_PLACES)
        return amount


class UpperString(String):
    """A string normalised to upper case: Infobip sends both ``"Ok"`` and ``"OK"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


class TextOrInt(String):
    """A string that Infobip sometimes sends as an integer (``mccMnc`` on the Messages API)."""

    default_error_messages = {"range": "Must be text or a whole number from 0 to {high}."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= MAX_INT:
                raise self.make_error("range", high=MAX_INT)
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Kind(String):
    """The report's kind from the Messages API's ``event``: ``DELIVERY`` -> ``"delivery"``,
    ``SEEN`` -> ``"seen"`` (any case). Absent, a report is a delivery report; ``ReportSchema``
    marks one shaped like a seen report (``seenAt`` and no ``status``) as ``SEEN`` first."""

    default_error_messages = {"kind": "Must be DELIVERY or SEEN."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if text not in KINDS:
            raise self.make_error("kind")
        return KINDS[text]


#: Infobip's ``event`` values and the report kinds they are.
KINDS = {"DELIVERY": "delivery", "SEEN": "seen"}


def kind_of(raw: Mapping[str, Any]) -> str | None:
    """The kind a raw report claims to be: ``"delivery"``, ``"seen"``, or None for an ``event``
    that is neither. A Messages API report says so in ``event``; the channels' own seen reports
    (WhatsApp, Viber, RCS) have ``seenAt`` and no ``status``; anything else is a delivery report."""
    event = raw.get("event")
    if event is not None:
        return KINDS.get(event.strip().upper()) if isinstance(event, str) else None
    if raw.get("seenAt") is not None and "status" not in raw:
        return "seen"
    return "delivery"


class SharedNested(fields.Nested):
    """A nested object whose load result is remembered by value.

    ``status``, ``error`` and ``price`` repeat across nearly every report of a campaign: the
    same input dict always loads to the same output (these schemas are pure functions of it),
    so each distinct one is validated by marshmallow once and reused, which cuts the per-report
    cost of validation by about half. Only successes are remembered; the memory is bounded.
    """

    MAX_REMEMBERED = 4096

    def __init__(self, nested: type[Schema], **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self._remembered: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _deserialize(self, value: Any, attr: str | None, data: Any, partial: Any = None, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            return super()._deserialize(value, attr, data, partial=partial, **kwargs)
        try:
            # The type is part of the key: 1, 1.0 and True are equal, and hash alike, in Python.
            key = (*value.items(), *map(type, value.values()))
            hit = self._remembered.get(key)
        except TypeError:  # an unhashable value (a list, a dict): validate, do not remember
            return super()._deserialize(value, attr, data, partial=partial, **kwargs)
        if hit is not None:
            return dict(hit)
        loaded = super()._deserialize(value, attr, data, partial=partial, **kwargs)
        if len(self._remembered) >= self.MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[key] = dict(loaded)
        return loaded


def _in_utc_range(value: datetime) -> None:
    """Reject times that exist only in their own offset (0001-01-01T00:00+0100): they have no UTC."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValidationError("The time is out of range once converted to UTC.") from None


class _Base(Schema):
    """marshmallow's Schema with a leaner field loop for the one way these schemas load.

    This is the one place dlrhook leans on marshmallow internals, and why ``pyproject.toml``
    pins ``marshmallow<5``: it overrides the private ``Schema._deserialize`` (marshmallow 4's
    signature). That loop makes a closure, a partial-loading check and a store call for every
    field of every report, and runs the whole field machinery for absent optional fields only
    to learn they are absent: about a third of what loading a report costs. For a single
    mapping, with no ``partial`` and unknown fields excluded (how ingest loads), the override
    calls the same public ``field.deserialize`` for every field present or required, and stores
    values and errors the same way; anything else goes to marshmallow's own loop.
    ``tests/test_schemas.py`` checks that both give the same results and errors; if a new
    marshmallow breaks it, deleting this method gives correct (slower) loading.
    """

    class Meta:
        unknown = EXCLUDE  # unknown fields are kept in the raw report, not here

    _lean_plan: list[tuple[str, str, fields.Field[Any], bool]] | None = None

    def _plan(self) -> list[tuple[str, str, fields.Field[Any], bool]]:
        """(data key, attribute, field, may skip when absent) for every load field."""
        if self._lean_plan is None:
            plan = []
            for attr_name, field_obj in self.load_fields.items():
                data_key = field_obj.data_key if field_obj.data_key is not None else attr_name
                key = field_obj.attribute or attr_name
                # Absent, Field.deserialize returns load_default (missing: nothing is stored) and
                # raises only for a required field.
                skip = not field_obj.required and field_obj.load_default is missing
                plan.append((data_key, key, field_obj, skip))
            self._lean_plan = plan
        return self._lean_plan

    def _deserialize(
        self,
        data: Any,
        *,
        error_store: Any,
        many: bool = False,
        partial: Any = None,
        unknown: Any = RAISE,
        index: int | None = None,
    ) -> Any:
        if many or partial is not None or unknown != EXCLUDE or not isinstance(data, Mapping):
            return super()._deserialize(
                data, error_store=error_store, many=many, partial=partial, unknown=unknown, index=index
            )
        index = index if self.opts.index_errors else None
        out = self.dict_class()
        for data_key, key, field_obj, skip in self._plan():
            raw_value = data.get(data_key, missing)
            if raw_value is missing and skip:
                continue
            try:
                value = field_obj.deserialize(raw_value, data_key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, data_key, index=index)
                value = error.valid_data or missing
            if value is not missing:
                set_value(out, key, value)
        return out


class PriceSchema(_Base):
    price_per_message = Decimal(data_key="pricePerMessage", allow_none=True)
    currency = String(allow_none=True)


class StatusSchema(_Base):
    group_id = Integer(data_key="groupId", required=True)
    group_name = UpperString(data_key="groupName", required=True)
    id = Integer(allow_none=True)
    name = String(allow_none=True)
    description = String(allow_none=True)
    action = String(allow_none=True)


class ErrorSchema(_Base):
    group_id = Integer(data_key="groupId", allow_none=True)
    group_name = UpperString(data_key="groupName", allow_none=True)
    id = Integer(allow_none=True)
    name = String(allow_none=True)
    description = String(allow_none=True)
    permanent = Boolean(allow_none=True)


class ReportSchema(_Base):
    """One report, delivery or seen, of any channel.

    ``messageId`` is always required. A delivery report (``event: "DELIVERY"``, or no ``event``)
    requires ``status``; a seen report (``event: "SEEN"``, or ``seenAt`` without ``status``)
    requires ``seenAt`` and loads with no status and no error, whatever it carries. The
    Messages API's ``destination`` is read as ``to``, and a channel seen report's ``from`` (the
    end user) as ``to``; ``channel`` is upper-cased and, when the body has none, set by ingest
    from the URL or the pull path.
    """

    message_id = String(data_key="messageId", required=True, validate=lambda s: bool(s.strip()))
    bulk_id = String(data_key="bulkId", allow_none=True)
    to = String(allow_none=True)
    sender = String(data_key="from", allow_none=True)
    sent_at = AwareDateTime(data_key="sentAt", allow_none=True, validate=_in_utc_range)
    done_at = AwareDateTime(data_key="doneAt", allow_none=True, validate=_in_utc_range)
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
    channel = UpperString(allow_none=True, validate=lambda s: bool(s.strip()))
    kind = Kind(data_key="event", metadata={"enum": ["DELIVERY", "SEEN"]})  # absent: "delivery" (_final)
    seen_at = AwareDateTime(data_key="seenAt", allow_none=True, validate=_in_utc_range)

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


class PushSchema(_Base):
    """A push body: ``{"results": [report, ...]}``. Used for the OpenAPI document; the endpoint
    validates ``results`` as a list itself and each report on its own, so one bad report cannot
    reject its siblings."""

    results = fields.List(fields.Nested(ReportSchema), required=True)


class PushAnswerSchema(Schema):
    """The 200 answer to a push."""

    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    quarantined = fields.Integer(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "field errors by report index, of the first 100 quarantined reports"},
    )
    errors_omitted = fields.Integer(
        data_key="errorsOmitted",
        metadata={"description": "quarantined reports whose errors the answer leaves out (over 100)"},
    )


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error answer carries them."""

    type = fields.String()
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "field errors, for validation problems"})
