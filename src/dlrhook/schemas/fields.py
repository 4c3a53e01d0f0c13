"""The marshmallow fields of Infobip's reports, and their bounds: ids that fit a Java int, money
that fits a double, text that is upper-cased, numbers written as text (XML), identifiers that
may be numbers, and the report's kind.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields

#: The range of ids, group ids and counts: Infobip's spec declares them ``int32`` (Java ints).
#: Unknown statuses pass through, so the bound is the type's, not the table's in docs/infobip.md.
MIN_INT = -(2**31)
MAX_INT = 2**31 - 1
#: Longest number literal read (JSON number, or XML/JSON text of a price): the exact decimal
#: expansion of any 64-bit double (at most 767 significant digits, 1,074 places), which is what a
#: Java ``BigDecimal(double)`` writes, fits. A longer literal is not a number Infobip wrote.
MAX_NUMBER_LENGTH = 1100
#: A price written with more significant digits than a double holds (17) is the exact expansion
#: of a double (``0.01000000000000000020816681711721685132943093776702880859375``): it is read
#: as the shortest decimal that is the same double (``0.01``). Shorter prices are read exactly.
DOUBLE_DIGITS = 17


def _between(value: Any, low: int, high: int) -> bool:
    """``low <= value <= high`` for a float or Decimal; False for NaN (a Decimal NaN raises)."""
    try:
        return bool(low <= value <= high)
    except ArithmeticError:
        return False


#: Longest text read, by kind: Infobip's own limits where its spec declares one (``messageId``
#: 200 characters, ``bulkId`` 100, ``callbackData`` 4,000, ``entityId``/``applicationId`` 255),
#: with room to spare elsewhere. A longer string is not something Infobip wrote: its report is
#: quarantined, the error naming the limit. (Unmapped fields, kept in ``raw``, are bounded with
#: the whole report: :data:`dlrhook.defaults.MAX_REPORT_BYTES`.)
MAX_ID = 200
MAX_CALLBACK_DATA = 4000
#: ``to``/``from``: a phone number (the spec: 64), an email address (RFC 5321: 320), a sender name.
MAX_ADDRESS = 320
#: An Email user event's clicked ``url``.
MAX_URL = 8192
#: Every other text field (names, descriptions, currencies, references).
MAX_TEXT = 1000


class String(fields.String):
    """Text of at most *max_length* characters (:data:`MAX_TEXT` unless the field says)."""

    default_error_messages = {"too_long": "Longer than {max} characters: at most {max} are read."}

    def __init__(self, *, max_length: int = MAX_TEXT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.max_length:
            raise self.make_error("too_long", max=self.max_length)
        return text


Boolean = fields.Boolean
AwareDateTime = fields.AwareDateTime


class Integer(fields.Integer):
    """A whole number from :data:`MIN_INT` to :data:`MAX_INT` (an int32), given as a JSON number
    or as XML text.

    A float or Decimal is range-checked before it is converted: ``int(Decimal("1e300"))``
    builds a 301-digit number, and a million-digit one takes seconds.
    """

    default_error_messages = {"range": "Must be a whole number from {low} to {high}."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"minimum": MIN_INT, "maximum": MAX_INT, "format": "int32"})
        super().__init__(strict=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float | decimal.Decimal) and not _between(value, MIN_INT, MAX_INT):
            raise self.make_error("range", low=MIN_INT, high=MAX_INT)
        number: int = super()._deserialize(value, attr, data, **kwargs)
        if not MIN_INT <= number <= MAX_INT:
            raise self.make_error("range", low=MIN_INT, high=MAX_INT)
        return number


class Decimal(fields.Decimal):
    """Money: a number a 64-bit double can hold (Infobip's spec: ``number``, ``format: double``),
    written in at most :data:`MAX_NUMBER_LENGTH` characters; marshmallow itself refuses NaN and
    Infinity. More than :data:`DOUBLE_DIGITS` significant digits are read as the shortest
    decimal that is the same double; fewer, exactly as written."""

    default_error_messages = {
        "range": "Must be a number a 64-bit double can hold, written in at most {length} characters."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> decimal.Decimal:
        if isinstance(value, str | decimal.Decimal) and len(str(value)) > MAX_NUMBER_LENGTH:
            raise self.make_error("range", length=MAX_NUMBER_LENGTH)
        amount: decimal.Decimal = super()._deserialize(value, attr, data, **kwargs)
        try:
            as_float = float(amount)
        except (OverflowError, ValueError):  # pragma: no cover - float() of a finite Decimal saturates
            as_float = math.inf
        if math.isinf(as_float) or (as_float == 0.0 and amount != 0):
            raise self.make_error("range", length=MAX_NUMBER_LENGTH)
        if len(amount.as_tuple().digits) > DOUBLE_DIGITS:
            return decimal.Decimal(repr(as_float))
        return amount


class UpperString(String):
    """A string normalised to upper case: Infobip sends both ``"Ok"`` and ``"OK"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


class TextOrInt(String):
    """A string that Infobip sometimes sends as an integer (``mccMnc`` on the Messages API)."""

    default_error_messages = {"range": "Must be text or a whole number from {low} to {high}."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, float | decimal.Decimal) and _between(value, MIN_INT, MAX_INT) and value == int(value):
            value = int(value)  # 22801.0: a JSON integer written with a fraction
        if isinstance(value, int) and not isinstance(value, bool):
            if not MIN_INT <= value <= MAX_INT:
                raise self.make_error("range", low=MIN_INT, high=MAX_INT)
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Identifier(String):
    """An id that Infobip writes as text or as a number (the Email user events' ``messageId`` is
    ``number`` in the spec and text in its examples): a number becomes its literal's text
    (``1704106800000`` -> ``"1704106800000"``), so both spellings are one message."""

    default_error_messages = {"blank": "Must not be blank.", "invalid": "Must be text or a number."}

    def __init__(self, *, blank: bool = False, max_length: int = MAX_ID, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)
        self.blank = blank  # whether "" (or only spaces) is a value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int | decimal.Decimal | float):
            value = str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if not self.blank and not text.strip():
            raise self.make_error("blank")
        return text


class Kind(String):
    """The report's kind from the Messages API's ``event``: ``DELIVERY`` -> ``"delivery"``,
    ``SEEN`` -> ``"seen"`` (any case). Absent, ``ReportSchema`` reads the kind from the shape
    first (:func:`kind_of`): a seen report (``seenAt``, no ``status``), an Email user event
    (``notificationType``, no ``status``), else a delivery report."""

    default_error_messages = {"kind": "Must be DELIVERY or SEEN."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if text not in KINDS:
            raise self.make_error("kind")
        return KINDS[text]


#: Infobip's ``event`` values and the report kinds they are; ``USER_EVENT`` is dlrhook's own
#: mark of an Email user event (set from its shape, never by Infobip).
KINDS = {"DELIVERY": "delivery", "SEEN": "seen", "USER_EVENT": "event"}


def kind_of(raw: Mapping[str, Any]) -> str | None:
    """The kind a raw report claims to be: ``"delivery"``, ``"seen"``, ``"event"``, or None for
    an ``event`` that is none of them. A Messages API report says so in ``event``; an Email user
    event has ``notificationType`` and no ``status``; the channels' own seen reports (WhatsApp,
    Viber, RCS) have ``seenAt`` and no ``status``; anything else is a delivery report."""
    event = raw.get("event")
    if event is not None:
        return KINDS.get(event.strip().upper()) if isinstance(event, str) else None
    if "status" not in raw:
        if raw.get("notificationType") is not None:
            return "event"
        if raw.get("seenAt") is not None:
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
