"""``dlrhook simulate``: realistic Infobip reports POSTed to a receiver (:mod:`dlrhook.dev.simulate`)."""

from __future__ import annotations

import sys

import click

from dlrhook.cli.common import settings_or_exit


@click.command()
@click.option("--url", default=None, help="receiver's notify URL  [default: http://127.0.0.1:$PORT/notify]")
@click.option("--count", default=100, show_default=True, type=click.IntRange(min=0), help="reports to send in all")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 10000), help="reports per POST")
@click.option("--rate", default=0.0, show_default=True, type=click.FloatRange(min=0), help="reports/s; 0 = flat out")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256), help="parallel connections")
@click.option(
    "--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "xml"]), help="body format"
)
@click.option("--xml", "xml", is_flag=True, help="XML bodies, each channel's form in Infobip's spec (= --format xml)")
@click.option("--mix", default=None, help="status weights, e.g. delivered=70,pending-delivered=10,rejected=5")
@click.option(
    "--duplicates",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="fraction of reports that are re-sends",
)
@click.option("--v3", is_flag=True, help="v3 field names (sender, messageCount, platform{})")
@click.option(
    "--channel",
    default="sms",
    show_default=True,
    type=click.Choice(["sms", "mms", "whatsapp", "viber", "viber-bot", "rcs", "email"]),
    help="that channel's reports, sent to /notify/<channel>",
)
@click.option(
    "--seen",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="chance that a delivered message is also reported seen (whatsapp, viber, rcs, --messages-api)",
)
@click.option(
    "--messages-api", is_flag=True, help="the Messages API's form (event, channel, destination), to /notify/messages"
)
@click.option(
    "--events",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="chance that a delivered email is opened (user events OPENED, CLICKED, ...; --channel email)",
)
@click.option("--token", default=None, help="sent as ?token= (default: DLRHOOK_TOKEN when set)")
@click.option("--basic", default=None, metavar="USER:PASS", help="HTTP Basic credentials")
@click.option("--seed", default=None, type=int, help="the same reports on every run of the same UTC day")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1), help="seconds per request")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def simulate(
    url: str | None,
    count: int,
    batch_size: int,
    rate: float,
    concurrency: int,
    fmt: str,
    xml: bool,
    mix: str | None,
    duplicates: float,
    v3: bool,
    channel: str,
    seen: float,
    messages_api: bool,
    events: float,
    token: str | None,
    basic: str | None,
    seed: int | None,
    timeout: float,
    as_json: bool,
) -> None:
    """POST realistic Infobip delivery (and seen) reports, or Email user events, to a receiver and
    summarise its answers.

    Exits 1 when any request failed (a network error or a status other than 200)."""
    import json

    from dlrhook.dev.simulate import parse_mix
    from dlrhook.dev.simulate import simulate as run
    from dlrhook.errors import SimulateError

    settings = settings_or_exit()
    try:
        summary = run(
            url or f"http://127.0.0.1:{settings.port}/notify",
            count=count,
            batch_size=batch_size,
            rate=rate,
            concurrency=concurrency,
            fmt="xml" if xml else fmt,
            mix=parse_mix(mix),
            duplicates=duplicates,
            v3=v3,
            token=token if token is not None else settings.token,
            basic=basic,
            seed=seed,
            timeout=timeout,
            channel=channel,
            seen=seen,
            messages_api=messages_api,
            events=events,
        )
    except SimulateError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(summary.as_dict()) if as_json else summary.text())
    sys.exit(1 if summary.failed else 0)
