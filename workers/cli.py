"""The ``dlrhook`` command: every process and every operator task.

Each subcommand reads the settings once; a bad value stops it with the variable's name.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from webhook import defaults
from webhook.errors import SettingsError
from webhook.settings import Settings, load_settings


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
    from webhook import multiproc

    multiproc.prepare()  # the folder gunicorn's workers share for /metrics
    args = ["gunicorn", "--config", "python:webhook.gunicorn_conf", "webhook.app:create_app()"]
    os.execvp(sys.executable, [sys.executable, "-m", *args])  # noqa: S606  # become gunicorn: signals go straight to it


@main.command()
@click.option("--data-dir", default=defaults.EMBEDDED_DATA_DIR, show_default=True, help="where the data and AOF live")
@click.option("--port", default=defaults.EMBEDDED_REDIS_PORT, show_default=True)
def redis(data_dir: str, port: int) -> None:
    """Run the embedded Redis-protocol server in the foreground."""
    from workers.embedded import EmbeddedRedis, EmbeddedServerError

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
def local(procfile: str) -> None:
    """Everything on this machine: the embedded Redis (unless REDIS_URL is set) and every
    Procfile process, under honcho. Ctrl-C stops all of it."""
    from honcho.environ import parse_procfile
    from honcho.manager import Manager
    from honcho.printer import Printer

    from workers.embedded import EmbeddedRedis, EmbeddedServerError, answers

    settings = settings_or_exit()
    server: EmbeddedRedis | None = None
    env = dict(os.environ)
    if settings.redis_is_embedded and not answers(settings.redis_url):
        server = EmbeddedRedis(defaults.EMBEDDED_DATA_DIR, port=defaults.EMBEDDED_REDIS_PORT)
        try:
            server.start()
        except EmbeddedServerError as exc:
            click.echo(f"dlrhook: {exc}", err=True)
            sys.exit(1)
    env["REDIS_URL"] = settings.redis_url
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
        f"  Redis: {settings.redis_url}{' (embedded, data in ' + defaults.EMBEDDED_DATA_DIR + ')' if server else ''}\n"
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
    sys.exit(manager.returncode or 0)


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
    token: str | None,
    basic: str | None,
    seed: int | None,
    timeout: float,
    as_json: bool,
) -> None:
    """POST realistic Infobip delivery reports to a receiver and summarise its answers.

    Exits 1 when any request failed (a network error or a status other than 200)."""
    import json

    from workers.simulate import SimulateError, parse_mix
    from workers.simulate import simulate as run

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
        )
    except SimulateError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(summary.as_dict()) if as_json else summary.text())
    sys.exit(1 if summary.failed else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
