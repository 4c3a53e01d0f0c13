"""Per-report CPU of the two hot paths, in-process: the web's validation and the worker's rebuild.

    python -m bench.hotpath [--reports 2000] [--repeat 30]

``ReportSchema().load`` is what ingest spends on each pushed report; ``DeliveryReport.from_wire``
is what a worker spends rebuilding one from the queue. The reports are ``dlrhook simulate``'s
realistic v1 reports (its default status mix, a fixed seed). The figure is the best of
*repeat* runs, so noise from other processes on the machine counts as little as it can;
``marshmallow's own loop`` is the same schema without its one marshmallow adapter, for scale.
"""

from __future__ import annotations

import argparse
import json
import random
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema

from dlrhook import schemas
from dlrhook.dev.simulate import generate, parse_mix
from dlrhook.parsing import parse_json
from dlrhook.report import DeliveryReport
from dlrhook.wire import dumps, report_key, wire_from_loaded


def _plain(cls: type[Schema]) -> type[Schema]:
    return type(f"Plain{cls.__name__}", (cls,), {"_deserialize": Schema._deserialize})


def _marshmallows_own_loop() -> Schema:
    """ReportSchema loading through marshmallow's own field loop (as tests/unit/test_schemas.py builds it)."""

    class Plain(_plain(schemas.ReportSchema)):  # type: ignore[misc]
        price = schemas.SharedNested(_plain(schemas.PriceSchema), allow_none=True)
        status = schemas.SharedNested(_plain(schemas.StatusSchema), required=True)
        error = schemas.SharedNested(_plain(schemas.ErrorSchema), allow_none=True)

    return Plain()


def best_per_item(work: Callable[[], Any], items: int, repeat: int) -> float:
    """Microseconds per item of the fastest of *repeat* runs of *work*."""
    return min(timeit.repeat(work, number=1, repeat=repeat)) / items * 1e6


def main() -> None:
    """Print microseconds per report for each hot path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    reports, _ = generate(args.reports, mix=parse_mix(None), duplicates=0, v3=False, rng=random.Random(7))
    raws = parse_json(json.dumps({"results": reports}).encode())["results"]
    schema, reference = schemas.ReportSchema(), _marshmallows_own_loop()
    now = datetime.now(UTC)
    loaded = [schema.load(raw) for raw in raws]
    wires = [
        json.loads(dumps(wire_from_loaded(item, raw, key=report_key(item), source="push", received_at=now)))
        for item, raw in zip(loaded, raws, strict=True)
    ]
    n, r = args.reports, args.repeat
    rows: dict[str, Callable[[], Any]] = {
        "ReportSchema().load": lambda: [schema.load(x) for x in raws],
        "  marshmallow's own loop": lambda: [reference.load(x) for x in raws],
        "DeliveryReport.from_wire": lambda: [DeliveryReport.from_wire(w) for w in wires],
    }
    for name, work in rows.items():
        print(f"{name:28}{best_per_item(work, n, r):6.2f} us/report")


if __name__ == "__main__":
    main()
