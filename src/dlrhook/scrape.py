"""The gauges ``/metrics`` reads from Redis at scrape time, per handler and for Redis itself.

What the alert rules (``deploy/prometheus/alerts.yml``) and the Grafana dashboard need to see
on the worker side from the web alone: workers and their counters may run on other machines,
but every one of them writes to the one Redis the web reads.

- ``dlrhook_handler_waiting{handler}``, ``dlrhook_handler_oldest_undelivered_seconds{handler}``
  (0 when the handler has every report), ``dlrhook_handler_dead_letters{handler}`` (left out
  past :data:`dlrhook.backlog.MAX_READ` dead letters in all): :func:`dlrhook.backlog.per_handler`,
  the same reading as ``/readyz``'s.
- ``dlrhook_handler_queued_jobs{handler}``: jobs in the handler's own queue (parked by workers
  that do not run it); ``dlrhook_handler_workers{handler}``: workers that run it (they listen to
  that queue); ``dlrhook_workers``: workers registered on the shared queue.
- ``dlrhook_redis_memory_used_bytes`` and ``dlrhook_redis_maxmemory_bytes`` (0: no limit).
- ``dlrhook_pull_last_ok_timestamp_seconds{path}``: when the poller holding a path's lock last
  ended a round without an error (``keys.PULL_OK``); absent for a path no poller ever pulled.

Each collector leaves its gauges out when Redis does not answer (``dlrhook_redis_up`` says so).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from rq import Queue, Worker

from dlrhook import backlog, drains, store
from dlrhook.store import keys

log = logging.getLogger("dlrhook.metrics")


class HandlerCollector:
    """Per handler: waiting reports, the oldest one's age, dead letters, parked jobs, workers."""

    def __init__(self, conn: redis.Redis, q: Queue) -> None:
        self.conn = conn
        self.q = q

    def collect(self) -> Iterator[Metric]:
        try:
            _, handlers = backlog.per_handler(self.conn, self.q)
            names = sorted(handlers)
            parked = backlog.parked(self.conn, self.q, names)
            workers = [Worker.count(connection=self.conn, queue=drains.handler_queue(self.q, n)) for n in names]
            shared_workers = Worker.count(connection=self.conn, queue=self.q)
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer the per-handler reads: %s", type(exc).__name__)
            return
        gauges = {
            "waiting": _family("dlrhook_handler_waiting", "Reports a handler has not acknowledged yet."),
            "oldest": _family(
                "dlrhook_handler_oldest_undelivered_seconds",
                "Age of the oldest report a handler has not acknowledged (0 when it has every one).",
            ),
            "dead": _family("dlrhook_handler_dead_letters", "Dead letters of a handler (replayable)."),
            "queued": _family("dlrhook_handler_queued_jobs", "Jobs waiting in a handler's own queue."),
            "workers": _family("dlrhook_handler_workers", "Workers that run a handler."),
        }
        for name, workers_n in zip(names, workers, strict=True):
            entry: dict[str, Any] = handlers[name]
            gauges["waiting"].add_metric([name], float(entry.get("waiting") or 0))
            gauges["oldest"].add_metric([name], float(entry.get("oldest_undelivered_seconds") or 0))
            if entry.get("dead_letters") is not None:
                gauges["dead"].add_metric([name], float(entry["dead_letters"]))
            gauges["queued"].add_metric([name], float(parked[name]))
            gauges["workers"].add_metric([name], float(workers_n))
        yield from gauges.values()
        total = GaugeMetricFamily("dlrhook_workers", "Workers registered on the shared queue.")
        total.add_metric([], float(shared_workers))
        yield total


class RedisCollector:
    """Redis's memory against its maxmemory, and each pull path's last good round."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    def collect(self) -> Iterator[Metric]:
        try:
            used, limit = store.memory(self.conn)
            pulled = self.conn.hgetall(keys.PULL_OK)
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer the memory read: %s", type(exc).__name__)
            return
        used_g = GaugeMetricFamily("dlrhook_redis_memory_used_bytes", "Redis's used_memory (INFO memory).")
        used_g.add_metric([], float(used))
        limit_g = GaugeMetricFamily("dlrhook_redis_maxmemory_bytes", "Redis's maxmemory (0: no limit).")
        limit_g.add_metric([], float(limit))
        yield used_g
        yield limit_g
        ok = GaugeMetricFamily(
            "dlrhook_pull_last_ok_timestamp_seconds",
            "Unix time the poller of a reports path last ended a round without an error.",
            labels=["path"],
        )
        for path, at in sorted(pulled.items()):
            try:
                ok.add_metric([store.text(path)], float(store.text(at)))
            except ValueError:
                continue  # not written by dlrhook: left out rather than fail the scrape
        yield ok


def _family(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["handler"])
