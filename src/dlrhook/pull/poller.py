"""The pull-mode poller: fetch every page of Infobip's ``GET /sms/1/reports`` (or any channel's reports paths,
``DLRHOOK_PULL_PATHS``) into :func:`dlrhook.ingest.ingest`.

Infobip returns each report from that endpoint exactly once, so this is the one place where a
crash could lose a report for good. The contract, for each path on its own (one
:class:`Poller` a path; :class:`Pollers` runs them side by side in one process):

- Every fetched page is stored raw before it is parsed, and kept until ingest took its
  reports; a page that is not a JSON ``results`` document is set aside, never dropped
  (:mod:`dlrhook.pull.pages`, the path's page store).
- Pages left by a poller that died are ingested before anything is fetched; no request is
  made while an un-ingested page exists or while Redis does not answer.
- At most one poller (or ``dlrhook pull``) per account and path makes requests: a Redis lock
  with an expiry, confirmed right before every request and renewed by a thread while held
  (:mod:`dlrhook.pull.lock`).
- 429, 5xx and network errors back off exponentially with jitter, never sooner than a
  ``Retry-After``; 401/403 log one error naming the credential setting and back off for
  minutes; nothing here raises out of :meth:`Poller.run` for an Infobip or Redis failure.

The waits are made by the loop itself rather than by urllib3's Retry or tenacity: each wait
must be cut short by a stop request and each retry must re-check Redis, pending pages and the
lock first, which a retry inside the HTTP call would skip. The delays are urllib3's Retry-After
parsing (``dlrhook.pull.infobip.retry_after_seconds``) and redis-py's equal-jitter backoff
(:class:`dlrhook.pull.backoff.Backoff` counts the failures in a row).
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from dlrhook import defaults
from dlrhook.errors import (
    InfobipAuthError,
    InfobipRequestError,
    InfobipUnavailable,
    PollerBusy,
    StoreUnavailable,
)
from dlrhook.pull.backoff import Backoff
from dlrhook.pull.conditions import Conditions
from dlrhook.pull.fetch import PathFetcher
from dlrhook.pull.infobip import InfobipClient
from dlrhook.settings import Settings
from dlrhook.store import keys

log = logging.getLogger("dlrhook.poller")


class Poller(PathFetcher):
    """Polls one reports path of one Infobip account until stopped; see the module docstring.

    *path* defaults to the primary one (``DLRHOOK_PULL_PATH``). :meth:`run` is what the
    ``dlrhook poller`` process runs for each path; :meth:`pull` is ``dlrhook pull``. Call
    :meth:`stop` (from any thread or a signal handler's thread) to end :meth:`run` between
    requests.
    """

    def __init__(
        self,
        settings: Settings,
        conn: redis.Redis,
        client: InfobipClient | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(settings, conn, client, path)
        self.auth_backoff = Backoff(
            settings.pull_auth_backoff, max(settings.pull_auth_backoff, defaults.PULL_AUTH_BACKOFF_MAX)
        )
        self.conditions = Conditions(log)
        self._next_reconcile = time.monotonic()  # the first pass at start

    # -- the process ---------------------------------------------------------------------------

    def run(self) -> None:
        """Poll until :meth:`stop`. Idles (logging why, once) without an account or in mode ``off``."""
        if self.client is None or self.lock is None:
            log.warning("INFOBIP_BASE_URL is not set: the poller is idle (push only)")
            self.stopping.wait()
            return
        if self.settings.pull_mode == "off":
            if not self.settings.reconcile_after:
                log.info("DLRHOOK_PULL_MODE is off: the poller is idle")
                self.stopping.wait()
                return
            log.info("DLRHOOK_PULL_MODE is off: the poller only reconciles (DLRHOOK_RECONCILE_AFTER)")
        log.info(
            "poller starting",
            extra={
                "url": self.client.url,
                "channel": self.channel,
                "mode": self.settings.pull_mode,
                "limit": self.settings.pull_limit,
                "credential": self.client.credential_setting,
            },
        )
        try:
            while not self.stopping.is_set():
                self.maybe_reconcile()
                delay = self._cycle() if self.settings.pull_mode != "off" else defaults.RECONCILE_INTERVAL
                delay = min(delay, self._reconcile_wait())
                if delay > 0:
                    self.stopping.wait(delay)
        finally:
            self.lock.release()
            self.client.close()
            log.info("poller stopped")

    def _cycle(self) -> float:
        """One round of :meth:`run`: at most one request. Returns the seconds to wait before the next."""
        assert self.client is not None and self.lock is not None
        try:
            if self.settings.pull_mode == "fallback":
                quiet_left = self._quiet_left()
                if quiet_left > 0:
                    self.conditions.once("paused", logging.INFO, "pushes are arriving: pulling paused (fallback mode)")
                    self._ok()
                    return quiet_left
                if self.conditions.forget("paused"):
                    log.info("no push for %d s: pulling (fallback mode)", self.settings.pull_quiet)
            if not self.lock.hold():
                raise PollerBusy
            self.conditions.forget("busy")
            totals = self.step(self.settings.pull_limit)
            self._ok()
        except PollerBusy:
            self.conditions.once("busy", logging.INFO, f"another poller holds {self.lock.name}: standing by")
            return min(self.settings.pull_interval, self.lock.ttl / 3)
        except (redis.RedisError, StoreUnavailable) as exc:
            self.conditions.once("redis", logging.ERROR, f"Redis is unavailable ({type(exc).__name__}): not fetching")
            return self.backoff.next()
        except InfobipUnavailable as exc:
            wait = self.backoff.next()
            if exc.retry_after is not None:
                wait = max(wait, min(exc.retry_after, defaults.PULL_RETRY_AFTER_MAX))
            log.warning("%s; next request in %.2f s", exc, wait, extra={"status": exc.status})
            return wait
        except (InfobipAuthError, InfobipRequestError) as exc:
            wait = self.auth_backoff.next()
            # One clear error per outage; the retries after it, minutes apart, say it at DEBUG.
            if not self.conditions.once(
                "refused", logging.ERROR, f"{exc}; next request in {wait:.1f} s, then less often"
            ):
                log.debug("%s; next request in %.1f s", exc, wait)
            return wait
        except Exception:
            # A bug must not become a crash loop that restarts, re-locks and re-requests at
            # full speed: log it with its traceback and back off like any failure.
            wait = self.backoff.next()
            log.exception("unexpected error in the poller; next attempt in %.1f s", wait)
            return wait
        if self.conditions.forget("redis"):
            log.info("Redis answers again")
        if self.conditions.forget("refused"):
            log.info("Infobip accepts the credential again")
        self.backoff.reset()
        self.auth_backoff.reset()
        # A full page means more are waiting: follow it at once. A short one emptied the queue.
        return 0 if totals.last_page_size >= self.settings.pull_limit else self.settings.pull_interval

    # -- reconciliation (DLRHOOK_RECONCILE_AFTER) -----------------------------------------------

    def _reconcile_wait(self) -> float:
        """Seconds until the next reconcile pass is due (infinite when reconciliation is off)."""
        if not self.settings.reconcile_after:
            return float("inf")
        return max(0.0, self._next_reconcile - time.monotonic())

    def maybe_reconcile(self) -> None:
        """One reconcile pass when due (every ``RECONCILE_INTERVAL`` s, the first at start) and
        this poller holds the account lock, so that one process per account asks Infobip, one
        request at a time. Never raises: a failed pass is logged and the next one comes anyway.
        """
        if not self.settings.reconcile_after or self._reconcile_wait() > 0:
            return
        from dlrhook.errors import ReconcileFailed
        from dlrhook.pull.reconcile import reconcile

        assert self.client is not None and self.lock is not None
        self._next_reconcile = time.monotonic() + defaults.RECONCILE_INTERVAL
        try:
            if not self.lock.hold():
                return  # the lock holder reconciles
            reconcile(self.conn, self.settings, self.client, self.settings.reconcile_after, stop=self.stopping)
        except ReconcileFailed as exc:
            log.warning("reconcile pass stopped: %s", exc, extra=exc.totals.as_dict())
        except Exception:
            log.exception(
                "unexpected error in a reconcile pass; the next one comes in %d s", defaults.RECONCILE_INTERVAL
            )

    def _ok(self) -> None:
        """A round ended without an error: say when, for ``dlrhook_pull_last_ok_timestamp_seconds``."""
        self.conn.hset(keys.PULL_OK, self.path, f"{time.time():.3f}")

    def _quiet_left(self) -> float:
        """Seconds until no push has arrived for DLRHOOK_PULL_QUIET (0: pull now)."""
        last = self.conn.get(keys.LAST_PUSH)
        if last is None:
            return 0.0
        return max(0.0, float(last) + self.settings.pull_quiet - time.time())


class Pollers:
    """The ``dlrhook poller`` process: one :class:`Poller` per reports path (``DLRHOOK_PULL_PATHS``),
    each in a thread of its own, with its own lock, page store and backoff, so a path that is
    refused or throttled holds back no other. :meth:`stop` stops them all between requests."""

    def __init__(self, settings: Settings, conn: redis.Redis) -> None:
        paths = settings.report_paths if settings.infobip_base_url else settings.report_paths[:1]
        self.pollers = [Poller(settings, conn, path=path) for path in paths]

    def stop(self) -> None:
        """Ask every path's poller to return."""
        for poller in self.pollers:
            poller.stop()

    def run(self) -> None:
        """Run every path's poller until :meth:`stop`."""
        if len(self.pollers) == 1:
            self.pollers[0].run()
            return
        threads = [
            threading.Thread(target=poller.run, name=f"dlrhook-poller {poller.path}", daemon=True)
            for poller in self.pollers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
