"""Quarantine entries: a report that cannot be delivered as it is, kept raw with the reason.

Two places quarantine a report: ingest, when it fails validation (it was never accepted), and a
worker, when it cannot rebuild a wire report ingest had accepted. Both build the entry with
:func:`quarantine_entry`, so an entry has one shape wherever it comes from; where and for how
long entries are kept is the store's business, not this module's.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

from dlrhook.report import dumps

#: The ``errors`` key of an entry a worker made for a report ingest had already accepted. Such a
#: report's dedup mark was set when it was accepted, so replaying it must forget that mark.
UNREADABLE_WIRE = "_wire"


def new_quarantine_id() -> str:
    """Time-ordered, unique: ``q-<ms since epoch>-<random>``."""
    return f"q-{int(time.time() * 1000):013d}-{secrets.token_hex(4)}"


def quarantine_entry(
    raw: Any, errors: Any, source: str, received_at: datetime | str, *, channel: str | None = None
) -> tuple[str, str]:
    """A new entry's ``(id, JSON text)``: ``{"id", "raw", "errors", "source", "received_at"}``,
    and ``"channel"`` when known (the one the URL or pull path named, for a replay).

    *raw* is the report as received (any JSON value, Decimals included), *errors* the field
    errors by name (marshmallow's form) or ``{UNREADABLE_WIRE: [why]}``, *received_at* a time or
    its ISO text.
    """
    qid = new_quarantine_id()
    when = received_at.isoformat() if isinstance(received_at, datetime) else received_at
    entry = {"id": qid, "raw": raw, "errors": errors, "source": source, "received_at": when}
    if channel is not None:
        entry["channel"] = channel
    return qid, dumps(entry)


def accepted_before(entry: dict[str, Any]) -> bool:
    """True for an entry a worker made: its report was accepted (and its dedup mark set) first."""
    errors = entry.get("errors")
    return isinstance(errors, dict) and UNREADABLE_WIRE in errors
