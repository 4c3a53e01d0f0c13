"""What one run sends: a weighted mix of kinds of message, in sending order, with re-sends."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from dlrhook.dev.simulate.channels import check_channel
from dlrhook.dev.simulate.factory import ReportFactory
from dlrhook.errors import SimulateError

#: Mix names and the default weights (percent).
DEFAULT_MIX: dict[str, float] = {
    "delivered": 70,
    "pending-delivered": 10,
    "undeliverable-permanent": 6,
    "undeliverable-temporary": 4,
    "expired": 5,
    "rejected": 5,
}


def parse_mix(text: str | None) -> dict[str, float]:
    """``"delivered=80,rejected=20"`` -> weights; names from :data:`DEFAULT_MIX`, None -> default."""
    if not text:
        return dict(DEFAULT_MIX)
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.strip().partition("=")
        if not sep or name not in DEFAULT_MIX:
            raise SimulateError(f"--mix: {part.strip()!r} is not name=weight with a name in {', '.join(DEFAULT_MIX)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise SimulateError(f"--mix: weight {weight!r} of {name} is not a number") from None
        if mix[name] < 0:
            raise SimulateError(f"--mix: weight of {name} is negative")
    if sum(mix.values()) <= 0:
        raise SimulateError("--mix: the weights add up to zero")
    return mix


def generate(
    count: int,
    *,
    mix: dict[str, float],
    duplicates: float,
    v3: bool,
    rng: random.Random,
    now: datetime | None = None,
    channel: str = "sms",
    seen: float = 0.0,
    messages_api: bool = False,
    events: float = 0.0,
) -> tuple[list[dict[str, Any]], int]:
    """*count* reports in sending order, and how many of them are re-sends of earlier ones.

    A pending report comes before its delivered one; a re-send comes after its original; a
    seen report (*seen*: the chance a delivered message has one) mostly after its delivery
    report, sometimes before (Infobip promises no order). Times are set back from *now*
    (default: the current time).
    """
    if count < 0:
        raise SimulateError("--count cannot be negative")
    if not 0 <= duplicates < 1:
        raise SimulateError("--duplicates is a fraction in [0, 1)")
    check_channel(channel, seen=seen, messages_api=messages_api, events=events)
    n_dup = min(round(count * duplicates), count - 1) if count else 0
    n_orig = count - n_dup
    factory = ReportFactory(rng, v3=v3, now=now, channel=channel, seen=seen, messages_api=messages_api, events=events)
    names, weights = list(mix), list(mix.values())
    keyed: list[tuple[float, dict[str, Any]]] = []
    while len(keyed) < n_orig:
        kind = rng.choices(names, weights)[0]
        if kind == "pending-delivered" and n_orig - len(keyed) < 2:
            kind = "delivered"
        position = float(len(keyed))
        for step, report in enumerate(factory.message(kind, room=n_orig - len(keyed))):
            # A seen report may overtake its delivery report, as it may at Infobip.
            offset = rng.uniform(-10, 50) if "seenAt" in report else rng.uniform(1, 50)
            keyed.append((position + step * offset, report))
    originals = list(keyed)
    for _ in range(n_dup):
        position, report = rng.choice(originals)
        keyed.append((position + rng.uniform(0.5, 100), report))
    keyed.sort(key=lambda pair: pair[0])
    return [report for _, report in keyed], n_dup
