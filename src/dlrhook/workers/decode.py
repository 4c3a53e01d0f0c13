"""Reading claimed stream entries back into reports, and quarantining the ones that cannot be.

Each entry of ``dlrhook:reports`` is ``{w: <wire JSON>}`` (:func:`dlrhook.report.DeliveryReport.from_wire`
rebuilds the report). An entry that does not parse or rebuild, whatever the reason (a torn or
older wire form, bytes that are no JSON or no text, a value of another type, a wire nesting
deeper than :data:`MAX_WIRE_DEPTH` levels, which no retry job or dead letter could write again),
is never given to a handler: it goes to the quarantine with its raw report
(:func:`dlrhook.quarantine.unreadable_entry`) and is acknowledged in the same transaction, so it
holds back neither its handler nor the stream's trimming; its siblings are delivered as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dlrhook import quarantine
from dlrhook.report import KINDS, DeliveryReport

log = logging.getLogger("dlrhook.dispatch")

#: A claimed stream entry: its id and its fields.
Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass
class Item:
    """A report being delivered: its stream entry id (None for a retry job), wire and object."""

    entry_id: bytes | None
    wire: dict[str, Any]
    report: DeliveryReport


@dataclass
class Unreadable:
    """A claimed entry that is no report: its id, its raw wire text and why it cannot be read."""

    entry_id: bytes
    raw: bytes | str
    error: str


def items(entries: list[Entry]) -> tuple[list[Item], list[Unreadable]]:
    """The reports of *entries*, in order, and the entries that could not be read."""
    out: list[Item] = []
    unreadable: list[Unreadable] = []
    raw: list[Any] = [fields.get(b"w", b"") for _, fields in entries]
    for (eid, _), item, wire in zip(entries, raw, _decode_all(raw), strict=True):
        if isinstance(wire, _Failed):
            unreadable.append(Unreadable(eid, item, wire.error))
            continue
        try:
            report = DeliveryReport.from_wire(wire)
            _check(report)
        except Exception as exc:  # whatever rebuilding raises, the entry is no report
            unreadable.append(Unreadable(eid, item, f"{type(exc).__name__}: {exc}"[:500]))
            continue
        out.append(Item(eid, wire, report))
    return out, unreadable


def _check(report: DeliveryReport) -> None:
    """Refuse (TypeError) a rebuilt report whose fields the worker itself relies on (its key in
    Redis commands, its message id in logs, its kind and channel) are not what ingest writes:
    ``from_wire`` trusts the wire's types, and an entry written by hand may have any."""
    for name in ("key", "message_id", "channel", "source"):
        if not isinstance(getattr(report, name), str):
            raise TypeError(f"{name} is not text")
    if report.kind not in KINDS or not isinstance(report.raw, dict):
        raise TypeError("kind or raw of the wrong type")


def quarantine_unreadable(pipe: Any, entry: Unreadable) -> None:
    """Quarantine, in *pipe*, a wire report the worker cannot rebuild, with its raw report."""
    qid, text = quarantine.unreadable_entry(entry.raw, entry.error)
    quarantine.add(pipe, qid, text)
    log.error("quarantined a report the worker could not read: %s", entry.error)


#: Levels a wire may nest (the raw report's own included): ingest's limits keep real wires
#: far below it; deeper ones could not be written again into a retry job or a dead letter.
MAX_WIRE_DEPTH = 100


@dataclass
class _Failed:
    error: str


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _decode_all(raw: Sequence[bytes | str]) -> list[Any]:
    """Parse each wire (the C scanner straight on its text: as fast as one ``json.loads`` of
    them all joined, which an entry holding ``1,2`` could shift onto its neighbours); one that
    does not parse, or nests too deep, comes back as a :class:`_Failed`."""
    out: list[Any] = []
    for item in raw:
        try:
            text = item.decode() if isinstance(item, bytes) else item
            try:
                value, end = _scan(text, 0)
            except StopIteration:
                value, end = json.loads(text), len(text)  # leading space, or no JSON: json says why
            if end != len(text) and text[end:].strip():
                raise ValueError(f"extra data at character {end}")
            if (text.count("[") + text.count("{") > MAX_WIRE_DEPTH) and _depth(value) > MAX_WIRE_DEPTH:
                raise ValueError(f"the wire nests deeper than {MAX_WIRE_DEPTH} levels")
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            out.append(_Failed(f"unparsable: {type(exc).__name__}: {exc}"[:500]))
            continue
        out.append(value)
    return out


def _depth(value: Any) -> int:
    """How many levels of lists and objects *value* nests (without recursion)."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in node if isinstance(child, (dict, list)))
    return deepest
