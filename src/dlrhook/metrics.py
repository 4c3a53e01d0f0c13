"""Prometheus metrics for every dlrhook process (no Flask here: workers and the poller use it).

Values live in prometheus_client's multiprocess files when ``PROMETHEUS_MULTIPROC_DIR`` is
set (the web sets it up, see ``dlrhook.multiproc``), so ``/metrics`` in any gunicorn worker
reports the sum over all of them, and over a worker or poller on the same machine sharing the
folder. Queue depths are read from Redis at scrape time.

Recording a metric never fails the work it measures: every ``record``/``count`` function here
logs and carries on when prometheus_client raises.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import redis
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from rq.registry import FailedJobRegistry

from dlrhook import activity, drains, scrape, status, store
from dlrhook.channels import metric_label as channel_label
from dlrhook.errors import StatusUnavailable
from dlrhook.multiproc import VARIABLE
from dlrhook.store import keys

if TYPE_CHECKING:
    from dlrhook.ingest import IngestResult
    from dlrhook.settings import Settings

log = logging.getLogger("dlrhook.metrics")

#: The classic text format every Prometheus version reads (what ``generate_latest`` writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REPORTS = Counter(
    "dlrhook_reports",
    "Reports received, by source (push, pull), outcome (accepted, duplicate, quarantined) and channel "
    "(SMS, WHATSAPP, ...; a quarantined report counts under the channel its URL or pull path names).",
    ["source", "outcome", "channel"],
)
REJECTED = Counter(
    "dlrhook_rejected_requests",
    "HTTP requests answered with an error (problem+json), by status code.",
    ["status"],
)
INGEST_SECONDS = Histogram(
    "dlrhook_ingest_seconds",
    "Time to validate, deduplicate and store one batch, by source.",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DELIVERY_SECONDS = Histogram(
    "dlrhook_delivery_seconds",
    "Infobip's delivery time doneAt - sentAt of newly accepted delivery reports, by status group and channel.",
    ["status_group", "channel"],
    buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600),
)
HANDLER_CALLS = Counter(
    "dlrhook_handler_calls",
    "Reports handed to a handler, by handler and outcome (ok, failed).",
    ["handler", "outcome"],
)
RETRIES = Counter(
    "dlrhook_retries",
    "Report retries scheduled for a handler after a failure.",
    ["handler"],
)
TIME_TO_FINAL = Histogram(
    "dlrhook_time_to_final_seconds",
    "Time from a message's sentAt to its first final status (that report's doneAt), by channel and status group.",
    ["channel", "status_group"],
    buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600),
)
#: Hours after which a message still intermediate is counted by ``dlrhook_messages_intermediate``.
INTERMEDIATE_AGES = (1, 6, 24)
DEAD_LETTERED = Counter(
    "dlrhook_dead_lettered",
    "Reports dead-lettered for a handler after its last attempt failed.",
    ["handler"],
)

#: Status groups get their own label value; anything else Infobip invents is "OTHER".
_GROUPS = frozenset({"ACCEPTED", "PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED"})


def record_ingest(
    source: str,
    result: IngestResult,
    started: float,
    delivery: Iterable[tuple[str, str, float]] = (),
    outcomes: Iterable[tuple[str, str]] = (),
    *,
    quarantined_channel: str | None = None,
) -> None:
    """Count one ingested batch: the ``(channel, outcome)`` of each valid report, the quarantined
    ones (under *quarantined_channel*, the channel the URL or path named), latency since
    *started* (``time.perf_counter()``), and ``(channel, status group, doneAt - sentAt seconds)``
    of each newly accepted delivery report; adds the outcomes to the console's per-minute
    tally (:mod:`dlrhook.activity`). Never raises."""
    activity.tally.add(f"{source}:accepted", result.accepted)
    activity.tally.add(f"{source}:duplicates", result.duplicates)
    activity.tally.add(f"{source}:quarantined", result.quarantined)
    try:
        counts = collections.Counter(outcomes)
        for (channel, outcome), n in counts.items():
            REPORTS.labels(source, outcome, channel_label(channel)).inc(n)
        if result.quarantined:
            REPORTS.labels(source, "quarantined", channel_label(quarantined_channel)).inc(result.quarantined)
        INGEST_SECONDS.labels(source).observe(time.perf_counter() - started)
        for channel, group, seconds in delivery:
            DELIVERY_SECONDS.labels(group if group in _GROUPS else "OTHER", channel_label(channel)).observe(
                max(seconds, 0.0)
            )
    except Exception:
        log.warning("could not record ingest metrics", exc_info=True)


def count_rejected(status: int) -> None:
    """Count one request answered with an error status. Never raises."""
    try:
        REJECTED.labels(str(status)).inc()
    except Exception:
        log.warning("could not record a rejected request", exc_info=True)


def count_handler_call(handler: str, ok: bool, reports: int = 1) -> None:
    """Count *reports* handed to *handler*, which succeeded (*ok*) or raised (here and in the
    per-minute tally). Never raises."""
    activity.tally.add(f"calls:{handler}:{'ok' if ok else 'failed'}", reports)
    try:
        HANDLER_CALLS.labels(handler, "ok" if ok else "failed").inc(reports)
    except Exception:
        log.warning("could not record a handler call", exc_info=True)


def count_retry(handler: str, reports: int = 1) -> None:
    """Count *reports* scheduled for another attempt with *handler*. Never raises."""
    try:
        RETRIES.labels(handler).inc(reports)
    except Exception:
        log.warning("could not record a retry", exc_info=True)


def count_dead_lettered(handler: str, reports: int = 1) -> None:
    """Count *reports* given up on for *handler* (dead-lettered; here and in the per-minute
    tally). Never raises."""
    activity.tally.add(f"dead:{handler}", reports)
    try:
        DEAD_LETTERED.labels(handler).inc(reports)
    except Exception:
        log.warning("could not record a dead letter", exc_info=True)


def observe_first_final(timings: Iterable[tuple[str, str, float]]) -> None:
    """Time messages that reached a final status for the first time: ``(channel, status group,
    doneAt - sentAt seconds)`` each. Never raises."""
    try:
        for channel, group, seconds in timings:
            TIME_TO_FINAL.labels(channel, group if group in _GROUPS else "OTHER").observe(max(seconds, 0.0))
    except Exception:
        log.warning("could not record the time to a final status", exc_info=True)


class IntermediateCollector:
    """``dlrhook_messages_intermediate{older_than="1h"|"6h"|"24h"}``: messages whose status is
    still intermediate and has not changed for that long, counted at scrape time in the status
    store (one ZCOUNT each in Redis, one COUNT over a partial index in SQL). Left out when the
    store does not answer."""

    def __init__(self, statuses: status.StatusStore) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "dlrhook_messages_intermediate",
            "Messages whose status is still intermediate with no change for longer than older_than.",
            labels=["older_than"],
        )
        try:
            counts = [(hours, self.statuses.count_intermediate(hours * 3600)) for hours in INTERMEDIATE_AGES]
        except StatusUnavailable as exc:
            log.warning("metrics: the status store did not answer the intermediate-status count: %s", exc)
            return
        for hours, count in counts:
            gauge.add_metric([f"{hours}h"], float(count))
        yield gauge


class QueueDepthCollector:
    """``dlrhook_queue_depth{queue=...}`` read from Redis at scrape time.

    ``stream``: reports kept in the report stream (until every handler has them); ``inbox``: deprecated,
    the same value as ``stream`` under its old name (kept for dashboards and alerts); ``jobs``: RQ jobs
    queued, in the shared queue and in every registered handler's own (``<DLRHOOK_QUEUE>:<handler>``);
    ``failed``: jobs in those queues' failed registries (dead letters, and for 5 minutes a drain
    whose worker was killed); ``quarantine``: invalid reports kept. When Redis does not answer,
    ``dlrhook_redis_up`` is 0 and the depths are left out.
    """

    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dlrhook_redis_up", "1 when Redis answered the scrape's queue-depth reads.")
        try:
            q = store.queue(self.conn, self.settings)
            names = [store.text(h) for h in self.conn.hkeys(keys.HANDLERS)]
            queues = [q] + [drains.handler_queue(q, n) for n in names]
            with self.conn.pipeline(transaction=False) as pipe:
                pipe.xlen(keys.REPORTS)
                pipe.hlen(keys.QUARANTINE)
                for x in queues:
                    pipe.llen(x.key)
                    pipe.zcard(FailedJobRegistry(queue=x).key)
                stream, quarantined, *lengths = pipe.execute()
            jobs, failed_count = sum(lengths[0::2]), sum(lengths[1::2])
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer the queue-depth reads: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("dlrhook_queue_depth", "Items waiting in Redis, by queue.", labels=["queue"])
        depths = (
            ("stream", stream),
            ("inbox", stream),
            ("jobs", jobs),
            ("failed", failed_count),
            ("quarantine", quarantined),
        )
        for name, value in depths:
            depth.add_metric([name], float(value))
        yield depth


class _DefaultRegistry:
    """The process's own registry, as one collector (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def multiprocess_mode() -> bool:
    """True when values are shared through ``PROMETHEUS_MULTIPROC_DIR``."""
    return bool(os.environ.get(VARIABLE))


def registry(conn: redis.Redis | None = None, settings: Settings | None = None) -> CollectorRegistry:
    """A registry for one scrape: every process's values (multiprocess mode) or this one's,
    plus the queue depths when *conn* and *settings* are given."""
    reg = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        try:
            MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
        except ValueError:
            # The folder is gone (a /tmp cleaner?): the counters cannot be read, the rest can.
            log.warning("metrics: %s is not a folder; process counters left out", VARIABLE)
    else:
        reg.register(_DefaultRegistry())
    if conn is not None and settings is not None:
        reg.register(QueueDepthCollector(conn, settings))
        reg.register(IntermediateCollector(status.open_store(settings, conn)))
        reg.register(scrape.HandlerCollector(conn, store.queue(conn, settings)))
        reg.register(scrape.RedisCollector(conn))
    return reg


def render(conn: redis.Redis | None = None, settings: Settings | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(registry(conn, settings)), CONTENT_TYPE
