"""What the commands share: the settings or a clean exit, and a poller run until a signal."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dlrhook.errors import SettingsError
from dlrhook.settings import Settings, load_settings

if TYPE_CHECKING:
    import redis

    from dlrhook.pull.poller import Poller, Pollers


def settings_or_exit() -> Settings:
    """Load the settings, or stop with exit code 2 and a message naming the variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)


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
