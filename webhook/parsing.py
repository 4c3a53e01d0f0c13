"""Turn a push body (JSON or XML bytes) into the list of raw reports it carries.

Pure functions, no Flask: the poller parses Infobip's pull pages with :func:`parse_json` too.
Every failure is a :class:`PushRejected` whose ``kind`` the web maps to a status code.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from dlrhook.defaults import MAX_DEPTH
from dlrhook.errors import PushRejected

JSON_TYPES = frozenset({"application/json"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
#: Root elements Infobip uses: v1 ``reportResponse``, v3 ``DeliveryReports``.
XML_ROOTS = frozenset({"reportResponse", "DeliveryReports"})


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; a missing header is JSON."""
    if not content_type:
        return "application/json"
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None) -> list[Any]:
    """Return the ``results`` list of a push body; raise :class:`PushRejected` when there is none."""
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        return results_of(parse_json(body))
    if kind in XML_TYPES or kind.endswith("+xml"):
        return parse_xml(body)
    raise PushRejected("unsupported_type", f"content type {kind!r} is not application/json or application/xml")


def parse_json(body: bytes) -> Any:
    """Decode a JSON document; numbers with a fraction become Decimal, so money stays exact."""
    if not body.strip():
        raise PushRejected("bad_body", "the body is empty; expected a JSON object with a results list")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushRejected("bad_body", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise PushRejected(
            "bad_body", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise PushRejected("bad_body", "the body nests too deeply to be a delivery report") from None
    except ValueError:
        # An integer longer than Python's int-conversion limit (4300 digits): not a report.
        raise PushRejected("bad_body", "the body holds a number too long to be read") from None


def results_of(document: Any) -> list[Any]:
    """The ``results`` list of a decoded document."""
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


def parse_xml(body: bytes) -> list[Any]:
    """Parse an Infobip XML push into raw report dicts (every leaf is text, as in XML).

    defusedxml refuses DTDs, entity declarations and external references: a billion-laughs
    body fails here, before any expansion.
    """
    if not body.strip():
        raise PushRejected("bad_body", "the body is empty; expected an XML document with <results>")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise PushRejected(
            "bad_body", f"the XML body is refused: {type(exc).__name__} (DTDs and entities are not accepted)"
        ) from None
    except SafeET.ParseError as exc:
        raise PushRejected("bad_body", f"the body is not valid XML: {exc}") from None
    if root.tag not in XML_ROOTS:
        raise PushRejected(
            "bad_body", f"unexpected XML root <{root.tag}>; expected <reportResponse> or <DeliveryReports>"
        )
    results = root.find("results")
    if results is None:
        raise PushRejected(
            "bad_body", "the XML body has no <results> element", {"results": ["Missing data for required field."]}
        )
    return [_element_value(child, 1) if child.tag == "result" else None for child in results]


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
