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
- A worker that does not run the handler and takes its drain from the shared queue parks it
  (:func:`park`): the drain moves, unrun, to the handler's own queue (:func:`handler_queue`),
  which only workers that run the handler listen to, and the mark names it there. At most one
  drain waits there per handler: a drain parked while another waits only points the mark at it.

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
                _enqueue(q, h, ids[h], pipe)
            pipe.execute()
    return won


def handler_queue(q: Queue, handler: str) -> Queue:
    """*handler*'s own queue beside *q*: jobs of that handler a worker not running it took."""
    return Queue(keys.handler_queue_name(q.name, handler), connection=q.connection, serializer=q.serializer)


def park(conn: redis.Redis, q: Queue, handler: str) -> str:
    """Leave *handler*'s drain waiting in its own queue (this worker does not run it); returns its id.

    Called by a drain job that a worker not running *handler* took from the shared queue *q*
    (the job then ends, having done nothing). The reports stay in the stream for *handler*'s
    group; the drain waits, unrun, until a worker that runs *handler* takes it, so that it
    cannot pass from worker to worker meanwhile.
    """
    hq = handler_queue(q, handler)
    for waiting in conn.lrange(hq.key, 0, 999):
        if store.text(waiting).startswith(keys.DRAIN_JOB_PREFIX):
            conn.set(keys.pending_key(handler), waiting, ex=PENDING_TTL)
            return store.text(waiting)
    job_id = f"{keys.DRAIN_JOB_PREFIX}{uuid.uuid4().hex}"
    conn.set(keys.pending_key(handler), job_id, ex=PENDING_TTL)  # first: the job deletes it as it starts
    with conn.pipeline(transaction=True) as pipe:
        _enqueue(hq, handler, job_id, pipe)
        pipe.execute()
    return job_id


def _enqueue(q: Queue, handler: str, job_id: str, pipe: Any) -> None:
    q.enqueue_call(
        keys.DRAIN_FUNC,
        args=[handler],
        job_id=job_id,
        result_ttl=0,
        failure_ttl=300,  # a drain carries no reports: its state is in the stream
        timeout=86400,  # the drain bounds its own time (budget, handler timeout)
        description=f"dlrhook: deliver reports to {handler}",
        pipeline=pipe,
    )


def started(conn: redis.Redis, handler: str) -> None:
    """A drain job of *handler* has started: delete its pending mark, so that the next report
    stored queues another."""
    conn.delete(keys.pending_key(handler))


def forget(pipe: Any, handler: str) -> None:
    """Delete *handler*'s pending mark, in *pipe* (the handler is being forgotten)."""
    pipe.delete(keys.pending_key(handler))


def _drop_stale_marks(conn: redis.Redis, q: Queue, names: list[str]) -> None:
    """Delete the pending marks whose job no longer waits in the queue list itself (the shared
    queue, or the handler's own when it was parked).

    The job's status is not enough: a worker killed between taking a job from the queue and
    starting it leaves the job in RQ's intermediate list, still "queued", until RQ's cleanup
    gives up on it (a minute at least, longer while a killed worker holds RQ's cleaning lock);
    the mark would block every wake of that handler meanwhile.
    """
    marks = conn.mget([keys.pending_key(h) for h in names])
    for h, mark in zip(names, marks, strict=True):
        if mark is None:
            continue
        if any(conn.lpos(key, store.text(mark)) is not None for key in (q.key, handler_queue(q, h).key)):
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
