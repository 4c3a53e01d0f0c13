"""One handler's lane: a drain's (or retry job's) slots, claims, calls and acknowledgements.

A handler reads the report stream through a consumer group of its own name. Several drains may
run for it at once, each holding a slot in ``dlrhook:active:<handler>`` (a lease renewed by
:mod:`dlrhook.workers.heartbeat`), each claiming its own batches (``XREADGROUP``); a batch
whose worker went silent for ``DLRHOOK_ABANDON_AFTER`` s is reclaimed (``XAUTOCLAIM``) and
delivered carefully: one report at a time, each call counted in ``dlrhook:crashes:<handler>``
before it starts and forgotten once it returns. What a call failed or never tried is settled
(:mod:`dlrhook.workers.retries`) in the transaction that acknowledges the entries.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import redis
from rq import Queue, Worker

from dlrhook import drains, metrics, store
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import calls, decode, pace, retries, runtime, stream
from dlrhook.workers.calls import CRASHES_TTL, Outcome
from dlrhook.workers.decode import Entry, Item
from dlrhook.workers.handlers import Handler

log = logging.getLogger("dlrhook.dispatch")

#: drain_acquire.lua (its header says KEYS, ARGV and what it returns).
_ACQUIRE_LUA = store.lua("drain_acquire")


class Lane:
    """One drain's (or retry job's) view of one handler: claims, calls, acknowledgements."""

    def __init__(self, conn: redis.Redis, q: Queue, settings: Settings, handler: Handler, consumer: str) -> None:
        self.conn = conn
        self.q = q
        self.settings = settings
        self.handler = handler
        self.group = handler.name
        self.consumer = consumer
        self.active_key = keys.ACTIVE_PREFIX + handler.name
        self.crashes_key = keys.CRASHES_PREFIX + handler.name
        self.held: list[bytes] = []  # entry ids claimed and not yet acknowledged (the heartbeat renews them)

    # slots: how many drains of this handler run at once

    def most_drains(self) -> int:
        """How many drains of this handler may run at once: one per worker that runs it, less
        one while other handlers are registered, so that a slow handler can never hold every
        worker. A worker runs the handler when it listens to the handler's own queue
        (:func:`dlrhook.workers.worker.queues`); the workers that skip it are not counted, since
        a drain they took would only be parked."""
        registered = self.conn.hlen(keys.HANDLERS)
        own = drains.handler_queue(self.q, self.handler.name)
        workers = max(1, Worker.count(connection=self.conn, queue=own))
        return workers if registered <= 1 else max(1, workers - 1)

    def acquire(self) -> bool:
        """Take a slot among the handler's running drains; False when they are enough."""
        now = time.time()
        acquire = store.script(self.conn, _ACQUIRE_LUA)
        lease = now + self.settings.abandon_after
        args: list[Any] = [now, lease, self.most_drains(), self.consumer]
        return bool(acquire(keys=[self.active_key], args=args, client=self.conn))

    def renew(self) -> None:
        """Heartbeat: keep the slot and the held entries from looking abandoned."""
        with self.conn.pipeline(transaction=False) as pipe:
            pipe.zadd(self.active_key, {self.consumer: time.time() + self.settings.abandon_after}, xx=True)
            held: list[Any] = list(self.held)
            if held:
                pipe.xclaim(keys.REPORTS, self.group, self.consumer, 0, held, justid=True)
            pipe.execute()

    def release(self) -> None:
        """Give up this drain's slot."""
        self.conn.zrem(self.active_key, self.consumer)

    def spread(self) -> None:
        """A full batch means more is waiting: wake another drain if this handler may run more."""
        self.conn.zremrangebyscore(self.active_key, "-inf", time.time())
        if self.conn.zcard(self.active_key) < self.most_drains():  # workers come and go meanwhile
            drains.wake(self.conn, self.q, [self.group])

    def finish(self) -> None:
        """Leave a drain queued if reports are left; drop this drain's consumer; trim."""
        with contextlib.suppress(redis.ResponseError):  # no group (forgotten meanwhile)
            self.conn.xgroup_delconsumer(keys.REPORTS, self.group, self.consumer)
        groups = stream.groups(self.conn)
        if stream.has_unread(self.conn, groups, self.group):
            drains.wake(self.conn, self.q, [self.group])
        stream.trim(self.conn, groups)

    # claims

    def claim_size(self, deadline: float) -> int:
        """Reports to claim next (:func:`dlrhook.workers.pace.claim_size`)."""
        return pace.claim_size(self.handler, self.settings.batch_size, deadline)

    def read(self, count: int) -> list[Entry]:
        """Claim up to *count* entries the handler's group has not read yet."""
        answer: Any = self.conn.xreadgroup(self.group, self.consumer, {keys.REPORTS: ">"}, count=count)
        entries = list(answer[0][1]) if answer else []
        self.held = [e[0] for e in entries]
        return entries

    def reclaim(self) -> list[Entry]:
        """Batches claimed by drains whose worker went silent for ``DLRHOOK_ABANDON_AFTER`` s."""
        out: list[Entry] = []
        start = "0-0"
        idle_ms = self.settings.abandon_after * 1000
        while len(out) < self.settings.batch_size:
            answer: Any = self.conn.xautoclaim(
                keys.REPORTS, self.group, self.consumer, idle_ms, start_id=start, count=self.settings.batch_size
            )
            start, entries = store.text(answer[0]), answer[1]
            out.extend((eid, fields) for eid, fields in entries if fields is not None)
            deleted = answer[2] if len(answer) > 2 else []
            if deleted:
                self.conn.xack(keys.REPORTS, self.group, *deleted)
            if start == "0-0":
                break
        self.held = [e[0] for e in out]
        return out

    # delivery

    def deliver(self, entries: list[Entry], *, careful: bool, deadline: float) -> None:
        """Give claimed stream entries to the handler and acknowledge every one of them."""
        items, unreadable = decode.items(entries)
        if unreadable:
            with self.conn.pipeline(transaction=True) as pipe:
                for entry in unreadable:
                    decode.quarantine_unreadable(pipe, entry)
                    pipe.xack(keys.REPORTS, self.group, entry.entry_id)
                pipe.execute()
        self.deliver_items(items, careful=careful, deadline=deadline, attempt=1)
        self.held = []

    def deliver_items(self, items: list[Item], *, careful: bool, deadline: float, attempt: int) -> None:
        """Attempt *attempt* for *items*: in one call, or *careful*ly one at a time (crashes counted)."""
        if careful:
            for n, item in enumerate(items):
                if runtime.past_deadline():  # shutting down: the rest go back, the attempt unspent
                    rest = items[n:]
                    self._commit(rest, Outcome(untried=list(range(len(rest)))), attempt)
                    return
                self._deliver_alone(item, deadline, attempt)
            return
        started = time.monotonic()
        outcome = calls.call(self, [i.report for i in items], deadline)
        tried = len(items) - len(outcome.untried)
        if tried and not self.handler.batch:
            pace.learn(self.handler.name, (time.monotonic() - started) / tried)
        self._commit(items, outcome, attempt)

    def _commit(self, items: list[Item], outcome: Outcome, attempt: int) -> None:
        """In one transaction: the retries, dead letters and hand-backs *outcome* calls for, and
        the acknowledgement of every stream entry among *items*."""
        with self.conn.pipeline(transaction=True) as pipe:
            self._settle(pipe, [i.wire for i in items], outcome, attempt)
            acked = [i.entry_id for i in items if i.entry_id is not None]
            if acked:
                pipe.xack(keys.REPORTS, self.group, *acked)
            pipe.execute()

    def _deliver_alone(self, item: Item, deadline: float, attempt: int) -> None:
        """One report, its crash counted before the call and forgotten after it."""
        key = item.report.key
        crashes = int(self.conn.hget(self.crashes_key, key) or 0)
        with self.conn.pipeline(transaction=True) as pipe:
            if crashes >= self.settings.max_crashes:
                reason = f"the worker died during this call {crashes} times"
                job = retries.dead_letter(pipe, self.q, self.handler.name, [item.wire], attempt, reason, reason=reason)
                metrics.count_dead_lettered(self.handler.name, 1)
                log.error(
                    "handler %s: %s for message %s: dead-lettered as %s",
                    self.handler.name,
                    reason,
                    item.report.message_id,
                    job.id,
                    extra={"handler": self.handler.name, "failed_job": job.id},
                )
            else:
                with self.conn.pipeline(transaction=True) as count:
                    count.hincrby(self.crashes_key, key, 1)
                    count.expire(self.crashes_key, CRASHES_TTL)
                    count.execute()
                outcome = calls.call(self, [item.report], deadline, counted=True)
                self._settle(pipe, [item.wire], outcome, attempt)
            pipe.hdel(self.crashes_key, key)
            if item.entry_id is not None:
                pipe.xack(keys.REPORTS, self.group, item.entry_id)
            pipe.execute()

    def has_crashes(self, items: list[Item]) -> bool:
        """True when a call of one of *items* already killed a worker."""
        return any(self.conn.hmget(self.crashes_key, [i.report.key for i in items]))

    def _settle(self, pipe: Any, wires: list[dict[str, Any]], outcome: Outcome, attempt: int) -> None:
        retries.settle(pipe, self.q, self.settings, self.handler.name, wires, outcome, attempt)
