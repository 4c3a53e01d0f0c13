"""``dlrhook failed``: dead letters (reports a handler gave up on), by handler and time.

``list``, ``show``, ``replay`` and ``delete`` pick entries the same way: job ids, or ``--all``,
``--handler`` and ``--since`` (which narrow each other). A replay says what it re-queued (how
many reports, for which handler); the worker that delivers them logs it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from dlrhook.cli.common import parse_since, settings_or_exit


def _queue() -> Any:
    from dlrhook import store

    settings = settings_or_exit()
    return store.queue(store.connect(settings), settings)


def _filters(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--handler", default=None, help="only this handler's dead letters")(command)
    return click.option(
        "--since",
        default=None,
        callback=lambda _ctx, _param, value: parse_since(value),
        help="only those failed since then: a duration back from now (90s, 30m, 2h, 7d) or an ISO time",
    )(command)


def _summary(by_handler: Counter[str]) -> str:
    return ", ".join(f"{n} report{'s' if n != 1 else ''} for {h}" for h, n in sorted(by_handler.items()))


def _pick(q: Any, job_ids: tuple[str, ...], every: bool, handler: str | None, since: datetime | None) -> list[Any]:
    """The dead letters the arguments name: job ids, or --all / --handler / --since."""
    from dlrhook.replay import dead_letters, lookup

    if job_ids and (every or handler or since):
        raise click.UsageError("give JOB_IDs, or --all / --handler / --since, not both")
    if not job_ids and not (every or handler or since):
        raise click.UsageError("give JOB_IDs, or --all / --handler / --since")
    if job_ids:
        try:
            return lookup(q, list(job_ids))
        except LookupError as exc:
            click.echo(f"dlrhook: {exc}", err=True)
            sys.exit(1)
    return dead_letters(q, handler=handler, since=since)


@click.group()
def failed() -> None:
    """Reports a handler gave up on (dead letters in RQ's failed registries)."""


@failed.command("list")
@_filters
def failed_list(handler: str | None, since: datetime | None) -> None:
    """One line per dead letter, oldest first: job id, handler, message ids, attempts, when, reason."""
    from dlrhook.replay import dead_letters

    entries = dead_letters(_queue(), handler=handler, since=since)
    if not entries:
        click.echo("no failed jobs")
        return
    click.echo("JOB ID\tHANDLER\tREPORTS\tMESSAGE IDS\tATTEMPTS\tFAILED AT\tREASON")
    for e in entries:
        when = e.failed_at.isoformat(timespec="seconds") if e.failed_at else "-"
        attempts = "-" if e.attempts is None else str(e.attempts)
        ids = ",".join(e.message_ids[:5]) + (f",+{len(e.message_ids) - 5}" if len(e.message_ids) > 5 else "")
        click.echo(f"{e.job_id}\t{e.handler}\t{e.reports}\t{ids or '-'}\t{attempts}\t{when}\t{e.error}")


@failed.command("show")
@click.argument("job_id")
@click.option("--unmasked", is_flag=True, help="print phone numbers and email addresses as received")
def failed_show(job_id: str, unmasked: bool) -> None:
    """One dead letter: its handler, attempts, reason and every report (masked as in the logs)."""
    from dlrhook.logs import redact_value
    from dlrhook.replay import dead_letter
    from dlrhook.wire import dumps

    try:
        e, wires = dead_letter(_queue(), job_id)
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(f"job       {e.job_id}")
    click.echo(f"handler   {e.handler}")
    click.echo(f"attempts  {'-' if e.attempts is None else e.attempts}")
    click.echo(f"failed at {e.failed_at.isoformat(timespec='seconds') if e.failed_at else '-'}")
    click.echo(f"reason    {e.error or '-'}")
    click.echo(f"reports   {len(wires)}")
    for wire in wires:
        shown = wire if unmasked else redact_value("", wire)
        click.echo(json.dumps(json.loads(dumps(shown)), indent=2, ensure_ascii=False))


@failed.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="every dead letter (narrowed by --handler/--since)")
@_filters
def failed_replay(job_ids: tuple[str, ...], every: bool, handler: str | None, since: datetime | None) -> None:
    """Re-queue dead letters: one more attempt each, for their own handler only."""
    from dlrhook.replay import replay_failed

    q = _queue()
    entries = _pick(q, job_ids, every, handler, since)
    try:
        done = replay_failed(q, entries)
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    if not entries:
        click.echo("re-queued 0 job(s): no dead letter matches")
        return
    click.echo(
        f"re-queued {len(entries)} job(s): {_summary(done)}; a worker running the handler delivers "
        "them now (its log says so; `dlrhook failed list` shows any that fail again)"
    )


@failed.command("delete")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="every dead letter (narrowed by --handler/--since)")
@_filters
@click.option("--yes", is_flag=True, help="delete what --all/--handler/--since match without asking")
def failed_delete(
    job_ids: tuple[str, ...], every: bool, handler: str | None, since: datetime | None, yes: bool
) -> None:
    """Delete dead letters for good (their reports are not delivered to that handler)."""
    from dlrhook.replay import delete_failed

    q = _queue()
    entries = _pick(q, job_ids, every, handler, since)
    if entries and not job_ids and not yes:
        click.confirm(f"delete {len(entries)} dead letter(s) for good?", abort=True)
    done = delete_failed(q, entries)
    click.echo(f"deleted {len(entries)} job(s)" + (f": {_summary(done)}" if entries else ": no dead letter matches"))
