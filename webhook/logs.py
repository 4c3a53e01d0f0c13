"""Logging: one JSON object per line on stdout; phone numbers masked, secrets never written.

Logging must never fail the work: a record that cannot be formatted is written as its message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def mask_phone(number: str | None) -> str | None:
    """``41793026727`` -> ``4179*****27``: enough to tell numbers apart, not to dial one."""
    if not number:
        return number
    if "@" in number:  # an email address on the email channel
        local, _, domain = number.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(number) <= 6:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with ``ts``, ``level``, ``logger``, ``msg`` and extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            return json.dumps(out, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            return json.dumps({"ts": out["ts"], "level": out["level"], "msg": str(out["msg"])})


def configure(level: str = "INFO") -> None:
    """Send every logger's records to stdout as JSON lines (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
