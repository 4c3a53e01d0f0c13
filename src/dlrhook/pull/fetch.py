"""Fetching one reports path: one request into the page store, or every page now (``dlrhook pull``).

:class:`PathFetcher` holds what a path needs to make a request safely (the account's client,
the path's lock and page store, a backoff); :class:`dlrhook.pull.poller.Poller` is a
``PathFetcher`` that polls until stopped.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from dlrhook import channels, defaults, store
from dlrhook.errors import DlrhookError, InfobipUnavailable, PollerBusy, PullFailed, StoreUnavailable
from dlrhook.pull.backoff import Backoff
from dlrhook.pull.infobip import InfobipClient
from dlrhook.pull.lock import AccountLock
from dlrhook.pull.pages import PageStore, PullTotals
from dlrhook.settings import Settings
from dlrhook.store import keys

log = logging.getLogger("dlrhook.poller")


class PathFetcher:
    """Fetches one reports path of one Infobip account into its page store, one request at a time.

    *path* defaults to the primary one (``DLRHOOK_PULL_PATH``); *client* to the configured
    account's (None, and no lock, when INFOBIP_BASE_URL is unset). :meth:`pull` is
    ``dlrhook pull``.
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
        #: This path's page store's key: every fetched page waits there until it is ingested.
        self.pages = keys.pull_pages_key(self.path, primary=primary)
        self.stopping = threading.Event()
        self.page_store = PageStore(
            conn, settings, path=self.path, key=self.pages, channel=self.channel, stopping=self.stopping
        )
        if client is None and settings.infobip_base_url:
            client = InfobipClient.from_settings(settings, self.path)
        self.client = client
        self.lock = (
            AccountLock(conn, keys.pull_lock_key(client.account_id, self.path, primary=primary), settings.pull_lock_ttl)
            if client
            else None
        )
        self.backoff = Backoff(settings.pull_backoff, settings.pull_backoff_max)

    def stop(self) -> None:
        """Ask :meth:`pull` (or the poller's run) to return; an in-flight request and its page are finished first."""
        self.stopping.set()

    # -- one request ---------------------------------------------------------------------------

    def step(self, limit: int, *, bulk_id: str | None = None, message_id: str | None = None) -> PullTotals:
        """Ingest any left-over pages, then fetch one page, store it raw, and ingest it.

        The caller holds the lock. Raises ``redis.RedisError`` or :class:`StoreUnavailable` before
        fetching when Redis does not answer, is above the high-water mark or a left-over page
        cannot be ingested, and
        :class:`PollerBusy` when the lock turned out to be lost, so that no request is made
        then; the :mod:`dlrhook.pull.infobip` errors when Infobip gives no page.
        ``last_page_size`` is the number of reports in the fetched page.
        """
        assert self.client is not None and self.lock is not None
        totals = self.page_store.recover()
        self.conn.ping()
        full = store.over_high_water(self.conn, self.settings)
        if full:  # a fetched report is never returned again: fetch only what Redis has room for
            raise StoreUnavailable(full)
        if not self.lock.hold():
            raise PollerBusy
        body = self.client.fetch(limit, bulk_id=bulk_id, message_id=message_id)
        page_id = self.page_store.store(body)
        size, result = self.page_store.ingest(page_id, body)
        totals.count(result)
        totals.last_page_size = size
        return totals

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
