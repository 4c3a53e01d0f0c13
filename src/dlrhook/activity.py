"""Per-minute activity counts for the console's overview: what pushes became, what handlers did.

Each process adds to one in-memory :class:`Tally` (:data:`tally`) and a background thread of
that process writes it to Redis once a second, pipelined: ``HINCRBY`` into one hash per minute,
``dlrhook:activity:<minute>`` (its start, unix seconds), kept :data:`KEEP` seconds. So counting
costs a push nothing in Redis and can never fail or slow one: while Redis does not answer (or
is full) the counts stay in memory, at most :data:`KEEP` seconds of them, and go out with the
next flush that succeeds. A process killed with SIGKILL loses at most its last second.

Fields are bounded whatever the traffic: the outcomes (``push:accepted``, ``push:duplicates``,
``push:quarantined``, the same for ``pull:``), ``refused:<HTTP status>`` (400 to 599; 503 is
``unavailable``), and per handler ``calls:<handler>:ok``, ``calls:<handler>:failed`` and
``dead:<handler>`` (the handlers a deployment configures). ``dlrhook:last-push:channels`` maps
each channel a push URL names (``dlrhook.channels.metric_label``: known names, else ``OTHER``)
to the unix time of its last push.

:func:`dlrhook.metrics.record_ingest`, ``count_handler_call`` and ``count_dead_lettered`` add
to the tally beside their Prometheus counters; the web adds refusals. A process writes its
tally only once :meth:`Tally.arm` was called (the web's gunicorn config, the worker, the
poller): elsewhere (tests, one-off commands) counting stays in memory and costs nothing.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from dlrhook import store
from dlrhook.store import keys

log = logging.getLogger("dlrhook.activity")

#: Seconds a minute's counts are kept in Redis (and, unwritten, in a process).
KEEP = 2 * 3600
#: Seconds between a process's writes.
FLUSH_INTERVAL = 1.0
#: The outcomes of ingest, as counted (``<source>:<outcome>``).
OUTCOMES = ("accepted", "duplicates", "quarantined")


def minute_of(when: float) -> int:
    """The start (unix seconds) of the minute *when* falls in."""
    return int(when // 60 * 60)


def refused_field(status: int) -> str | None:
    """The field a refused push counts under: ``unavailable`` for 503, ``refused:<status>`` for
    another error status, None for anything else (not counted)."""
    if status == 503:
        return "unavailable"
    return f"refused:{status}" if 400 <= status <= 599 else None


class Tally:
    """Counts of this process not yet written to Redis; see the module docstring."""

    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self._counts: collections.Counter[tuple[int, str]] = collections.Counter()
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._connect: Callable[[], redis.Redis] | None = None
        self._conn: redis.Redis | None = None
        self._pid: int | None = None
        self._oldest = 0
        self._failing = False

    def arm(self, connect: Callable[[], redis.Redis]) -> None:
        """Write to the Redis *connect* returns from now on (a thread per process, started at
        the first count, so that each forked gunicorn worker has its own), and at exit."""
        self._connect = connect
        atexit.register(self.flush)

    def add(self, field: str, n: int = 1, when: float | None = None) -> None:
        """Count *n* under *field* in the minute of *when* (now). Never raises."""
        if n <= 0:
            return
        try:
            minute = minute_of(time.time() if when is None else when)
            with self._lock:
                self._counts[(minute, field)] += n
                if minute - self._oldest > KEEP:
                    self._prune(minute)
            self._ensure_thread()
        except Exception:  # counting must never fail the work it counts
            log.warning("could not count activity", exc_info=True)

    def pushed(self, channel: str, when: float | None = None) -> None:
        """Note a push to the URL of *channel* (a metrics label). Never raises."""
        with self._lock:
            self._last[channel] = time.time() if when is None else when

    def _prune(self, minute: int) -> None:
        cutoff = minute - KEEP
        for key in [k for k in self._counts if k[0] < cutoff]:
            del self._counts[key]
        self._oldest = min((k[0] for k in self._counts), default=minute)

    def _ensure_thread(self) -> None:
        if self._connect is None or self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._conn = None  # a forked child never shares its parent's sockets
        threading.Thread(target=self._run, name="dlrhook-activity", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()

    def flush(self, conn: redis.Redis | None = None) -> bool:
        """Write what was counted (to *conn*, or the armed connection); False when Redis did
        not take it (kept for the next flush). Never raises."""
        with self._lock:
            counts, self._counts = self._counts, collections.Counter()
            last, self._last = self._last, {}
        if not counts and not last:
            return True
        try:
            if conn is None:
                if self._conn is None:
                    if self._connect is None:
                        raise RuntimeError("the activity tally is not armed")
                    self._conn = self._connect()
                conn = self._conn
            with conn.pipeline(transaction=False) as pipe:
                for (minute, field), n in counts.items():
                    pipe.hincrby(keys.ACTIVITY_PREFIX + str(minute), field, n)
                for minute in {m for m, _ in counts}:
                    pipe.expire(keys.ACTIVITY_PREFIX + str(minute), KEEP)
                if last:
                    pipe.hset(keys.LAST_PUSH_CHANNELS, mapping={c: f"{t:.3f}" for c, t in last.items()})
                pipe.execute()
        except Exception as exc:
            with self._lock:
                self._counts.update(counts)
                self._last = {**last, **self._last}
            if not self._failing:
                log.warning("activity counts not written (kept, retried every second): %s", type(exc).__name__)
            self._failing = True
            return False
        if self._failing:
            log.info("activity counts written again")
        self._failing = False
        return True


#: The tally of this process.
tally = Tally()


@dataclass(frozen=True)
class Series:
    """Counts per minute: ``minutes`` (starts, unix seconds, oldest first) and, by field, one
    count per minute."""

    minutes: list[int]
    counts: dict[str, list[int]]

    def total(self, field: str) -> int:
        """*field*'s count over every minute."""
        return sum(self.counts.get(field, ()))

    def fields(self, prefix: str) -> list[str]:
        """The fields starting with *prefix*, sorted."""
        return sorted(f for f in self.counts if f.startswith(prefix))


def series(conn: redis.Redis, minutes: int = 60, now: float | None = None) -> Series:
    """The last *minutes* minutes (the current one included), read in one round trip."""
    last = minute_of(time.time() if now is None else now)
    starts = [last - 60 * i for i in range(minutes - 1, -1, -1)]
    with conn.pipeline(transaction=False) as pipe:
        for start in starts:
            pipe.hgetall(keys.ACTIVITY_PREFIX + str(start))
        found = pipe.execute()
    counts: dict[str, list[int]] = {}
    for i, fields in enumerate(found):
        for name, value in fields.items():
            counts.setdefault(store.text(name), [0] * len(starts))[i] = int(value)
    return Series(starts, counts)


def last_pushes(conn: redis.Redis) -> dict[str, float]:
    """Channel (a metrics label) -> unix time of its last push."""
    return {store.text(k): float(v) for k, v in conn.hgetall(keys.LAST_PUSH_CHANNELS).items()}
