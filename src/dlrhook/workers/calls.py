"""Calling a handler: each call bounded in time, and a process that a stuck call cannot keep.

- ``DLRHOOK_HANDLER_TIMEOUT``: SIGALRM interrupts a call that takes longer (Python code, and C
  code that lets signals through); the call has failed, for that handler alone.
- A call that cannot be interrupted (stuck in C code) is ended with the process by a watchdog
  thread ``HANDLER_KILL_GRACE`` seconds later, which first counts the crash for the reports of
  the call (``dlrhook:crashes:<handler>``), so that a report doing it every time is
  dead-lettered; C code that even holds the GIL, and so stops that thread too, meets
  faulthandler's own watchdog (a C thread) 2 s after that.

The supervisor (Heroku, systemd, honcho) starts a fresh worker; :mod:`dlrhook.workers.lane`
reclaims the batch the dead one held.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

import redis

from dlrhook import defaults
from dlrhook.errors import HandlerTimeout, PartialFailure
from dlrhook.report import DeliveryReport
from dlrhook.settings import Settings
from dlrhook.workers import runtime
from dlrhook.workers.handlers import Handler

log = logging.getLogger("dlrhook.dispatch")

#: Seconds the crash counts of a handler are kept after their last change.
CRASHES_TTL = 7 * 24 * 3600
#: Exit status of a worker ended by the watchdog (EX_SOFTWARE): its supervisor starts a new one.
WATCHDOG_EXIT = 70


class CallSite(Protocol):
    """Who calls: the handler, the settings, and where its crashes are counted."""

    handler: Handler
    settings: Settings
    conn: redis.Redis
    crashes_key: str


@dataclass
class Outcome:
    """What one handler made of some reports, by index: failed, or never tried (time is up)."""

    failed: list[int] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)
    error: str = ""


class Watchdog:
    """Ends the process when a handler call outlives its timeout by ``HANDLER_KILL_GRACE`` s.

    SIGALRM interrupts Python code; a call stuck in C code never sees it. Then only a new
    process helps: the watchdog counts the crash for the reports of the call (so a report that
    does it every time is dead-lettered) and exits; the supervisor (Heroku, systemd, honcho)
    starts a fresh worker, and the abandoned batch is reclaimed.
    """

    def __init__(self) -> None:
        self.call: tuple[float, CallSite, list[str]] | None = None
        self.thread: threading.Thread | None = None
        self.backstop_armed = 0.0

    def arm(self, site: CallSite, keys: list[str], *, counted: bool = False) -> None:
        """Watch the call about to start; *counted*: its crash is already counted (careful mode)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="dlrhook-watchdog", daemon=True)
            self.thread.start()
        limit = site.settings.handler_timeout + defaults.HANDLER_KILL_GRACE
        now = time.monotonic()
        self.call = (now + limit, site, [] if counted else keys)
        if now - self.backstop_armed >= 1.0:
            # The backstop for C code that holds the GIL, which stops this thread too:
            # faulthandler's own C thread prints the stuck traceback and exits the process. It is
            # re-armed at most once a second (each arming starts a thread), so it fires 2-3 s
            # after this watchdog would have.
            faulthandler.dump_traceback_later(limit + 2.0, exit=True)
            self.backstop_armed = now

    def done(self) -> None:
        """The calls are over (a batch, or a per-report handler's run of calls): nothing to watch,
        and the backstop is cancelled, so that no pause between calls (a slow Redis) can trip it."""
        self.call = None
        if self.backstop_armed:
            faulthandler.cancel_dump_traceback_later()
            self.backstop_armed = 0.0

    def _run(self) -> None:
        while True:
            time.sleep(0.25)
            call = self.call
            if call is None or time.monotonic() < call[0]:
                continue
            _, site, keys = call
            log.critical(
                "handler %s: a call did not return %.0f s after its timeout and cannot be interrupted;"
                " ending this worker so that a fresh one takes over",
                site.handler.name,
                defaults.HANDLER_KILL_GRACE,
            )
            try:
                with site.conn.pipeline(transaction=True) as pipe:
                    for key in keys:
                        pipe.hincrby(site.crashes_key, key, 1)
                    pipe.expire(site.crashes_key, CRASHES_TTL)
                    pipe.execute()
            finally:
                logging.shutdown()
                os._exit(WATCHDOG_EXIT)


watchdog = Watchdog()


class Alarm:
    """SIGALRM per handler call (main thread only), restoring whatever alarm was set before."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.enabled = threading.current_thread() is threading.main_thread()
        self.previous: Any = None
        self.previous_delay = 0.0
        self.started = 0.0

    def __enter__(self) -> Alarm:
        if self.enabled:
            self.previous = signal.signal(signal.SIGALRM, _on_alarm)
            self.previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, 0)
            self.started = time.monotonic()
        return self

    def start(self) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)

    def stop(self) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
            if self.previous_delay:
                left = self.previous_delay - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise HandlerTimeout


def call(site: CallSite, reports: list[DeliveryReport], deadline: float, *, counted: bool = False) -> Outcome:
    """Call the site's handler on *reports*; never raises for the handler's own errors.

    Each call is bounded by ``DLRHOOK_HANDLER_TIMEOUT``. A per-report handler stops being given
    reports when the shutdown grace or the drain's *deadline* is spent: the rest are untried.
    """
    handler, timeout = site.handler, site.settings.handler_timeout
    if not reports:
        return Outcome()
    if runtime.past_deadline():
        return Outcome(untried=list(range(len(reports))))
    too_slow = f"HandlerTimeout: the call took longer than DLRHOOK_HANDLER_TIMEOUT ({timeout:g} s)"
    with Alarm(timeout) as alarm:
        if handler.batch:
            watchdog.arm(site, [r.key for r in reports], counted=counted)
            try:
                alarm.start()
                handler.func(list(reports))
                alarm.stop()
            except HandlerTimeout:
                return Outcome(failed=list(range(len(reports))), error=too_slow)
            except PartialFailure as exc:
                alarm.stop()
                ids = {id(r) for r in exc.failed}
                keys = {r.key for r in exc.failed}
                failed = [i for i, r in enumerate(reports) if id(r) in ids or r.key in keys]
                return Outcome(failed=failed, error=traceback.format_exc())
            except Exception:
                alarm.stop()
                return Outcome(failed=list(range(len(reports))), error=traceback.format_exc())
            finally:
                watchdog.done()
            return Outcome()
        outcome = Outcome()
        func: Callable[[DeliveryReport], Any] = handler.func
        for i, report in enumerate(reports):
            if i and (runtime.past_deadline() or time.monotonic() >= deadline):
                outcome.untried = list(range(i, len(reports)))
                break
            watchdog.arm(site, [report.key], counted=counted)
            try:
                alarm.start()
                func(report)
                alarm.stop()
            except HandlerTimeout:
                outcome.failed.append(i)
                outcome.error = too_slow
            except Exception:
                alarm.stop()
                outcome.failed.append(i)
                outcome.error = traceback.format_exc()
        watchdog.done()
        return outcome
