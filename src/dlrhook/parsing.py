"""Turn a push body (JSON or XML bytes) into the list of raw reports it carries.

Pure functions, no Flask: the poller parses Infobip's pull pages with :func:`parse_json` too.
Every failure is a :class:`PushRejected` whose ``kind`` the web maps to a status code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sized
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeVar
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from dlrhook import bounds
from dlrhook.defaults import MAX_DEPTH
from dlrhook.errors import PushRejected
from dlrhook.schemas.fields import MAX_NUMBER_LENGTH

_Sized = TypeVar("_Sized", bound=Sized)

JSON_TYPES = frozenset({"application/json"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
#: Tags of the elements that hold one report inside ``<results>``: each API of Infobip's spec
#: names its XML root differently (``reportResponse``, ``DeliveryReports``, ``MmsReportRequest``,
#: ``RcsWebhookDeliveryReports``, ...), and some write each report as a ``<results>`` element
#: inside ``<results>``: any root is read, and items of either tag.
XML_ITEMS = frozenset({"result", "results"})


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; a missing header is JSON."""
    if not content_type:
        return "application/json"
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None, max_reports: int | None = None) -> list[Any]:
    """Return the ``results`` list of a push body; raise :class:`PushRejected` when there is none,
    or when it holds more than *max_reports* reports (``too_many_reports``)."""
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        return _at_most(results_of(parse_json(body)), max_reports)
    if kind in XML_TYPES or kind.endswith("+xml"):
        return parse_xml(body, max_reports)
    raise PushRejected("unsupported_type", f"content type {kind!r} is not application/json or application/xml")


class _BadNumber(Exception):
    """A number literal no report field could hold; the parse becomes a ``bad_body`` rejection."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _quote(text: str) -> str:
    """A hostile literal, cut short enough to echo in an answer."""
    return text if len(text) <= 32 else text[:24] + "..." + text[-5:]


def _decimal(text: str) -> Decimal:
    """``parse_float``: a JSON number with a fraction or an exponent, as an exact Decimal.

    Only numbers a 64-bit float can hold are read (finite, and not a non-zero that rounds to
    zero): Infobip's numbers are small counts and prices, and anything past that (``1e1000000``,
    ``-1e400``) would cost seconds or raise wherever it is converted or written back as JSON.
    A literal longer than ``MAX_NUMBER_LENGTH`` (room for the exact expansion of any double) is
    refused before it is converted, so the work each literal costs is bounded.
    """
    if len(text) > MAX_NUMBER_LENGTH:
        raise _BadNumber(
            f"the body holds a number written in {len(text)} characters: {_quote(text)} (at most {MAX_NUMBER_LENGTH})"
        )
    try:
        value = Decimal(text)
        as_float = float(text)
    except InvalidOperation:  # an exponent beyond what Decimal can represent at all
        as_float = math.inf
    if math.isinf(as_float) or (as_float == 0.0 and value != 0):
        raise _BadNumber(f"the body holds a number out of range: {_quote(text)} (numbers must fit a 64-bit float)")
    return value


def _constant(name: str) -> NoReturn:
    """``parse_constant``: Python's json reads NaN and Infinity, which JSON does not have."""
    raise _BadNumber(f"the body holds {name}, which is not a JSON number")


def parse_json(body: bytes) -> Any:
    """Decode a JSON document; numbers with a fraction become Decimal, so money stays exact.

    ``NaN``, ``Infinity`` and numbers out of a 64-bit float's range make it a ``bad_body``
    rejection, decided in microseconds: no such number ever reaches a schema or a worker; so do
    a nesting deeper than ``MAX_DEPTH`` and a string that is not text (:mod:`dlrhook.bounds`).
    """
    if not body.strip():
        raise PushRejected("bad_body", "the body is empty; expected a JSON object with a results list")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushRejected("bad_body", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_float=_decimal, parse_constant=_constant)
    except _BadNumber as exc:
        raise PushRejected("bad_body", exc.detail) from None
    except json.JSONDecodeError as exc:
        raise PushRejected(
            "bad_body", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise PushRejected("bad_body", f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        # An integer longer than Python's int-conversion limit (4300 digits): not a report.
        raise PushRejected("bad_body", "the body holds a number too long to be read") from None
    bounds.check_json(text, document)  # depth and lone surrogates (dlrhook.bounds)
    return document


def results_of(document: Any) -> list[Any]:
    """The ``results`` list of a decoded document; an Email user event (one flat object with
    ``notificationType`` and no ``results``, as Infobip pushes them) is a list of itself."""
    if isinstance(document, dict) and "results" not in document and "notificationType" in document:
        return [document]
    if not isinstance(document, dict):
        raise PushRejected(
            "bad_body",
            "the body must be a JSON object with a results list",
            {"results": ["Missing data for required field."]},
        )
    results = document.get("results")
    if results is None:
        raise PushRejected(
            "bad_body", "the body has no results list", {"results": ["Missing data for required field."]}
        )
    if not isinstance(results, list):
        raise PushRejected("bad_body", "results must be a list", {"results": ["Not a valid list."]})
    return results


def _at_most(results: _Sized, max_reports: int | None) -> _Sized:
    """*results* unchanged, or :class:`PushRejected` when it is longer than *max_reports*."""
    if max_reports is not None and len(results) > max_reports:
        raise PushRejected(
            "too_many_reports",
            f"the body holds {len(results)} reports; at most DLRHOOK_MAX_REPORTS ({max_reports}) are taken in one push",
        )
    return results


def parse_xml(body: bytes, max_reports: int | None = None) -> list[Any]:
    """Parse an Infobip XML push into raw report dicts (every leaf is text, as in XML).

    The root may have any name; its ``<results>`` child holds one element per report, named
    ``<result>`` or ``<results>`` (:data:`XML_ITEMS`); a root that is itself ``<results>`` holds
    them directly. More than *max_reports* items are refused before any is converted.

    defusedxml refuses DTDs, entity declarations and external references: a billion-laughs
    body fails here, before any expansion.
    """
    if not body.strip():
        raise PushRejected("bad_body", "the body is empty; expected an XML document with <results>")
    bounds.check_xml(body, max_reports)  # depth, reports and elements, before any tree is built
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise PushRejected(
            "bad_body", f"the XML body is refused: {type(exc).__name__} (DTDs and entities are not accepted)"
        ) from None
    except SafeET.ParseError as exc:
        raise PushRejected("bad_body", f"the body is not valid XML: {exc}") from None
    except (LookupError, ValueError) as exc:
        # expat reads UTF-8, UTF-16 and the single-byte encodings; UTF-7, UTF-32 or an unknown
        # name in the XML declaration cannot be read (LookupError, ValueError: it was a 500).
        raise PushRejected("bad_body", f"the XML body's declared encoding cannot be read: {exc}") from None
    results = root.find("results")
    if results is None and root.tag == "results":
        results = root
    if results is None:
        raise PushRejected(
            "bad_body",
            f"the XML body <{root.tag}> has no <results> element",
            {"results": ["Missing data for required field."]},
        )
    return [_element_value(child, 1) if child.tag in XML_ITEMS else None for child in _at_most(results, max_reports)]


def _element_value(element: Element, depth: int) -> Any:
    """An element with children becomes a dict (repeated tags become lists), a leaf its text."""
    if depth > MAX_DEPTH:
        raise PushRejected("bad_body", f"the XML body nests deeper than {MAX_DEPTH} levels")
    children = list(element)
    if not children:
        return element.text if element.text is not None else None
    out: dict[str, Any] = {}
    for child in children:
        value = _element_value(child, depth + 1)
        if child.tag in out:
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    return out
