"""The ``dlrhook`` command: every process and every operator task.

Each subcommand reads the settings once; a bad value stops it with the variable's name.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dlrhook import defaults
from dlrhook.errors import SettingsError
from dlrhook.settings import Settings, load_settings

if TYPE_CHECKING:
    from dlrhook.pull.poller import Poller, Pollers


def settings_or_exit() -> Settings:
    """Load the settings, or stop with exit code 2 and a message naming the variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)


@click.group()
def main() -> None:
    """dlrhook: receive Infobip delivery reports and hand them to your handlers."""


@main.command()
def web() -> None:
    """Serve POST /notify with gunicorn on $PORT (the Procfile's web process)."""
    settings_or_exit()
    from dlrhook import multiproc

    multiproc.prepare()  # the folder gunicorn's workers share for /metrics
    args = ["gunicorn", "--config", "python:dlrhook.webhook.gunicorn_conf", "dlrhook.webhook.app:create_app()"]
    os.execvp(sys.executable, [sys.executable, "-m", *args])  # noqa: S606  # become gunicorn: signals go straight to it


T = TypeVar("T")


def until_signalled(the_poller: Poller | Pollers, work: Callable[[], T]) -> T:
    """Run *work* in a thread; SIGTERM and SIGINT ask *the_poller* to stop between requests.

    The main thread only waits, so a signal never lands between a fetch and the storing of its
    page (a KeyboardInterrupt there would lose the page's reports), nor inside a lock or a
    Redis call. Returns what *work* returned, or raises what it raised.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    def stop(signum: int, _frame: object) -> None:
        logging.getLogger("dlrhook.poller").info("signal %d: stopping after the current request", signum)
        the_poller.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread = threading.Thread(target=target, name="dlrhook-poller")
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@main.command()
def poller() -> None:
    """Drain Infobip's reports endpoint into the inbox until SIGTERM/SIGINT (the Procfile's poller)."""
    from dlrhook import logs, store
    from dlrhook.pull.poller import Pollers

    settings = settings_or_exit()
    logs.configure(settings.log_level)
    the_pollers = Pollers(settings, store.connect(settings))
    until_signalled(the_pollers, the_pollers.run)


@main.command()
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
    """Drain Infobip's reports endpoints once, now, and print the counts as JSON.

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


@main.command()
@click.option("--data-dir", default=defaults.EMBEDDED_DATA_DIR, show_default=True, help="where the data and AOF live")
@click.option("--port", default=defaults.EMBEDDED_REDIS_PORT, show_default=True)
def redis(data_dir: str, port: int) -> None:
    """Run the embedded Redis-protocol server in the foreground."""
    from dlrhook.dev.embedded import EmbeddedRedis
    from dlrhook.errors import EmbeddedServerError

    server = EmbeddedRedis(data_dir, port=port)
    try:
        server.start()
    except EmbeddedServerError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(f"embedded server on {server.url}, data in {server.data_dir}")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command()
@click.option("--procfile", default="Procfile", show_default=True, type=click.Path(dir_okay=False))
@click.option("--data-dir", default=defaults.EMBEDDED_DATA_DIR, show_default=True, help="the embedded Redis's data")
@click.option("--redis-port", default=defaults.EMBEDDED_REDIS_PORT, show_default=True, help="the embedded Redis's port")
def local(procfile: str, data_dir: str, redis_port: int) -> None:
    """Everything on this machine: the embedded Redis (unless REDIS_URL is set) and every
    Procfile process, under honcho. Ctrl-C stops all of it."""
    from honcho.environ import parse_procfile
    from honcho.manager import Manager
    from honcho.printer import Printer

    from dlrhook import multiproc
    from dlrhook.dev.embedded import EmbeddedRedis, answers
    from dlrhook.errors import EmbeddedServerError

    settings = settings_or_exit()
    server: EmbeddedRedis | None = None
    env = dict(os.environ)
    redis_url = settings.redis_url
    if settings.redis_is_embedded:
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
    if settings.redis_is_embedded and not answers(redis_url):
        server = EmbeddedRedis(data_dir, port=redis_port)
        try:
            server.start()
        except EmbeddedServerError as exc:
            click.echo(f"dlrhook: {exc}", err=True)
            sys.exit(1)
    env["REDIS_URL"] = redis_url
    # One metrics folder for web, worker and poller: the web's /metrics then shows all three.
    env[multiproc.VARIABLE] = str(multiproc.prepare())
    env.setdefault("PORT", str(settings.port))
    env.setdefault("PYTHONUNBUFFERED", "1")
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")

    token = f"?token={settings.token}" if settings.token else ""
    click.echo(
        f"\ndlrhook is starting on http://127.0.0.1:{settings.port}\n"
        f"  register with Infobip as notify URL: https://<your-public-host>/notify{token}\n"
        f"  send it a test batch:  {shlex.quote(bin_dir + '/dlrhook')} simulate --url "
        f"'http://127.0.0.1:{settings.port}/notify{token}' --count 100\n"
        f"  Redis: {redis_url}{' (embedded, data in ' + data_dir + ')' if server else ''}\n"
        "  Ctrl-C stops everything.\n"
    )
    processes = parse_procfile(Path(procfile).read_text()).processes
    manager = Manager(Printer(sys.stdout))
    for name, command in processes.items():
        manager.add_process(name, command, env=env)
    try:
        manager.loop()
    finally:
        if server is not None:
            server.stop()
        multiproc.remove_own_folder()
    sys.exit(manager.returncode or 0)


@main.command()
@click.option("--burst", is_flag=True, help="stop once the queue is empty (for scripts and tests)")
def worker(burst: bool) -> None:
    """Deliver queued reports to the handlers: an RQ worker with its scheduler (the Procfile's worker)."""
    from dlrhook import logs
    from dlrhook.dev.embedded import answers
    from dlrhook.errors import HandlerLoadError
    from dlrhook.workers import handlers
    from dlrhook.workers.worker import run

    settings = settings_or_exit()
    logs.configure(settings.log_level)
    try:
        chosen = handlers.select(settings)
    except HandlerLoadError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)
    if settings.redis_is_embedded and not answers(settings.redis_url):
        click.echo(f"dlrhook: no Redis answers at {settings.redis_url}: set REDIS_URL or run `dlrhook local`", err=True)
        sys.exit(1)
    if not chosen:
        click.echo("dlrhook: warning: no handler is configured; reports are drained and dropped", err=True)
    click.echo(f"dlrhook worker: handlers {', '.join(h.name for h in chosen) or '(none)'}", err=True)
    run(settings, burst=burst, handler_names=[h.name for h in chosen])


def _queue(settings: Settings) -> Any:
    from dlrhook import store

    return store.queue(store.connect(settings), settings)


@main.group()
def failed() -> None:
    """Reports a handler gave up on (dead letters in RQ's failed registry)."""


@failed.command("list")
def failed_list() -> None:
    """One line per dead letter: job id, handler, message ids, attempts, when, reason."""
    from dlrhook.workers.replay import dead_letters

    entries = dead_letters(_queue(settings_or_exit()))
    if not entries:
        click.echo("no failed jobs")
        return
    click.echo("JOB ID\tHANDLER\tREPORTS\tMESSAGE IDS\tATTEMPTS\tFAILED AT\tREASON")
    for e in entries:
        when = e.failed_at.isoformat(timespec="seconds") if e.failed_at else "-"
        attempts = "-" if e.attempts is None else str(e.attempts)
        ids = ",".join(e.message_ids[:5]) + (f",+{len(e.message_ids) - 5}" if len(e.message_ids) > 5 else "")
        click.echo(f"{e.job_id}\t{e.handler}\t{e.reports}\t{ids or '-'}\t{attempts}\t{when}\t{e.error}")


@failed.command("replay")
@click.argument("job_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="replay every failed job")
def failed_replay(job_id: str | None, replay_all: bool) -> None:
    """Re-queue one dead letter (JOB_ID) or all of them (--all): one more attempt each."""
    from dlrhook.workers.replay import replay_failed

    if bool(job_id) == replay_all:
        raise click.UsageError("give a JOB_ID or --all")
    try:
        done = replay_failed(_queue(settings_or_exit()), None if replay_all else [str(job_id)])
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(f"re-queued {len(done)} job(s)")


@main.group()
def handlers() -> None:
    """The handlers reports are kept for, and how many wait for each."""


@handlers.command("list")
def handlers_list() -> None:
    """One line per registered handler: name and reports not yet delivered to it."""
    from dlrhook import store
    from dlrhook.workers import stream

    conn = store.connect(settings_or_exit())
    waiting = stream.backlog(conn)
    names = stream.registered(conn)
    if not names:
        click.echo("no handler registered yet (a worker registers its handlers when it starts)")
        return
    click.echo("HANDLER\tWAITING")
    for name in names:
        click.echo(f"{name}\t{waiting.get(name, 0)}")


@handlers.command("forget")
@click.argument("name")
def handlers_forget(name: str) -> None:
    """Stop keeping reports for NAME, a handler no worker runs any more (its waiting reports are dropped)."""
    from dlrhook import store
    from dlrhook.workers import stream

    conn = store.connect(settings_or_exit())
    if name not in stream.registered(conn):
        click.echo(f"dlrhook: no registered handler {name!r}", err=True)
        sys.exit(1)
    dropped = stream.forget(conn, name)
    click.echo(f"forgot handler {name}: {dropped} waiting reports are no longer kept for it")


@main.group()
def quarantine() -> None:
    """Reports that failed validation, kept raw with their errors."""


@quarantine.command("list")
def quarantine_list() -> None:
    """One line per quarantined report: id, received at, source, message id, errors."""
    from dlrhook import store
    from dlrhook.workers.replay import quarantined

    settings = settings_or_exit()
    entries = quarantined(store.connect(settings))
    if not entries:
        click.echo("quarantine is empty")
        return
    click.echo("ID\tRECEIVED AT\tSOURCE\tMESSAGE ID\tERRORS")
    for e in entries:
        raw = e.get("raw")
        message_id = raw.get("messageId", "-") if isinstance(raw, dict) else "-"
        errors = json.dumps(e.get("errors"), separators=(",", ":"))
        click.echo(f"{e.get('id')}\t{e.get('received_at')}\t{e.get('source')}\t{message_id}\t{errors}")


@quarantine.command("replay")
@click.argument("entry_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="replay every quarantined report")
def quarantine_replay(entry_id: str | None, replay_all: bool) -> None:
    """Validate one entry (ID) or all (--all) again; ingest those now valid, keep the others."""
    from dlrhook import store
    from dlrhook.workers.replay import replay_quarantine

    if bool(entry_id) == replay_all:
        raise click.UsageError("give an ID or --all")
    settings = settings_or_exit()
    try:
        result = replay_quarantine(store.connect(settings), settings, None if replay_all else [str(entry_id)])
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"accepted {len(result.accepted)}, duplicates {len(result.duplicates)}, "
        f"still invalid {len(result.still_invalid)}"
    )
    for qid in result.still_invalid:
        click.echo(f"  still invalid: {qid}")


@main.command()
@click.option("--url", default=None, help="receiver's notify URL  [default: http://127.0.0.1:$PORT/notify]")
@click.option("--count", default=100, show_default=True, type=click.IntRange(min=0), help="reports to send in all")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 10000), help="reports per POST")
@click.option("--rate", default=0.0, show_default=True, type=click.FloatRange(min=0), help="reports/s; 0 = flat out")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256), help="parallel connections")
@click.option(
    "--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "xml"]), help="body format"
)
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
    type=click.Choice(["sms", "mms", "whatsapp", "viber", "rcs", "email"]),
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
    mix: str | None,
    duplicates: float,
    v3: bool,
    channel: str,
    seen: float,
    messages_api: bool,
    token: str | None,
    basic: str | None,
    seed: int | None,
    timeout: float,
    as_json: bool,
) -> None:
    """POST realistic Infobip delivery (and seen) reports to a receiver and summarise its answers.

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
            fmt=fmt,
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
        )
    except SimulateError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(summary.as_dict()) if as_json else summary.text())
    sys.exit(1 if summary.failed else 0)


@main.command()
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


@main.command("status")
@click.argument("message_id", required=False)
@click.option("--bulk-id", default=None, help="a bulk's counts by status group instead of one message")
@click.option("--json", "as_json", is_flag=True, help="print the answer GET /messages or GET /bulks gives, as JSON")
def status_command(message_id: str | None, bulk_id: str | None, as_json: bool) -> None:
    """A message's folded status (MESSAGE_ID) or a bulk's counts (--bulk-id), as the status
    handler keeps them. Exit code 1 when nothing is known of it."""
    from dlrhook import status, store

    if bool(message_id) == bool(bulk_id):
        raise click.UsageError("give a MESSAGE_ID or --bulk-id")
    conn = store.connect(settings_or_exit())
    found = status.bulk(conn, str(bulk_id)) if bulk_id else status.message(conn, str(message_id))
    if found is None:
        what = f"bulk {bulk_id}" if bulk_id else f"message {message_id}"
        click.echo(
            f"dlrhook: no status is known for {what} (no report folded by the status handler, "
            "or older than DLRHOOK_STATUS_TTL)",
            err=True,
        )
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    elif bulk_id:
        click.echo(_bulk_text(found))
    else:
        click.echo(_message_text(found))


def _message_text(m: dict[str, Any]) -> str:
    st = m.get("status") or {}
    err = m.get("error") or {}
    lines = [
        f"message   {m['messageId']}",
        f"bulk      {m.get('bulkId') or '-'}",
        f"channel   {m.get('channel') or '-'}",
        f"to        {m.get('to') or '-'}",
        f"status    {st.get('name') or '-'} ({st.get('groupName') or 'no status yet'}), "
        + ("final" if m.get("final") else "intermediate: a further report may follow"),
        f"error     {err.get('name') or '-'}" + (" (permanent)" if err.get("permanent") else ""),
        f"sent at   {m.get('sentAt') or '-'}",
        f"done at   {m.get('doneAt') or '-'}",
        f"seen at   {m.get('seenAt') or '-'}",
        "history (by doneAt):",
    ]
    for h in m.get("history") or []:
        lines.append(
            f"  {h.get('doneAt') or '(no doneAt)':<32} {h.get('status') or '-'} ({h.get('group')})"
            f"{', final' if h.get('final') else ''}  via {h.get('source')}, received {h.get('receivedAt')}"
        )
    return "\n".join(lines)


def _bulk_text(b: dict[str, Any]) -> str:
    total = b["messages"]
    share = f" ({100 * b['final'] / total:.0f}%)" if total else ""
    lines = [f"bulk {b['bulkId']}: {total} messages, {b['final']} final{share}"]
    for group, count in sorted(b["byStatusGroup"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {group:<14} {count}")
    return "\n".join(lines)
