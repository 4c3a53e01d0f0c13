"""The marshmallow fields of Infobip's reports, and their bounds: ids that fit a Java int, money
that fits a price, text that is upper-cased, numbers written as text (XML), and the event kind.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields

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
