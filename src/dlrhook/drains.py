"""The drain protocol: how a handler's drain job gets queued, once, whoever notices work for it.

A drain job (``dlrhook.workers.dispatch.drain(handler)``) delivers that handler's share of the
report stream. At most one is *queued* per handler at a time: the pending mark
``dlrhook:drain:pending:<handler>`` (``keys.pending_key``) holds its job id while it waits.
Every step of the protocol, in the order a mark lives:

- Ingest stores a batch with ``store/lua/ingest_store.lua``, which, in the same script, names
  the registered handlers that have no mark (it tests ``keys.DRAIN_PENDING_PREFIX`` + name, the
  one read of a mark that is not in this module); ingest then calls :func:`wake` for those.
- Whoever else sees new work (a drain that found a full batch, a drain that ends with reports
  left, worker maintenance) calls :func:`wake` too. It sets the mark (``NX``, with an expiry of
  ``PENDING_TTL``) and queues a job only for the handlers without one.
- The job, when it starts, deletes the mark (:func:`started`) before it claims anything, so a
  batch stored from then on wakes a new drain.
- A handler no worker runs any more loses its mark with its group (:func:`forget`).

A mark whose job is gone (a flushed queue, a process killed between the two steps, a worker
killed as it took the job) expires, and maintenance checks it against the queue itself
(:func:`wake` with ``verify=True``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import redis
from rq import Queue

from dlrhook import store
from dlrhook.store import keys

#: Seconds a pending mark outlives a job that never ran; maintenance repairs sooner.
PENDING_TTL = 300


def wake(conn: redis.Redis, q: Queue, handlers: Iterable[str], *, verify: bool = False) -> list[str]:
    """Queue a drain job for each of *handlers* that has none queued; returns those queued.

    With *verify*, a pending mark whose job is no longer waiting is not trusted (maintenance).
    """
    names = list(dict.fromkeys(handlers))
    if not names:
        return []
    if verify:
        _drop_stale_marks(conn, q, names)
    ids = {h: f"{keys.DRAIN_JOB_PREFIX}{uuid.uuid4().hex}" for h in names}
    with conn.pipeline(transaction=False) as pipe:
        for h in names:
            pipe.set(keys.pending_key(h), ids[h], nx=True, ex=PENDING_TTL)
        won = [h for h, ok in zip(names, pipe.execute(), strict=True) if ok]
    if won:
        with conn.pipeline(transaction=True) as pipe:
            for h in won:
                q.enqueue_call(
                    keys.DRAIN_FUNC,
                    args=[h],
                    job_id=ids[h],
                    result_ttl=0,
                    failure_ttl=300,  # a drain carries no reports: its state is in the stream
                    timeout=86400,  # the drain bounds its own time (budget, handler timeout)
                    description=f"dlrhook: deliver reports to {h}",
                    pipeline=pipe,
                )
            pipe.execute()
    return won


def started(conn: redis.Redis, handler: str) -> None:
    """A drain job of *handler* has started: delete its pending mark, so that the next report
    stored queues another."""
    conn.delete(keys.pending_key(handler))


def forget(pipe: Any, handler: str) -> None:
    """Delete *handler*'s pending mark, in *pipe* (the handler is being forgotten)."""
    pipe.delete(keys.pending_key(handler))


def _drop_stale_marks(conn: redis.Redis, q: Queue, names: list[str]) -> None:
    """Delete the pending marks whose job no longer waits in the queue list itself.

    The job's status is not enough: a worker killed between taking a job from the queue and
    starting it leaves the job in RQ's intermediate list, still "queued", until RQ's cleanup
    gives up on it (a minute at least, longer while a killed worker holds RQ's cleaning lock);
    the mark would block every wake of that handler meanwhile.
    """
    marks = conn.mget([keys.pending_key(h) for h in names])
    for h, mark in zip(names, marks, strict=True):
        if mark is None or conn.lpos(q.key, store.text(mark)) is not None:
            continue
        # Only delete the mark we looked at: a fresh one set meanwhile stays.
        with conn.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.pending_key(h))  # type: ignore[no-untyped-call]
                if pipe.get(keys.pending_key(h)) == mark:
                    pipe.multi()
                    pipe.delete(keys.pending_key(h))
                    pipe.execute()
            except redis.WatchError:
                pass
