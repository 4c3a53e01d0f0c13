"""``dlrhook simulate``: POST realistic Infobip delivery-report batches to a receiver.

How a user checks a deployment and how the benchmarks drive load. Reports follow docs/infobip.md:
v1 (or v3) field names, JSON or the XML ``reportResponse`` form, a mix of statuses with
permanent and temporary errors, "pending then delivered" pairs for one message, and exact
re-sends of earlier reports (which the receiver must count as duplicates). For another
channel (``--channel whatsapp``) it sends that channel's reports to ``/notify/<channel>``,
with seen reports for a fraction of the delivered messages (``--seen``), or the Messages API's
form (``--messages-api``) to ``/notify/messages``; ``--xml`` (``--format xml``) writes each
channel's XML form as Infobip's OpenAPI spec has it (its root element, ``<result>`` or nested
``<results>`` items), and ``--events`` Email user events, one flat JSON object a POST.

Sending uses one keep-alive ``http.client`` connection per thread; every batch is encoded
before the clock starts, so the numbers measure the receiver, not the encoder. Nothing here
prints a phone number or a credential.

The package: :mod:`.channels` (which channels, and their URLs), :mod:`.factory` (one message's
reports), :mod:`.mix` (a run's reports in sending order), :mod:`.encode` (push bodies),
:mod:`.send` (the target and the sending threads), :mod:`.summary` (what the receiver answered).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from dlrhook.dev.simulate.channels import CHANNELS, MESSAGES_API_XML_ROOT, Channel, channel_url, check_channel
from dlrhook.dev.simulate.encode import encode, encode_event
from dlrhook.dev.simulate.factory import ReportFactory
from dlrhook.dev.simulate.mix import DEFAULT_MIX, generate, parse_mix
from dlrhook.dev.simulate.send import Target, send
from dlrhook.dev.simulate.summary import Summary
from dlrhook.errors import SimulateError

__all__ = [
    "CHANNELS",
    "DEFAULT_MIX",
    "Channel",
    "ReportFactory",
    "Summary",
    "Target",
    "channel_url",
    "check_channel",
    "encode",
    "encode_event",
    "generate",
    "parse_mix",
    "push_bodies",
    "simulate",
]


def push_bodies(
    reports: list[dict[str, Any]], *, fmt: str, v3: bool, channel: str, messages_api: bool, batch_size: int
) -> list[tuple[int, bytes]]:
    """(reports in it, body) of each POST: batches of *batch_size* reports in the channel's JSON
    or XML form, then each Email user event in a body of its own."""
    root = MESSAGES_API_XML_ROOT if messages_api else (CHANNELS[channel].xml_root if channel != "sms" else None)
    batched = [r for r in reports if "notificationType" not in r]
    bodies = [
        (len(batched[i : i + batch_size]), encode(batched[i : i + batch_size], fmt, v3, root))
        for i in range(0, len(batched), batch_size)
    ]
    return bodies + [(1, encode_event(r)) for r in reports if "notificationType" in r]


def simulate(
    url: str,
    *,
    count: int = 100,
    batch_size: int = 100,
    rate: float = 0.0,
    concurrency: int = 4,
    fmt: str = "json",
    mix: dict[str, float] | None = None,
    duplicates: float = 0.0,
    v3: bool = False,
    token: str | None = None,
    basic: str | None = None,
    seed: int | None = None,
    timeout: float = 30.0,
    channel: str = "sms",
    seen: float = 0.0,
    messages_api: bool = False,
    events: float = 0.0,
) -> Summary:
    """Send *count* reports in batches of *batch_size* and return what the receiver answered.

    *channel* (a :data:`CHANNELS` name) other than sms, or *messages_api*, sends that form to
    ``/notify/<channel>`` (``/notify/messages``): a *url* ending in ``/notify`` gets the name
    appended. *seen* is the chance that a delivered message is also reported seen; *events*
    the chance that a delivered email is opened (and then maybe clicked, ...): each user event
    is a POST of its own, as Infobip sends them.

    *rate* is reports per second over the whole run (0: as fast as *concurrency* connections
    allow). With a *seed* the reports (message ids and times included) are the same on every
    run of the same UTC day, so a rerun against the same receiver is all duplicates.
    """
    if batch_size < 1:
        raise SimulateError("--batch-size must be at least 1")
    if concurrency < 1:
        raise SimulateError("--concurrency must be at least 1")
    if rate < 0:
        raise SimulateError("--rate cannot be negative")
    if fmt not in ("json", "xml"):
        raise SimulateError("--format is json or xml")
    check_channel(channel, seen=seen, messages_api=messages_api, fmt=fmt, events=events)
    url = channel_url(url, "messages" if messages_api else channel)
    content_type = "application/json" if fmt == "json" else "application/xml"
    target = Target.from_options(url, token=token, basic=basic, content_type=content_type, timeout=timeout)
    rng = random.Random(seed)  # test data, not secrets
    # With a seed the times are anchored to today's midnight UTC, so a rerun the same day
    # sends the very same reports (same identities: the receiver answers duplicates).
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else None
    reports, resent = generate(
        count,
        mix=mix or dict(DEFAULT_MIX),
        duplicates=duplicates,
        v3=v3,
        rng=rng,
        now=now,
        channel=channel,
        seen=seen,
        messages_api=messages_api,
        events=events,
    )
    bodies = push_bodies(reports, fmt=fmt, v3=v3, channel=channel, messages_api=messages_api, batch_size=batch_size)
    summary = Summary(target=target.display, reports=len(reports), resent=resent, batches=len(bodies))
    send(target, bodies, rate=rate, concurrency=concurrency, summary=summary)
    return summary
