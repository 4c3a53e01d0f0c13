"""Push bodies: reports as Infobip's JSON or XML form."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape


def _xml_value(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_xml_value(k, v) for k, v in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def encode(reports: list[dict[str, Any]], fmt: str, v3: bool = False, root: str | None = None) -> bytes:
    """One push body: ``{"results": [...]}``, or XML under *root* (default ``reportResponse``,
    v3 ``DeliveryReports``); the Messages API's root writes each report as ``<results>``. An
    Email user event is a body of its own: one flat JSON object (:func:`encode_event`)."""
    if fmt == "json":
        return json.dumps({"results": reports}, separators=(",", ":")).encode()
    root = root or ("DeliveryReports" if v3 else "reportResponse")
    item = "results" if root == "MessagesApiDeliveryReportResponse" else "result"
    results = "".join(_xml_value(item, r) for r in reports)
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}><results>{results}</results></{root}>'.encode()


def encode_event(event: dict[str, Any]) -> bytes:
    """An Email user event's push body: the event itself, as Infobip pushes it (no ``results``)."""
    return json.dumps(event, separators=(",", ":")).encode()
