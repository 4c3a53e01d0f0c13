"""Delivering while Redis refuses writes: a full Redis empties itself, with no operator step.

Above its ``maxmemory`` (policy ``noeviction``) Redis refuses every command that can grow
memory (SET, HSET, ZADD, LPUSH, INCR...), and with them all of RQ's bookkeeping: no job can
start, so no drain runs, and the memory only delivery frees stays taken. What a full Redis
still accepts is what frees memory: reading through a consumer group (``XREADGROUP``),
``XACK``, ``XCLAIM``, ``XTRIM``, ``XDEL``, ``DEL``. When RQ's loop stops on Redis and Redis is
above the high-water mark, the worker (:func:`dlrhook.workers.worker.run`) delivers with those
alone, without RQ: for each of its handlers it claims a batch, calls the handler (with the
usual timeout and watchdog), acknowledges what the handler took, and trims the stream past
what every handler has acknowledged, until nothing is left or Redis is back under the mark;
then it goes back to RQ.

What cannot happen while Redis is full, and what becomes of it:

- Reports a handler failed or never tried stay claimed (no retry job can be written). Once
  Redis has room, a drain reclaims them after ``DLRHOOK_ABANDON_AFTER`` s and delivers them one
  at a time, as it does an abandoned batch; the failed call is not counted as an attempt.
- Entries that cannot be read back stay claimed too (quarantining them writes): the drain that
  reclaims them quarantines them.
- A handler that itself writes to this Redis (the built-in ``status`` handler, with its store
  in Redis) fails while Redis is full: its reports wait in the stream, and the stream is trimmed
  only as far as every handler has acknowledged. The mark (``DLRHOOK_REDIS_HIGH_WATER``), which
  pushes can no longer overshoot, keeps the room such handlers need; only something else
  filling Redis takes that room away (README, "Reliability").
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import redis
from rq import Queue

from dlrhook import metrics, store
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import calls, decode, runtime, stream
from dlrhook.workers import handlers as handler_registry
from dlrhook.workers.heartbeat import Heartbeat
from dlrhook.workers.lane import Lane

log = logging.getLogger("dlrhook.worker")


class RescueLane(Lane):
    """A lane that needs no write a full Redis refuses: no slot, claims renewed by XCLAIM alone."""

    def renew(self) -> None:
        held: list[Any] = list(self.held)
        if held:
            self.conn.xclaim(keys.REPORTS, self.group, self.consumer, 0, held, justid=True)

    def release(self) -> None:
        """Drop this rescue's consumer when it holds nothing (XGROUP DELCONSUMER frees memory)."""
        pending = self.conn.xpending_range(keys.REPORTS, self.group, "-", "+", 1, consumername=self.consumer)
        if not pending:
            self.conn.xgroup_delconsumer(keys.REPORTS, self.group, self.consumer)

    def take(self, entries: list[decode.Entry], deadline: float) -> int:
        """Give *entries* to the handler; acknowledge those it took. Returns how many it took."""
        items, unreadable = decode.items(entries)
        if unreadable:
            log.warning(
                "handler %s: %d unreadable entries stay claimed until Redis has room to quarantine them",
                self.group,
                len(unreadable),
            )
        outcome = calls.call(self, [i.report for i in items], deadline)
        left = set(outcome.failed) | set(outcome.untried)
        taken = [item.entry_id for n, item in enumerate(items) if n not in left and item.entry_id is not None]
        if taken:
            self.conn.xack(keys.REPORTS, self.group, *taken)
            metrics.count_handler_call(self.group, True, len(taken))
        if outcome.failed:
            metrics.count_handler_call(self.group, False, len(outcome.failed))
            log.warning(
                "handler %s failed %d of %d reports while Redis is full: they stay claimed and are "
                "delivered again once Redis has room",
                self.group,
                len(outcome.failed),
                len(items),
            )
        done = set(taken)
        self.held = [e[0] for e in entries if e[0] not in done]
        return len(taken)


def needed(conn: redis.Redis, settings: Settings) -> bool:
    """True when Redis is above the high-water mark (so RQ may well be refused its writes)."""
    try:
        return store.above_high_water(conn, settings)
    except redis.RedisError:
        return False  # unreachable: nothing to rescue with


def drain_full(conn: redis.Redis, q: Queue, settings: Settings, handler_names: list[str]) -> int:
    """Deliver *handler_names*' reports with only the commands a full Redis accepts.

    Runs until every handler's share is claimed, Redis is back under the high-water mark, the
    drain budget is spent or the worker is stopping. Returns how many reports handlers took.
    Redis errors end it (logged); the caller goes back to RQ or waits.
    """
    deadline = time.monotonic() + settings.drain_budget
    consumer = f"rescue-{socket.gethostname()}-{os.getpid()}"
    taken = 0
    progress = True
    stalled: set[str] = set()  # handlers that took nothing of a batch: the rest waits for RQ
    while progress and not runtime.stopping() and time.monotonic() < deadline:
        progress = False
        for name in handler_names:
            if name in stalled:
                continue
            lane = RescueLane(conn, q, settings, handler_registry.load(name), consumer)
            try:
                with Heartbeat(lane):
                    entries = lane.read(settings.batch_size)
                    if entries:
                        took = lane.take(entries, deadline)
                        taken += took
                        progress = progress or took > 0
                        if not took:
                            stalled.add(name)
                lane.release()
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                continue  # the handler's group was never made (Redis was full before its first start)
            finally:
                calls.watchdog.done()
        stream.trim(conn)
        if not store.above_high_water(conn, settings):
            break
    return taken


def run(conn: redis.Redis, q: Queue, settings: Settings, handler_names: list[str]) -> int:
    """:func:`drain_full`, logged; Redis errors are logged and end it early. Returns reports taken."""
    log.warning(
        "Redis is above DLRHOOK_REDIS_HIGH_WATER and refuses the worker's writes: delivering with "
        "the commands a full Redis accepts (read, acknowledge, trim) until it has room"
    )
    try:
        taken = drain_full(conn, q, settings, handler_names)
        used, limit = store.memory(conn)
    except redis.RedisError as exc:
        log.warning("delivery while Redis is full stopped: %s", exc)
        return 0
    except Exception:
        # A bug here must not end the worker while Redis is full: logged, and the worker waits
        # with its backoff and tries RQ (then this) again.
        log.exception("delivery while Redis is full failed")
        return 0
    share = f"{used / limit:.0%} of its maxmemory" if limit else "no maxmemory"
    log.warning("delivered %d reports while Redis was full; it now holds %s", taken, share)
    return taken
