"""What the commands share: the settings or a clean exit, a Redis that cannot be reached said
in one line, times given as ``--since``, and a poller run until a signal."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from dlrhook.errors import SettingsError
from dlrhook.settings import Settings, load_settings

if TYPE_CHECKING:
    import redis

    from dlrhook.pull.poller import Poller, Pollers


def settings_or_exit() -> Settings:
    """Load the settings, or stop with exit code 2 and a message naming the variable.

    Without ``REDIS_URL``, a command run beside ``make run`` (in the checkout, another terminal)
    reaches the embedded server with the password that server keeps in its data folder.
    """
    try:
        settings = load_settings()
    except SettingsError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)
    return _with_embedded_password(settings)


def _with_embedded_password(settings: Settings) -> Settings:
    """*settings* with the embedded server's URL and password when REDIS_URL is unset and its
    data folder (``.dlrhook/redis``) holds a password; else *settings* as they are."""
    import dataclasses
    from pathlib import Path

    from dlrhook import defaults
    from dlrhook.dev.embedded import PASSWORD_FILE, url_of

    if not settings.redis_is_embedded:
        return settings
    try:
        password = (Path(defaults.EMBEDDED_DATA_DIR) / PASSWORD_FILE).read_text().strip()
    except OSError:
        return settings  # no embedded server started here yet: the default URL, as before
    if not password:
        return settings
    return dataclasses.replace(settings, redis_url=url_of(password, defaults.EMBEDDED_REDIS_PORT))


def durability_or_exit(conn: redis.Redis, settings: Settings) -> None:
    """Log the DLRHOOK_DURABILITY level in force, or stop with exit code 2 when the server cannot
    give it (a poller must not fetch pages it could not keep as asked)."""
    from dlrhook.errors import DurabilityUnsupported
    from dlrhook.store import durability

    try:
        durability.check_start(conn, settings)
    except DurabilityUnsupported as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)


def redis_unreachable(exc: Exception) -> str:
    """The one line a command prints when Redis cannot be reached: the URL (its password
    blanked), the variable that sets it, and what went wrong."""
    import os

    url = os.environ.get("REDIS_URL") or ""
    where = "the embedded Redis (REDIS_URL is not set: `dlrhook local` or `make run` starts it)"
    if url:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        where = f"REDIS_URL={parts.scheme}://{netloc}{parts.path}"
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"dlrhook: cannot reach Redis at {where}: {reason}"


_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str | None) -> datetime | None:
    """``--since``: a duration back from now (``90s``, ``30m``, ``2h``, ``7d``) or an ISO time
    (without an offset: UTC). Raises :class:`click.BadParameter` saying which forms it takes."""
    if value is None:
        return None
    found = _DURATION.match(value.strip().lower())
    if found:
        return datetime.now(UTC) - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (90s, 30m, 2h, 7d) nor an ISO time (2026-12-01T10:00:00+00:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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
