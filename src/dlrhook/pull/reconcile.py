"""Reconciliation: ask Infobip's message logs about messages whose status stays intermediate.

A report can be lost before it reaches Redis: the receiver was down for longer than Infobip
retries, or Infobip dropped it. Then a message's record stays at PENDING or
DELIVERED_TO_OPERATOR for good. :func:`reconcile` takes such messages from the status
store's index (``intermediate_ids`` of ``dlrhook.status.open_store``: a sorted set in Redis,
a partial index in SQL; no scan), asks
``GET /sms/3/logs`` about them, :data:`~dlrhook.defaults.RECONCILE_BATCH` ids a request, and
ingests the log entries through the one ingest function with ``source`` ``logs``. So every
handler sees them like any report, and ingest's deduplication drops what was known already
(a log entry of a known status has the same message id, status, error and doneAt, so the same
key, as its report).

Only messages whose status last changed within Infobip's 48 hours of logs are asked about;
older ones stay in the index until their record expires (``DLRHOOK_STATUS_TTL``). 429, 5xx and
network errors back off (never sooner than a ``Retry-After``) and are retried a few times, as
``dlrhook pull`` does; then the pass stops with what it did so far.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import redis

from dlrhook import defaults, status
from dlrhook.errors import DlrhookError, InfobipUnavailable, PushRejected, ReconcileFailed
from dlrhook.ingest import ingest
from dlrhook.outcomes import Outcomes
from dlrhook.parsing import parse_json, results_of
from dlrhook.pull.backoff import Backoff
from dlrhook.pull.infobip import InfobipClient
from dlrhook.settings import Settings

log = logging.getLogger("dlrhook.reconcile")

#: Infobip keeps message logs 48 hours: a message whose status last changed earlier cannot be asked about.
LOGS_KEPT = 48 * 3600
#: A log entry's fields that a delivery report does not have and that are not kept: the
#: message's text, ``content`` in v3 logs and ``text`` in v1 (personal data a report never carries).
DROPPED = ("content", "text")


@dataclass
class ReconcileTotals(Outcomes):
    """What one pass did."""

    asked: int = 0
    logs: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts ``dlrhook reconcile`` prints."""
        return {"asked": self.asked, "logs": self.logs, **super().as_dict(), "requests": self.requests}


def as_report(entry: Any) -> Any:
    """A log entry in the report schema's names: ``destination`` is the report's ``to`` (v3
    logs); ``sender``, ``messageCount`` and ``platform{}`` the schema reads already, and v1
    logs use the report's own names; the message's text (``content``, ``text``) is dropped.
    Anything that is not an object is left to the schema to quarantine."""
    if not isinstance(entry, dict):
        return entry
    report = {k: v for k, v in entry.items() if k not in DROPPED}
    if "to" not in report and "destination" in report:
        report["to"] = report["destination"]
    return report


def reconcile(
    conn: redis.Redis,
    settings: Settings,
    client: InfobipClient,
    older_than: float,
    *,
    limit: int = defaults.RECONCILE_MAX,
    attempts: int = 5,
    stop: threading.Event | None = None,
) -> ReconcileTotals:
    """Ask Infobip's logs about messages intermediate for *older_than* seconds (at most *limit*,
    the longest-waiting first) and ingest what they say, ``source`` ``logs``; return the totals.

    A 429/5xx/network error is retried with backoff (never sooner than ``Retry-After``) up to
    *attempts* times in a row; then, or on any other Infobip or Redis failure, raises
    :class:`ReconcileFailed` with the totals so far. *stop* ends the pass between requests.
    """
    stop = stop or threading.Event()
    totals = ReconcileTotals()
    backoff = Backoff(settings.pull_backoff, settings.pull_backoff_max)
    try:
        ids = [
            m
            for m in status.open_store(settings, conn).intermediate_ids(older_than, limit=limit, newer_than=LOGS_KEPT)
            if m  # an empty id cannot be asked about
        ]
        for start in range(0, len(ids), defaults.RECONCILE_BATCH):
            if stop.is_set():
                break
            chunk = ids[start : start + defaults.RECONCILE_BATCH]
            failures = 0
            while True:
                try:
                    totals.requests += 1
                    body = client.fetch_logs(chunk)
                    break
                except InfobipUnavailable as exc:
                    failures += 1
                    if failures >= attempts:
                        raise
                    wait = backoff.next()
                    if exc.retry_after is not None:
                        wait = max(wait, min(exc.retry_after, defaults.PULL_RETRY_AFTER_MAX))
                    log.warning("%s; retrying in %.2f s", exc, wait)
                    if stop.wait(wait):
                        return totals
            backoff.reset()
            totals.asked += len(chunk)
            try:
                entries = results_of(parse_json(body))
            except PushRejected as exc:
                raise ReconcileFailed(f"the logs answer is not a JSON results document: {exc.detail}", totals) from exc
            reports = [as_report(e) for e in entries]
            totals.logs += len(reports)
            if reports:
                totals.add(ingest(conn, reports, source="logs", settings=settings))
    except ReconcileFailed:
        raise
    except (DlrhookError, redis.RedisError) as exc:
        raise ReconcileFailed(str(exc) or type(exc).__name__, totals) from exc
    log.info("reconcile pass done", extra=totals.as_dict())
    return totals
