"""A reports path's page store: where every fetched page waits, raw, until ingest took its reports.

Infobip returns each report from its reports endpoints exactly once, so a page must be in Redis
before anything else is done with it:

- The raw body of every page is written to Redis (the path's page store,
  ``keys.pull_pages_key``), as durably as ``DLRHOOK_DURABILITY`` asks, before it is parsed,
  and deleted only after :func:`ingest` took its reports (accepted, duplicate or
  quarantined). Their channel, when the body does not name it, is the path's
  (``/viber/2/reports``: VIBER; ``dlrhook.channels.from_pull_path``).
  A body that is not a JSON ``results`` document moves to ``keys.PULL_REJECTED`` with the
  error, and is logged. That store is bounded: a body is kept up to :data:`REJECTED_BODY_MAX`
  bytes (``truncated`` then gives its full size), and only the newest :data:`REJECTED_MAX`
  pages are kept (the oldest go first, logged).
- Pages left by a poller that died are ingested (:meth:`PageStore.recover`) before anything is
  fetched.

:class:`PullTotals` counts what ingesting pages did.
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

from dlrhook import store
from dlrhook.errors import DurabilityUnsupported, PushRejected, StoreUnavailable
from dlrhook.ingest import IngestResult, ingest
from dlrhook.outcomes import Outcomes
from dlrhook.parsing import parse_json, results_of
from dlrhook.pull.backoff import Backoff
from dlrhook.settings import Settings
from dlrhook.store import durability, keys

log = logging.getLogger("dlrhook.poller")

#: Seconds a stopping poller keeps trying to store a page it fetched while Redis was down.
STOP_GRACE = 10.0
#: Rejected pages kept (the newest), and the bytes of each body kept.
REJECTED_MAX = 100
REJECTED_BODY_MAX = 1024 * 1024


@dataclass
class PullTotals(Outcomes):
    """What a pull did: report counts over every page, and how many pages it took."""

    pages: int = 0
    rejected_pages: int = 0
    last_page_size: int = 0

    def count(self, result: IngestResult | None) -> None:
        """Count one page: ingested (its *result*), or rejected (None)."""
        if result is None:
            self.rejected_pages += 1
            return
        self.add(result)
        self.pages += 1

    def merge(self, other: PullTotals) -> None:
        """Add another pull's counts to these."""
        self.add(other)
        self.pages += other.pages
        self.rejected_pages += other.rejected_pages

    def as_dict(self) -> dict[str, int]:
        """The counts ``dlrhook pull`` prints."""
        return {**super().as_dict(), "pages": self.pages, "rejected_pages": self.rejected_pages}


class PageStore:
    """The page store of one reports *path* (the hash *key*): store, recover, ingest, reject.

    Reports in its pages whose body names no channel get *channel*. *stopping* is the poller's
    stop request, which bounds how long :meth:`store` keeps trying while Redis is down.
    """

    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        *,
        path: str,
        key: str,
        channel: str | None,
        stopping: threading.Event,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.path = path
        self.key = key
        self.channel = channel
        self.stopping = stopping

    def store(self, body: bytes) -> str:
        """Write the raw body to Redis under a new page id, as durably as ``DLRHOOK_DURABILITY``
        asks (the same wait a push gets); keep trying while Redis is down or the level is not met.

        The reports in it are gone from Infobip already, so giving up loses them: this gives up
        only when the poller is stopping and Redis stayed down for STOP_GRACE seconds more.
        Each try writes the same page id again, so that its wait covers it.
        """
        page_id = f"p-{int(time.time() * 1000):013d}-{secrets.token_hex(4)}"
        retry = Backoff(self.settings.pull_backoff, min(self.settings.pull_backoff_max, 5.0))
        give_up_at: float | None = None
        while True:
            try:
                _, shortfall = durability.execute(
                    self.conn, self.settings, lambda pipe: pipe.hset(self.key, page_id, body)
                )
                if shortfall is None:
                    return page_id
                problem = f"a fetched page is in Redis but {shortfall}"
            except (redis.RedisError, DurabilityUnsupported) as exc:
                problem = f"Redis cannot store a fetched page ({type(exc).__name__}: {exc})"
            now = time.monotonic()
            if self.stopping.is_set():
                give_up_at = give_up_at or now + STOP_GRACE
                if now >= give_up_at:
                    log.critical(
                        "stopping with a fetched page Redis would not keep (%s): its reports may be lost",
                        problem,
                        extra={"page_id": page_id, "bytes": len(body)},
                    )
                    raise StoreUnavailable("a fetched page could not be stored")
            log.error(
                "%s; keeping it in memory and retrying",
                problem,
                extra={"page_id": page_id, "bytes": len(body)},
            )
            time.sleep(retry.next())

    def recover(self) -> PullTotals:
        """Ingest every page still in this path's page store (left by a poller that died), oldest first."""
        totals = PullTotals()
        page_ids: list[bytes] = sorted(self.conn.hkeys(self.key))  # type: ignore[arg-type]
        for raw_id in page_ids:
            page_id = raw_id.decode()
            body = self.conn.hget(self.key, page_id)
            if not isinstance(body, bytes):
                continue  # ingested meanwhile by another process
            log.warning("ingesting a page left by an earlier poller", extra={"page_id": page_id})
            _, result = self.ingest(page_id, body)
            totals.count(result)
        return totals

    def ingest(self, page_id: str, body: bytes) -> tuple[int, IngestResult | None]:
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
        self.conn.hdel(self.key, page_id)
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
        kept = body[:REJECTED_BODY_MAX]
        if len(body) > REJECTED_BODY_MAX:
            entry["truncated"] = len(body)
        try:
            entry["body"] = kept.decode("utf-8")
        except UnicodeDecodeError:
            entry["body_b64"] = base64.b64encode(kept).decode("ascii")
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.hset(keys.PULL_REJECTED, page_id, json.dumps(entry, ensure_ascii=False))
            pipe.hdel(self.key, page_id)
            pipe.execute()
        self._keep_newest_rejected()
        # The body is not logged: it may hold phone numbers. It is in Redis for an operator.
        log.error(
            "a pulled page is not a JSON results document; kept in %s",
            keys.PULL_REJECTED,
            extra={"page_id": page_id, "error": error, "bytes": len(body)},
        )

    def _keep_newest_rejected(self) -> None:
        """Delete the oldest rejected pages past :data:`REJECTED_MAX` (page ids sort by time)."""
        if self.conn.hlen(keys.PULL_REJECTED) <= REJECTED_MAX:
            return
        page_ids = sorted(store.text(k) for k in self.conn.hkeys(keys.PULL_REJECTED))
        oldest = page_ids[: len(page_ids) - REJECTED_MAX]
        self.conn.hdel(keys.PULL_REJECTED, *oldest)
        log.warning("deleted the %d oldest rejected pages (at most %d are kept)", len(oldest), REJECTED_MAX)
