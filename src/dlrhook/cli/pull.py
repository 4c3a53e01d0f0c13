"""The pull side's one-off commands: ``pull`` (every page now) and ``reconcile`` (ask the logs)."""

from __future__ import annotations

import functools
import json
import re
import sys

import click

from dlrhook import defaults
from dlrhook.cli.common import durability_or_exit, settings_or_exit, until_signalled


@click.command()
@click.option("--bulk-id", default=None, help="only reports of this bulk")
@click.option("--message-id", default=None, help="only the report(s) of this message")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="reports per request (default and maximum: DLRHOOK_PULL_LIMIT)",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    help="the reports path to pull, e.g. /viber/2/reports (repeatable; default: every one of DLRHOOK_PULL_PATHS)",
)
def pull(bulk_id: str | None, message_id: str | None, limit: int | None, paths: tuple[str, ...]) -> None:
    """Pull every page of Infobip's reports endpoints once, now, and print the counts as JSON.

    Fetches pages of --limit reports from each path in turn until one is short, whatever
    DLRHOOK_PULL_MODE says. It waits for (and takes) each path's poller lock, so it never runs
    alongside a polling `dlrhook poller`. Exit code 1 when it stops on an error (the counts so
    far are printed).
    """
    from dlrhook import logs, store
    from dlrhook.errors import PollerBusy, PullFailed
    from dlrhook.pull.pages import PullTotals
    from dlrhook.pull.poller import Poller
    from dlrhook.settings import PATH_PATTERN

    settings = settings_or_exit()
    if not settings.infobip_base_url:
        click.echo("dlrhook: INFOBIP_BASE_URL is not set: there is no account to pull from", err=True)
        sys.exit(2)
    if limit is not None and limit > settings.pull_limit:
        raise click.BadParameter(f"at most DLRHOOK_PULL_LIMIT ({settings.pull_limit})", param_hint="--limit")
    for path in paths:
        if not re.match(PATH_PATTERN, path):
            raise click.BadParameter(f"{path!r} is not a path such as /sms/1/reports", param_hint="--path")
    logs.configure(settings.log_level)
    conn = store.connect(settings)
    durability_or_exit(conn, settings)
    totals = PullTotals()
    for path in paths or settings.report_paths:
        the_poller = Poller(settings, conn, path=path)
        try:
            pulled = until_signalled(
                the_poller, functools.partial(the_poller.pull, limit, bulk_id=bulk_id, message_id=message_id)
            )
        except PollerBusy as exc:
            click.echo(json.dumps(totals.as_dict()))
            click.echo(f"dlrhook: {exc}", err=True)
            sys.exit(1)
        except PullFailed as exc:
            totals.merge(exc.totals)
            click.echo(json.dumps(totals.as_dict()))
            click.echo(f"dlrhook: pull of {path} stopped: {exc}", err=True)
            sys.exit(1)
        totals.merge(pulled)
        if the_poller.stopping.is_set():
            break
    click.echo(json.dumps(totals.as_dict()))


@click.command()
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=None,
    help=f"seconds a message's status has stayed intermediate  [default: DLRHOOK_RECONCILE_AFTER, "
    f"else {defaults.RECONCILE_OLDER_THAN}]",
)
def reconcile(older_than: float | None) -> None:
    """Ask Infobip's message logs about messages still intermediate after --older-than seconds,
    and ingest what they say (source "logs"), so every handler sees it. Prints the counts as
    JSON; exit code 1 when it stops on an error (the counts so far are printed)."""
    from dlrhook import logs, store
    from dlrhook.errors import ReconcileFailed
    from dlrhook.pull.infobip import InfobipClient
    from dlrhook.pull.reconcile import reconcile as run

    settings = settings_or_exit()
    if not settings.infobip_base_url:
        click.echo("dlrhook: INFOBIP_BASE_URL is not set: there is no account to ask", err=True)
        sys.exit(2)
    logs.configure(settings.log_level)
    if older_than is None:
        older_than = settings.reconcile_after or defaults.RECONCILE_OLDER_THAN
    client = InfobipClient.from_settings(settings)
    try:
        totals = run(store.connect(settings), settings, client, older_than)
    except ReconcileFailed as exc:
        click.echo(json.dumps(exc.totals.as_dict()))
        click.echo(f"dlrhook: reconcile stopped: {exc}", err=True)
        sys.exit(1)
    finally:
        client.close()
    click.echo(json.dumps(totals.as_dict()))
