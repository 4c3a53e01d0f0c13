"""Handlers for `make bench`, selected with ``DLRHOOK_HANDLERS=bench.handlers:<name>``.

``noop`` is the per-report handler of the dispatch rows: it does nothing, so the figure is the
worker's own cost. ``noop_batch`` is the batch handler: it does nothing but count, one INCRBY
per batch. ``record`` (a batch handler) writes the time it was called for each report's
messageId, for the end-to-end latency row.
"""

from __future__ import annotations

import time

import redis

from dlrhook.plugin import batch_handler
from dlrhook.report import DeliveryReport
from dlrhook.workers import runtime

#: Reports the batch handlers have seen (INCRBY per batch).
COUNT_KEY = "bench:handled"
#: Hash: messageId -> time.time() when ``record`` was called with it.
TIMES_KEY = "bench:handled-at"

_conn: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _conn
    if _conn is None:
        _conn = redis.Redis.from_url(runtime.settings().redis_url)
    return _conn


def sleep5(report: DeliveryReport) -> None:
    """Take 5 ms, as a database upsert or a call to a nearby service does."""
    time.sleep(0.005)


def noop(report: DeliveryReport) -> None:
    """Do nothing with one report."""


@batch_handler
def noop_batch(reports: list[DeliveryReport]) -> None:
    """Do nothing with a batch but count it."""
    _redis().incrby(COUNT_KEY, len(reports))


@batch_handler
def record(reports: list[DeliveryReport]) -> None:
    """Record when each report reached a handler."""
    now = time.time()
    _redis().hset(TIMES_KEY, mapping={r.message_id: now for r in reports})
