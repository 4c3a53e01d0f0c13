"""The pull-mode poller: fetch every page of Infobip's ``GET /sms/1/reports`` (or any channel's reports paths,
``DLRHOOK_PULL_PATHS``) into :func:`dlrhook.ingest.ingest`.

Infobip returns each report from that endpoint exactly once, so this is the one place where a
crash could lose a report for good. The contract, for each path on its own (one
:class:`Poller` a path; :class:`Pollers` runs them side by side in one process):

- The raw body of every page is written to Redis (the path's page store,
  ``keys.pull_pages_key``) before it is parsed, and deleted only after :func:`ingest` took its
  reports (accepted, duplicate or quarantined). Their channel, when the body does not name it,
  is the path's (``/viber/2/reports``: VIBER; ``dlrhook.channels.from_pull_path``).
  A body that is not a JSON ``results`` document moves to ``keys.PULL_REJECTED`` with the
  error, and is logged; it is never dropped.
- Pages left by a poller that died are ingested before anything is fetched; no request is
  made while an un-ingested page exists or while Redis does not answer.
- At most one poller (or ``dlrhook pull``) per account and path makes requests: a Redis lock
  with an expiry, confirmed right before every request and renewed by a thread while held.
- 429, 5xx and network errors back off exponentially with jitter, never sooner than a
  ``Retry-After``; 401/403 log one error naming the credential setting and back off for
  minutes; nothing here raises out of :meth:`Poller.run` for an Infobip or Redis failure.

The waits are made by the loop itself rather than by urllib3's Retry or tenacity: each wait
must be cut short by a stop request and each retry must re-check Redis, pending pages and the
lock first, which a retry inside the HTTP call would skip. The delays are urllib3's Retry-After
parsing (``dlrhook.pull.infobip.retry_after_seconds``) and redis-py's equal-jitter backoff
(:class:`Backoff` counts the failures in a row).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from redis.backoff import EqualJitterBackoff
from redis.exceptions import LockError
from redis.lock import Lock

from dlrhook import channels, defaults
from dlrhook.errors import (
    DlrhookError,
    InfobipAuthError,
    InfobipRequestError,
    InfobipUnavailable,
    PollerBusy,
    PullFailed,
    PushRejected,
    StoreUnavailable,
)
from dlrhook.ingest import IngestResult, ingest
from dlrhook.parsing import parse_json, results_of
from dlrhook.pull.infobip import InfobipClient
from dlrhook.settings import Settings
from dlrhook.store import keys

log = logging.getLogger("dlrhook.poller")

#: Seconds a stopping poller keeps trying to store a page it fetched while Redis was down.
STOP_GRACE = 10.0


@dataclass
class PullTotals:
    """What a pull did: report counts over every page, and how many pages it took."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    pages: int = 0
    rejected_pages: int = 0
    last_page_size: int = 0

    def add(self, result: IngestResult) -> None:
        """Count one ingested page."""
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined
        self.pages += 1

    def merge(self, other: PullTotals) -> None:
        """Add another pull's counts to these."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.pages += other.pages
        self.rejected_pages += other.rejected_pages

    def as_dict(self) -> dict[str, int]:
        """The counts ``dlrhook pull`` prints."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "pages": self.pages,
            "rejected_pages": self.rejected_pages,
        }


class Backoff:
    """Exponential backoff with "equal jitter": the n-th wait is in [d/2, d], d = base * 2**n, capped.

    The lower half is fixed so that a wait is never near zero; the upper half is random so that
    many pollers restarted together do not retry in step. The delays are redis-py's
    :class:`~redis.backoff.EqualJitterBackoff`; this only counts the failures in a row.
    """

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._delays = EqualJitterBackoff(cap=cap, base=base)

    def next(self) -> float:
        """The next wait, in seconds; each call doubles the following one (up to ``cap``)."""
        # The exponent stops growing once base * 2**n passes any cap (and before a float overflows).
        wait = self._delays.compute(min(self.failures, 62))
        self.failures += 1
        return wait

    def reset(self) -> None:
        """After a success: the next failure waits ``base`` again."""
        self.failures = 0


class AccountLock:
    """The one-poller-per-account-and-path lock: ``SET NX PX`` with a token, released and renewed by Lua.

    redis-py's :class:`~redis.lock.Lock` does the atomic parts; this adds a thread that renews
    it every third of its TTL while held, so that a long request or wait never lets it lapse.
    *name* is the key (``keys.pull_lock_key``).
    """

    def __init__(self, conn: redis.Redis, name: str, ttl: int) -> None:
        self.name = name
        self.ttl = ttl
        # thread_local=False: the renewing thread must see the token the main thread got.
        self._lock = Lock(conn, self.name, timeout=ttl, blocking=False, thread_local=False)
        self._held = False
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()

    @property
    def held(self) -> bool:
        """True while this process believes it holds the lock (confirm with :meth:`hold`)."""
        return self._held

    def hold(self) -> bool:
        """Acquire the lock, or confirm it is still ours with a fresh expiry; False if another has it.

        Raises ``redis.RedisError`` when Redis does not answer.
        """
        if self._held:
            try:
                self._lock.reacquire()
                return True
            except LockError:
                self._held = False
                self._stop_renewer()
                log.warning("the poller lock expired while held; another poller may have taken over")
        if self._lock.acquire(blocking=False):
            self._held = True
            self._stop_renewing.clear()
            self._renewer = threading.Thread(target=self._renew, name="dlrhook-poller-lock", daemon=True)
            self._renewer.start()
            return True
        return False

    def release(self) -> None:
        """Give the lock up if held. Never raises: an unreachable Redis lets it expire instead."""
        self._stop_renewer()
        if self._held:
            self._held = False
            try:
                self._lock.release()
            except (LockError, redis.RedisError) as exc:
                log.debug("poller lock not released (%s); it expires on its own", type(exc).__name__)

    def _stop_renewer(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        self._renewer = None

    def _renew(self) -> None:
        while not self._stop_renewing.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except LockError:
                return  # lost it; the main thread finds out in hold() before its next request
            except redis.RedisError:
                continue  # Redis is down: so is everyone's lock; keep trying


class Poller:
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
        self.settings = settings
        self.conn = conn
        self.path = path or (client.path if client else settings.primary_pull_path)
        primary = self.path == settings.primary_pull_path
        #: The channel of pulled reports whose body names none (None: each must name its own).
        self.channel = channels.from_pull_path(self.path)
        #: This path's page store: every fetched page waits here until it is ingested.
        self.pages = keys.pull_pages_key(self.path, primary=primary)
        if client is None and settings.infobip_base_url:
            client = InfobipClient.from_settings(settings, self.path)
        self.client = client
        self.lock = (
            AccountLock(conn, keys.pull_lock_key(client.account_id, self.path, primary=primary), settings.pull_lock_ttl)
            if client
            else None
        )
        self.stopping = threading.Event()
        self.backoff = Backoff(settings.pull_backoff, settings.pull_backoff_max)
        self.auth_backoff = Backoff(
            settings.pull_auth_backoff, max(settings.pull_auth_backoff, defaults.PULL_AUTH_BACKOFF_MAX)
        )
        self._said: set[str] = set()
        self._next_reconcile = time.monotonic()  # the first pass at start

    # -- the process ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to return; an in-flight request and its page are finished first."""
        self.stopping.set()

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
                    self._once("paused", logging.INFO, "pushes are arriving: pulling paused (fallback mode)")
                    return quiet_left
                if self._forget("paused"):
                    log.info("no push for %d s: pulling (fallback mode)", self.settings.pull_quiet)
            if not self.lock.hold():
                raise PollerBusy
            self._forget("busy")
            totals = self.step(self.settings.pull_limit)
        except PollerBusy:
            self._once("busy", logging.INFO, f"another poller holds {self.lock.name}: standing by")
            return min(self.settings.pull_interval, self.lock.ttl / 3)
        except (redis.RedisError, StoreUnavailable) as exc:
            self._once("redis", logging.ERROR, f"Redis is unavailable ({type(exc).__name__}): not fetching")
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
            if not self._once("refused", logging.ERROR, f"{exc}; next request in {wait:.1f} s, then less often"):
                log.debug("%s; next request in %.1f s", exc, wait)
            return wait
        except Exception:
            # A bug must not become a crash loop that restarts, re-locks and re-requests at
            # full speed: log it with its traceback and back off like any failure.
            wait = self.backoff.next()
            log.exception("unexpected error in the poller; next attempt in %.1f s", wait)
            return wait
        if self._forget("redis"):
            log.info("Redis answers again")
        if self._forget("refused"):
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

    def _quiet_left(self) -> float:
        """Seconds until no push has arrived for DLRHOOK_PULL_QUIET (0: pull now)."""
        last = self.conn.get(keys.LAST_PUSH)
        if last is None:
            return 0.0
        return max(0.0, float(last) + self.settings.pull_quiet - time.time())

    # -- one request ---------------------------------------------------------------------------

    def step(self, limit: int, *, bulk_id: str | None = None, message_id: str | None = None) -> PullTotals:
        """Ingest any left-over pages, then fetch one page, store it raw, and ingest it.

        The caller holds the lock. Raises ``redis.RedisError`` or :class:`StoreUnavailable` before
        fetching when Redis does not answer or a left-over page cannot be ingested, and
        :class:`PollerBusy` when the lock turned out to be lost, so that no request is made
        then; the :mod:`dlrhook.pull.infobip` errors when Infobip gives no page.
        ``last_page_size`` is the number of reports in the fetched page.
        """
        assert self.client is not None and self.lock is not None
        totals = self.recover()
        self.conn.ping()
        if not self.lock.hold():
            raise PollerBusy
        body = self.client.fetch(limit, bulk_id=bulk_id, message_id=message_id)
        page_id = self._store_page(body)
        size, result = self.ingest_page(page_id, body)
        if result is None:
            totals.rejected_pages += 1
        else:
            totals.add(result)
        totals.last_page_size = size
        return totals

    def recover(self) -> PullTotals:
        """Ingest every page still in this path's page store (left by a poller that died), oldest first."""
        totals = PullTotals()
        page_ids: list[bytes] = sorted(self.conn.hkeys(self.pages))  # type: ignore[arg-type]
        for raw_id in page_ids:
            page_id = raw_id.decode()
            body = self.conn.hget(self.pages, page_id)
            if not isinstance(body, bytes):
                continue  # ingested meanwhile by another process
            log.warning("ingesting a page left by an earlier poller", extra={"page_id": page_id})
            _, result = self.ingest_page(page_id, body)
            if result is None:
                totals.rejected_pages += 1
            else:
                totals.add(result)
        return totals

    def _store_page(self, body: bytes) -> str:
        """Write the raw body to Redis under a new page id; keep trying while Redis is down.

        The reports in it are gone from Infobip already, so giving up loses them: this gives up
        only when the poller is stopping and Redis stayed down for STOP_GRACE seconds more.
        """
        page_id = f"p-{int(time.time() * 1000):013d}-{secrets.token_hex(4)}"
        retry = Backoff(self.settings.pull_backoff, min(self.settings.pull_backoff_max, 5.0))
        give_up_at: float | None = None
        while True:
            try:
                self.conn.hset(self.pages, page_id, body)
                return page_id
            except redis.RedisError as exc:
                now = time.monotonic()
                if self.stopping.is_set():
                    give_up_at = give_up_at or now + STOP_GRACE
                    if now >= give_up_at:
                        log.critical(
                            "stopping with a fetched page Redis would not store: its reports are lost",
                            extra={"page_id": page_id, "bytes": len(body)},
                        )
                        raise StoreUnavailable("a fetched page could not be stored") from exc
                log.error(
                    "Redis cannot store a fetched page (%s); keeping it in memory and retrying",
                    type(exc).__name__,
                    extra={"page_id": page_id, "bytes": len(body)},
                )
                time.sleep(retry.next())

    def ingest_page(self, page_id: str, body: bytes) -> tuple[int, IngestResult | None]:
        """Parse a stored page and ingest its reports, then delete it; return (reports, result).

        A body that is not a JSON ``results`` document (or holds a number no report could hold,
        ``NaN`` or ``1e1000000``), or that ingest fails on for any reason but Redis, moves to
        ``keys.PULL_REJECTED`` (result None); reports that fail validation are quarantined.
        Raises :class:`StoreUnavailable` or ``redis.RedisError`` with the page still stored, so
        it is ingested again later (ingest's dedup makes that safe).
        """
        try:
            reports = results_of(parse_json(body))
        except PushRejected as exc:
            self._reject(page_id, body, exc.detail)
            return 0, None
        try:
            result = ingest(self.conn, reports, source="pull", settings=self.settings, channel=self.channel)
        except (StoreUnavailable, redis.RedisError):
            raise
        except Exception as exc:
            # A page that makes ingest fail for any other reason would fail again on every
            # retry and hold back every page after it: keep it aside, as an unparseable one.
            log.exception("a pulled page could not be ingested", extra={"page_id": page_id})
            self._reject(page_id, body, f"ingest failed: {type(exc).__name__}: {exc}")
            return 0, None
        self.conn.hdel(self.pages, page_id)
        log.info(
            "pulled page ingested",
            extra={
                "page_id": page_id,
                "path": self.path,
                "reports": len(reports),
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "quarantined": result.quarantined,
            },
        )
        if result.quarantined:
            log.warning("quarantined %d of %d pulled reports", result.quarantined, len(reports))
        return len(reports), result

    def _reject(self, page_id: str, body: bytes, error: str) -> None:
        """Move an unparseable page from this path's page store to PULL_REJECTED in one transaction."""
        entry: dict[str, Any] = {
            "id": page_id,
            "path": self.path,
            "error": error,
            "rejected_at": datetime.now(UTC).isoformat(),
        }
        try:
            entry["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            entry["body_b64"] = base64.b64encode(body).decode("ascii")
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.hset(keys.PULL_REJECTED, page_id, json.dumps(entry, ensure_ascii=False))
            pipe.hdel(self.pages, page_id)
            pipe.execute()
        # The body is not logged: it may hold phone numbers. It is in Redis for an operator.
        log.error(
            "a pulled page is not a JSON results document; kept in %s",
            keys.PULL_REJECTED,
            extra={"page_id": page_id, "error": error, "bytes": len(body)},
        )

    # -- dlrhook pull --------------------------------------------------------------------------

    def pull(
        self,
        limit: int | None = None,
        *,
        bulk_id: str | None = None,
        message_id: str | None = None,
        attempts: int = 5,
        lock_wait: float | None = None,
    ) -> PullTotals:
        """Fetch pages now until a short one, whatever DLRHOOK_PULL_MODE says; return the totals.

        *limit* (default DLRHOOK_PULL_LIMIT, never more) is the ``limit`` of each request. Waits
        up to *lock_wait* seconds (default twice the lock TTL) for the account lock, else raises
        :class:`PollerBusy`. A 429/5xx/network error is retried with backoff up to *attempts*
        times in a row; after that, or on any other failure, the error is raised with the pages
        so far ingested, as :class:`PullFailed` (its ``totals`` count them). A stop request ends
        it between requests, returning the totals so far.
        """
        if self.client is None or self.lock is None:
            raise ValueError("INFOBIP_BASE_URL is not set")
        limit = limit or self.settings.pull_limit
        totals = PullTotals()
        deadline = time.monotonic() + (lock_wait if lock_wait is not None else 2 * self.lock.ttl)
        while not self.lock.hold():
            if time.monotonic() >= deadline:
                raise PollerBusy(f"another poller holds {self.lock.name} (is `dlrhook poller` running?)")
            if self.stopping.wait(0.2):
                return totals
        try:
            failures = 0
            while not self.stopping.is_set():
                try:
                    page = self.step(limit, bulk_id=bulk_id, message_id=message_id)
                except InfobipUnavailable as exc:
                    failures += 1
                    if failures >= attempts:
                        raise
                    wait = self.backoff.next()
                    if exc.retry_after is not None:
                        wait = max(wait, min(exc.retry_after, defaults.PULL_RETRY_AFTER_MAX))
                    log.warning("%s; retrying in %.2f s", exc, wait)
                    self.stopping.wait(wait)
                    continue
                failures = 0
                self.backoff.reset()
                totals.merge(page)
                if page.last_page_size < limit:
                    break
        except (DlrhookError, redis.RedisError) as exc:
            raise PullFailed(str(exc) or type(exc).__name__, totals) from exc
        finally:
            self.lock.release()
        return totals

    # -- logging once --------------------------------------------------------------------------

    def _once(self, key: str, level: int, message: str) -> bool:
        """Log *message* unless *key* was said since it was last forgotten; True if logged."""
        if key in self._said:
            return False
        self._said.add(key)
        log.log(level, message)
        return True

    def _forget(self, key: str) -> bool:
        """Allow *key*'s message again; True if it had been said (a condition just ended)."""
        if key in self._said:
            self._said.discard(key)
            return True
        return False


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
