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


def encode(reports: list[dict[str, Any]], fmt: str, v3: bool = False) -> bytes:
    """One push body: ``{"results": [...]}``, or XML (``reportResponse``, v3 ``DeliveryReports``)."""
    if fmt == "json":
        return json.dumps({"results": reports}, separators=(",", ":")).encode()
    root = "DeliveryReports" if v3 else "reportResponse"
    results = "".join(_xml_value("result", r) for r in reports)
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}><results>{results}</results></{root}>'.encode()
