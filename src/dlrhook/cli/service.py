"""The long-running processes: ``web``, ``worker``, ``poller`` (the Procfile's), and the local
ones, ``redis`` (the embedded server) and ``local`` (everything under honcho).

Each command imports what it runs only when it runs: the CLI starts fast, and ``dlrhook web``
prepares the metrics folder before anything imports prometheus_client.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click

from dlrhook import defaults
from dlrhook.cli.common import durability_or_exit, settings_or_exit, until_signalled


def mask(secret: str | None) -> str:
    """*secret* as a banner may show it: its first two characters and its length, or ``(none)``."""
    if not secret:
        return "(none)"
    return f"{secret[:2]}{'*' * max(len(secret) - 2, 4)} ({len(secret)} characters)"


#: Where ``dlrhook local`` keeps the console's generated password (``password``, mode 0600).
CONSOLE_DIR = ".dlrhook/console"


@click.command()
def web() -> None:
    """Serve POST /notify with gunicorn on $PORT (the Procfile's web process)."""
    settings_or_exit()
    from dlrhook import multiproc

    multiproc.prepare()  # the folder gunicorn's workers share for /metrics
    args = ["gunicorn", "--config", "python:dlrhook.webhook.gunicorn_conf", "dlrhook.webhook.app:create_app()"]
    os.execvp(sys.executable, [sys.executable, "-m", *args])  # noqa: S606  # become gunicorn: signals go straight to it


@click.command()
def poller() -> None:
    """Pull Infobip's reports endpoints into the report stream until SIGTERM/SIGINT (the Procfile's poller)."""
    from dlrhook import activity, logs, store
    from dlrhook.pull.poller import Pollers

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.secrets)
    conn = store.connect(settings)
    activity.tally.arm(lambda: conn)  # pulled reports in the console's per-minute counts
    durability_or_exit(conn, settings)  # a page is kept only as durably as a push
    the_pollers = Pollers(settings, conn)
    until_signalled(the_pollers, the_pollers.run)


@click.command()
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
    click.echo(f"embedded server on {server.masked_url}, data in {server.data_dir}")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@click.command()
@click.option("--procfile", default="Procfile", show_default=True, type=click.Path(dir_okay=False))
@click.option("--data-dir", default=defaults.EMBEDDED_DATA_DIR, show_default=True, help="the embedded Redis's data")
@click.option("--redis-port", default=defaults.EMBEDDED_REDIS_PORT, show_default=True, help="the embedded Redis's port")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="the address the web binds: this machine only, unless told otherwise (0.0.0.0: every interface)",
)
@click.option(
    "--console-password-dir",
    default=CONSOLE_DIR,
    show_default=True,
    help="where the console's generated password is kept (unless DLRHOOK_CONSOLE_PASSWORD is set)",
)
def local(procfile: str, data_dir: str, redis_port: int, host: str, console_password_dir: str) -> None:
    """Everything on this machine: the embedded Redis (unless REDIS_URL is set), the Procfile's
    release phase (run to its end first, as Heroku does), then every other Procfile process,
    under honcho, with the console on. Ctrl-C stops all of it."""
    from honcho.environ import parse_procfile
    from honcho.manager import Manager
    from honcho.printer import Printer

    from dlrhook import multiproc
    from dlrhook.dev.embedded import PASSWORD_FILE, EmbeddedRedis, answers, password_of
    from dlrhook.errors import EmbeddedServerError

    settings = settings_or_exit()
    server: EmbeddedRedis | None = None
    env = dict(os.environ)
    redis_url = shown_url = settings.redis_url
    if settings.redis_is_embedded:
        embedded = EmbeddedRedis(data_dir, port=redis_port)  # its URL carries its password
        redis_url, shown_url = embedded.url, embedded.masked_url
    if settings.redis_is_embedded and not answers(redis_url):
        server = embedded
        try:
            server.start()
        except EmbeddedServerError as exc:
            click.echo(f"dlrhook: {exc}", err=True)
            sys.exit(1)
    env["REDIS_URL"] = redis_url
    # One metrics folder for web, worker and poller: the web's /metrics then shows all three.
    env[multiproc.VARIABLE] = str(multiproc.prepare())
    env.setdefault("PORT", str(settings.port))
    # This machine only unless --host says otherwise, as the banner says: gunicorn's own variable,
    # which overrides the config file's 0.0.0.0 (the Procfile's web binds every interface, for
    # Heroku and containers).
    env["GUNICORN_CMD_ARGS"] = f"--bind {host}:{env['PORT']} {env.get('GUNICORN_CMD_ARGS', '')}".strip()
    # The console, on: with DLRHOOK_CONSOLE_PASSWORD when set, else a password generated once and
    # kept 0600 beside the embedded Redis's (never printed, like the token).
    if settings.console_password:
        where = "DLRHOOK_CONSOLE_PASSWORD"
    else:
        env["DLRHOOK_CONSOLE_PASSWORD"] = password_of(console_password_dir)
        where = f"{Path(console_password_dir) / PASSWORD_FILE}, mode 0600"
    env.setdefault("PYTHONUNBUFFERED", "1")
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")

    port = env["PORT"]
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104  (compared, not bound)
    # The token never printed: a terminal's scrollback and a CI log are not places for it.
    auth = (
        "  credentials: in the Authorization header (Bearer <DLRHOOK_TOKEN>, or Basic) rather than ?token=\n"
        if settings.tokens or settings.basic_auth
        else ""
    )
    sends = f"  (sends DLRHOOK_TOKEN, {mask(settings.token)})" if settings.token else ""
    exposed = (
        ""
        if host.startswith("127.") or host in ("localhost", "::1")
        else f" (bound to {host}: reachable from other machines)"
    )
    click.echo(
        f"\ndlrhook is starting on http://{shown_host}:{port}{exposed}\n"
        f"  console:  http://{shown_host}:{port}/console/  (password in {where})\n"
        f"  register with Infobip as notify URL: https://<your-public-host>/notify\n{auth}"
        "  next steps:\n"
        f"    1. send it a test batch:  {shlex.quote(bin_dir + '/dlrhook')} simulate --url "
        f"'http://{shown_host}:{port}/notify' --count 100{sends}\n"
        "    2. watch it arrive on the console's overview, look a message up by its id\n"
        '    3. write a handler of your own:  dlrhook plugin new myhandler  (README, "Handlers")\n'
        f"  Redis: {shown_url}{' (embedded, data in ' + data_dir + ')' if server else ''}\n"
        "  Ctrl-C stops everything.\n"
    )
    processes = parse_procfile(Path(procfile).read_text()).processes
    release = processes.pop("release", None)
    if release is not None:  # as Heroku does: the release phase first, to its end, then the rest
        done = subprocess.run(release, shell=True, env=env, check=False)  # noqa: S602 (the Procfile's line)
        if done.returncode != 0:
            click.echo(f"dlrhook: the Procfile's release phase failed ({release}): not starting", err=True)
            sys.exit(done.returncode)
    manager = Manager(Printer(sys.stdout))
    for name, command in processes.items():
        manager.add_process(name, command, env=env)
    try:
        manager.loop()
    finally:
        if server is not None:
            server.stop()
        multiproc.remove_own_folder()
    # Ctrl-C (or SIGTERM) is how this is stopped: a clean stop, not a failure (`make run` would
    # end in "make: *** Error 130"). A process that died by itself keeps its exit code.
    sys.exit(0 if manager.returncode in (130, 143) else manager.returncode or 0)


@click.command()
@click.option("--burst", is_flag=True, help="stop once the queue is empty (for scripts and tests)")
def worker(burst: bool) -> None:
    """Deliver queued reports to the handlers: an RQ worker with its scheduler (the Procfile's worker)."""
    from dlrhook import logs
    from dlrhook.dev.embedded import answers
    from dlrhook.errors import HandlerLoadError
    from dlrhook.workers import handlers
    from dlrhook.workers.worker import run

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.secrets)
    try:
        chosen = handlers.select(settings)
    except HandlerLoadError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)
    if settings.redis_is_embedded and not answers(settings.redis_url):
        # The embedded server's URL without the password settings_or_exit() may have put in it.
        click.echo(
            f"dlrhook: no Redis answers at {defaults.EMBEDDED_REDIS_URL}: set REDIS_URL or run `dlrhook local`",
            err=True,
        )
        sys.exit(1)
    if not chosen:
        click.echo("dlrhook: warning: no handler is configured; no report is delivered", err=True)
    click.echo(f"dlrhook worker: handlers {', '.join(h.name for h in chosen) or '(none)'}", err=True)
    run(settings, burst=burst, handler_names=[h.name for h in chosen])
