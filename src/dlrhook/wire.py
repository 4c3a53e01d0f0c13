"""The wire form of a report: plain JSON that the web writes to Redis and workers read back.

The web validates a raw report once with marshmallow (``dlrhook.schemas``) and stores
:func:`wire_from_loaded` of the result. Workers rebuild the report with
:meth:`DeliveryReport.from_wire <dlrhook.report.DeliveryReport.from_wire>` (here
:func:`from_wire`), which trusts what the web validated and so costs microseconds, not
marshmallow's fraction of a millisecond.

The wire forms (:func:`wire_from_loaded`, :func:`to_wire`, :func:`from_wire`) are derived from
:class:`~dlrhook.report.DeliveryReport`'s own fields and types, once, at import. Wires already
queued stay readable: a field they lack is None, or its value in :data:`WIRE_DEFAULTS`
(reports queued before channels were read are SMS delivery reports). :func:`report_key` is a
report's identity, :func:`dumps` the JSON writer for values with Decimals.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, get_args, get_type_hints

from dlrhook.channels import DEFAULT_CHANNEL
from dlrhook.report import DeliveryReport

T = TypeVar("T")


def report_key(loaded: dict[str, Any]) -> str:
    """The stable identity of a validated report.

    A delivery report's is its message id, status, error and done time, as before channels
    were read (so a report seen before an upgrade is still a duplicate after it); a seen
    report's is its message id, the word ``seen`` and its seen time, so it is never a duplicate
    of its message's delivery report. The channel is not part of it: one message has one
    channel, and a report pushed to ``/notify`` and pulled from ``/viber/2/reports`` is one
    report. Times are compared in UTC, so ``+0100`` and ``+01:00`` spellings are one report.
    An Email user event's is its ``eventId`` (Infobip: "can be used for deduplication"), with
    its message id and event name (the spec's own examples give five different events one
    ``eventId``); one without (the spec requires none) is identified by message id, event, url
    and recipient.
    """
    if loaded.get("kind") == "event":
        event_id = loaded.get("event_id")
        if event_id is not None and event_id.strip():
            parts: tuple[str, ...] = (loaded["message_id"], "event", str(loaded.get("event")), event_id)
        else:
            parts = (
                loaded["message_id"],
                "event",
                str(loaded.get("event")),
                str(loaded.get("url")),
                str(loaded.get("to")),
            )
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    if loaded.get("kind") == "seen":
        seen = loaded.get("seen_at")
        parts = (loaded["message_id"], "seen", seen.astimezone(UTC).isoformat() if seen else "")
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    status = loaded["status"]
    error = loaded.get("error") or {}
    done = loaded.get("done_at")
    parts = (
        loaded["message_id"],
        str(status.get("group_id")),
        str(status.get("id")),
        str(error.get("group_id")),
        str(error.get("id")),
        done.astimezone(UTC).isoformat() if done else "",
    )
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def wire_from_loaded(
    loaded: dict[str, Any], raw: dict[str, Any], *, key: str, source: str, received_at: datetime
) -> dict[str, Any]:
    """The wire form of a report that ``ReportSchema().load`` returned.

    Optional fields that are absent or null are left out: every byte here is written by the web,
    kept in Redis and parsed again by a worker.
    """
    r: dict[str, Any] = {}
    for name in _WIRE.order:
        value = loaded.get(name)
        if value is not None:
            r[name] = _to_json(value, _WIRE.nested.get(name))
    return {"key": key, "source": source, "received_at": received_at.isoformat(), "report": r, "raw": raw}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Raw reports keep JSON numbers as numbers: only parse_float makes Decimals, so each
        # one was a JSON float, and float() gives back the same shortest repr. parse_float
        # refuses what a float cannot hold; a Decimal from elsewhere past that is kept as text
        # rather than written as the non-JSON Infinity.
        as_float = float(value)
        return as_float if math.isfinite(as_float) else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """Compact JSON that accepts the Decimals ``dlrhook.parsing.parse_json`` produces."""
    return json.dumps(value, separators=(",", ":"), default=_json_default, ensure_ascii=False)


#: Status, Error and Price objects already built, by their wire dict. They are frozen, and the
#: same few repeat across nearly every report of a batch, so reports share them: building them
#: was a third of what rebuilding a report costs a worker.
_SHARED_MAX = 4096
_shared_objects: dict[tuple[Any, ...], Any] = {}
_last_received_at: tuple[str, datetime] | None = None


def _shared(make: Callable[..., T], values: dict[str, Any]) -> T:
    """``make(**values)``, or the equal object made before (types are part of the key: 1 == True)."""
    try:
        key = (make, *values.items(), *map(type, values.values()))
        hit = _shared_objects.get(key)
    except TypeError:  # an unhashable value: make it, do not remember it
        return make(**values)
    if hit is None:
        hit = make(**values)
        if len(_shared_objects) >= _SHARED_MAX:
            _shared_objects.clear()
        _shared_objects[key] = hit
    return hit


def _received_at(value: str) -> datetime:
    """``datetime.fromisoformat``, remembering the last one: a batch's reports share it."""
    global _last_received_at
    last = _last_received_at
    if last is not None and last[0] == value:
        return last[1]
    parsed = datetime.fromisoformat(value)
    _last_received_at = (value, parsed)
    return parsed


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _to_json(value: Any, nested: type | None = None) -> Any:
    """A field's value in its wire form: times as ISO text, money as Decimal text, a Status, Error
    or Price (or the dict the schema loaded for one, of that *nested* type) as a dict of its fields."""
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        names = _field_names(nested) if nested else tuple(value)
        return {name: _to_json(value.get(name)) for name in names}
    return {name: _to_json(getattr(value, name)) for name in _field_names(type(value))}


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _nested_maker(cls: type[T]) -> Callable[..., T]:
    """``cls(**wire dict)``: Decimal fields from their text, keys it does not have ignored."""
    hints = get_type_hints(cls)
    names = set(_field_names(cls))
    money = {name for name in names if _base_type(hints[name]) is Decimal}

    def make(**values: Any) -> T:
        kwargs = {k: (_dec(v) if k in money else v) for k, v in values.items() if k in names}
        return cls(**kwargs)

    make.__qualname__ = f"make_{cls.__name__}"
    return make


def _base_type(hint: Any) -> Any:
    """``X | None`` -> ``X``; any other hint as it is."""
    args = [a for a in get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 else hint


@dataclass(frozen=True)
class _WirePlan:
    """The report fields of the wire form, derived once from :class:`DeliveryReport`'s own fields.

    ``order``: every report field, in the dataclass's order; ``plain``: those whose JSON value is
    the attribute itself (text, numbers, booleans); ``rebuilt``: (name, function from the wire
    value) for the others (times, Status, Error, Price); ``nested``: the dataclass of each nested
    object; ``required``: the fields whose type does not admit None (a wire without one is not a
    report). The envelope (key, source, received_at, raw) sits beside ``report``, not in it.
    """

    order: tuple[str, ...]
    plain: tuple[str, ...]
    rebuilt: tuple[tuple[str, Callable[[Any], Any]], ...]
    nested: dict[str, type]
    required: tuple[str, ...]

    @classmethod
    def of(cls, report_cls: type) -> _WirePlan:
        hints = get_type_hints(report_cls)
        order: list[str] = []
        plain: list[str] = []
        rebuilt: list[tuple[str, Callable[[Any], Any]]] = []
        nested: dict[str, type] = {}
        required: list[str] = []
        for f in dataclasses.fields(report_cls):
            if f.name in _ENVELOPE:
                continue
            order.append(f.name)
            if type(None) not in get_args(hints[f.name]) and f.name not in WIRE_DEFAULTS:
                required.append(f.name)
            kind = _base_type(hints[f.name])
            if kind is datetime:
                rebuilt.append((f.name, datetime.fromisoformat))
            elif dataclasses.is_dataclass(kind) and isinstance(kind, type):
                make = _nested_maker(kind)
                rebuilt.append((f.name, functools.partial(_shared, make)))
                nested[f.name] = kind
            else:
                plain.append(f.name)
        return cls(tuple(order), tuple(plain), tuple(rebuilt), nested, tuple(required))


def _compile_from_wire(plan: _WirePlan) -> Callable[[type[DeliveryReport], dict[str, Any]], DeliveryReport]:
    """``from_wire`` written out for the plan's fields, as ``dataclasses`` writes ``__init__``.

    It is a worker's hot path (a few microseconds a report): one call with every field a keyword,
    no loop, the same code as written by hand, and still derived from the dataclass. A required
    field missing from the wire raises KeyError (the worker quarantines such a wire).
    """
    namespace: dict[str, Any] = {"_received_at": _received_at}
    rebuilt = dict(plan.rebuilt)
    arguments = []
    for name in plan.order:
        if name in plan.required:
            get = f"r[{name!r}]"
        elif name in WIRE_DEFAULTS:
            get = f"r.get({name!r}, {WIRE_DEFAULTS[name]!r})"
        else:
            get = f"r.get({name!r})"
        if name in rebuilt:
            namespace[f"_rebuild_{name}"] = rebuilt[name]
            value = (
                f"_rebuild_{name}({get})" if name in plan.required else f"_rebuild_{name}(v) if (v := {get}) else None"
            )
        else:
            value = get
        arguments.append(f"        {name}={value},")
    source = "\n".join(
        [
            "def from_wire(cls, wire):",
            "    r = wire['report']",
            "    return cls(",
            "        key=wire['key'],",
            "        source=wire['source'],",
            "        received_at=_received_at(wire['received_at']),",
            *arguments,
            "        raw=wire['raw'],",
            "    )",
        ]
    )
    exec(compile(source, f"<dlrhook.wire from_wire: {', '.join(plan.order)}>", "exec"), namespace)  # noqa: S102  # our own field names
    return namespace["from_wire"]  # type: ignore[no-any-return]


#: Values of fields a wire written before they existed lacks: such a report came from the SMS
#: notify URL or the SMS reports path, and was a delivery report.
WIRE_DEFAULTS: dict[str, str] = {"channel": DEFAULT_CHANNEL, "kind": "delivery"}

#: Fields of DeliveryReport that are not in the wire's ``report`` object.
_ENVELOPE = frozenset({"key", "source", "received_at", "raw"})
_WIRE = _WirePlan.of(DeliveryReport)
#: ``from_wire(cls, wire)``: a report rebuilt from :func:`wire_from_loaded` or :func:`to_wire` output.
from_wire = _compile_from_wire(_WIRE)


def to_wire(report: DeliveryReport) -> dict[str, Any]:
    """The plain-JSON form of *report*, as stored on the queue (retries, dead letters), every field present."""
    r = {name: getattr(report, name) for name in _WIRE.plain}
    for name, _ in _WIRE.rebuilt:
        r[name] = _to_json(getattr(report, name))
    return {
        "key": report.key,
        "source": report.source,
        "received_at": report.received_at.isoformat(),
        "report": {name: r[name] for name in _WIRE.order},
        "raw": report.raw,
    }
