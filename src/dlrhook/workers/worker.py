"""The worker process: an RQ worker with its scheduler, tuned for batch jobs and quick recovery.

Why :class:`rq.SimpleWorker` (no fork): the default ``Worker`` forks a work horse per job, a
cost paid again for every drain and retry job; a drain already carries up to thousands of
reports, and handler plugins keep their connections (HTTP sessions, database pools) warm only
in a process that lives on. The price of running jobs in the worker's own process is that a
crashing handler takes the worker down: the platform restarts it, and the abandoned batch is
reclaimed and delivered one report at a time, crashes counted (:mod:`dlrhook.workers.lane`).

What this subclass changes, and why:

- Job timeouts are dlrhook's own: every handler call is bounded by ``DLRHOOK_HANDLER_TIMEOUT``
  and a drain by ``DLRHOOK_DRAIN_BUDGET``, so RQ's job-wide SIGALRM is switched off (it would
  share the one alarm with the per-call one).
- Abandoned jobs are noticed within ``DLRHOOK_ABANDON_AFTER`` seconds, not RQ's minutes: the
  execution heartbeat TTL is that many seconds, kept alive by a thread while a job runs (a
  SIGKILL stops the thread with the process), and maintenance (RQ's registry cleanup, then
  :func:`dlrhook.workers.stream.maintain`, and with a SQL status store the deletion of its
  rows older than ``DLRHOOK_STATUS_TTL``, in bounded batches) runs every
  ``DLRHOOK_MAINTENANCE_INTERVAL`` seconds, also while idle.
- SIGTERM (Heroku gives 30 s before SIGKILL): the running job is finished; a drain stops
  claiming at once, and after ``DLRHOOK_SHUTDOWN_GRACE`` seconds hands what its handler has
  not been given yet back to the queue (:mod:`dlrhook.workers.runtime`).
- Redis refusing a write (full) or unreachable never ends the process: :func:`run` logs, waits
  with a growing, jittered delay, and starts working again by itself. A Redis above the
  high-water mark that refuses RQ's writes is emptied meanwhile, without RQ, by
  :mod:`dlrhook.workers.rescue`.
- Failed jobs are logged without their arguments (they hold phone numbers).
- It runs the jobs of its own handlers only (:func:`dlrhook.workers.runtime.select`), and
  listens to their own queues as well as the shared one (:func:`queues`; see
  :mod:`dlrhook.workers.dispatch`).
- Only dlrhook's own jobs run (:data:`OWN_JOBS`: the drain and the retry, at the paths RQ
  stores, the same since 0.2): anyone who can write to Redis can put a job on the queue, and
  RQ would import and call whatever function it names. Any other job is failed without being
  run, and logged; no job's callbacks or webhooks run either (dlrhook's jobs have none).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.timeouts import BaseDeathPenalty
from rq.worker.base import WorkerStatus

from dlrhook import activity, drains, status, store
from dlrhook.errors import StatusUnavailable
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import handlers as handler_registry
from dlrhook.workers import rescue, runtime, stream

log = logging.getLogger("dlrhook.worker")

#: The functions a worker runs; any other job on the queue is refused.
OWN_JOBS = frozenset({keys.DRAIN_FUNC, keys.DELIVER_FUNC})


class ForeignJob(Exception):
    """A job on the dlrhook queue that is not one of dlrhook's own: it is failed, never run."""


class NoDeathPenalty(BaseDeathPenalty):
    """RQ's job timeout, off: dlrhook bounds each handler call and each drain itself."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class DispatchWorker(SimpleWorker):
    """A no-fork RQ worker whose abandoned jobs and batches are recovered in seconds."""

    death_penalty_class = NoDeathPenalty

    def __init__(
        self,
        queues: Any,
        *,
        settings: Settings,
        connection: redis.Redis,
        handler_names: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.settings = settings
        self.handler_names = handler_names if handler_names is not None else []
        kwargs.setdefault("serializer", JSONSerializer)
        kwargs.setdefault("maintenance_interval", settings.maintenance_interval)
        kwargs.setdefault("job_monitoring_interval", max(1, settings.abandon_after // 3))
        super().__init__(queues, connection=connection, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """Wait for a job no longer than the maintenance interval, so that idle workers maintain."""
        return max(1, min(self.worker_ttl - 15, self.maintenance_interval))

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """A running job is abandoned once its worker is silent for ``DLRHOOK_ABANDON_AFTER`` s."""
        return self.settings.abandon_after

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run *job* in this process while a thread keeps its execution heartbeat alive."""
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), name="heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """Run *job* if it is one of :data:`OWN_JOBS`; fail any other without importing anything
        it names (its function, callbacks, webhooks), and log it."""
        try:
            func_name = str(job.func_name)
            instance = job.instance
        except Exception:  # data RQ cannot even read back
            func_name, instance = "<unreadable>", None
        # None of dlrhook's jobs has callbacks or webhooks: a job that names some was not made by it.
        foreign = func_name not in OWN_JOBS or instance is not None
        job._success_callback_name = job._failure_callback_name = job._stopped_callback_name = None
        job.webhooks = []
        if not foreign:
            return bool(super().perform_job(job, queue, execution))
        log.error(
            "refused job %s: %s is not a dlrhook job (only %s run); it was not run, and is failed",
            job.id,
            func_name[:200],
            ", ".join(sorted(OWN_JOBS)),
            extra={"job_id": job.id},
        )
        job.retries_left = 0
        try:
            self.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)
        except Exception:  # RQ's bookkeeping reads the function name again (unreadable data): skip it
            log.debug("job %s: RQ's start bookkeeping failed", job.id, exc_info=True)
        job.ended_at = datetime.now(UTC)
        try:
            self.handle_job_failure(
                job,
                queue,
                started_job_registry=queue.started_job_registry,
                exc_string=f"ForeignJob: {func_name[:200]} is not a dlrhook job; refused, not run",
                execution=execution,
            )
        except Exception as exc:  # never let a foreign job stop the work loop
            log.error("job %s: could not record the refused job as failed (%s)", job.id, type(exc).__name__)
        return False

    def _beat(self, job: Job, execution: Execution, stop: threading.Event) -> None:
        """Refresh the job's heartbeats every third of the TTL; a failed beat is logged and retried."""
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except redis.RedisError as exc:
                log.warning("heartbeat for job %s failed: %s", job.id, exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, then dlrhook's (errors logged, never raised)."""
        try:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            log.warning("RQ maintenance failed, will try again: %s", exc)
        for queue in self.queues:
            try:
                stream.register(self.connection, self.handler_names)
                stream.maintain(self.connection, queue, self.settings)
            except redis.RedisError as exc:
                log.warning("dispatch maintenance failed, will try again: %s", exc)
        if self.settings.status_url:  # a SQL status store: its rows past DLRHOOK_STATUS_TTL go
            try:
                gone = status.open_store(self.settings).expire(self.settings.status_ttl)
            except StatusUnavailable as exc:
                log.warning("status retention failed, will try again: %s", exc)
            else:
                if gone:
                    log.info("maintenance: deleted %d message statuses older than DLRHOOK_STATUS_TTL", gone)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """Log a failed job by id and function, never its arguments (they hold reports)."""
        try:
            func_name = job.func_name
        except Exception:
            func_name = "<unreadable>"
        log.error("job %s (%s) failed", job.id, func_name, exc_info=exc_info or None)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: finish the current job, handing back what the grace period cannot take."""
        runtime.request_shutdown(self.settings.shutdown_grace)
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run(settings: Settings, *, burst: bool = False, handler_names: list[str] | None = None) -> bool:
    """Run a worker with its scheduler on the dlrhook queue until stopped (or, *burst*, idle).

    Redis errors (full, unreachable) never end it: whether Redis refuses the start or RQ's work
    loop quits on an error (it does so on any exception), it logs, waits (redis-py's jittered
    exponential backoff, 1 s growing to 30 s) and starts again, as many times as it takes.
    When Redis is above the high-water mark, it first delivers what it can without RQ
    (:func:`dlrhook.workers.rescue.run`), which is what gives a full Redis its room back.
    """
    runtime.configure(settings)
    conn = store.connect(settings)
    activity.tally.arm(lambda: conn)  # the console's per-minute handler calls (dlrhook.activity)
    backoff = ExponentialWithJitterBackoff(cap=30, base=1)
    failures = 0
    while True:
        started = time.monotonic()
        try:
            chosen = prepare(conn, settings, handler_names)
            runtime.select(chosen)
            worker = DispatchWorker(
                queues(conn, settings, chosen), settings=settings, connection=conn, handler_names=chosen
            )
            worked = worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
            if burst or runtime.stopping() or worker._stop_requested:
                return worked
            reason = "RQ's work loop stopped on an error (logged above)"
        except redis.RedisError as exc:
            if runtime.stopping():
                return False
            reason = f"Redis refused the worker ({type(exc).__name__}: {exc})"
        if rescue.needed(conn, settings):
            names = handler_names if handler_names is not None else [h.name for h in handler_registry.select(settings)]
            if rescue.run(conn, store.queue(conn, settings), settings, names):
                failures = 0
                continue  # back to RQ at once: Redis has room again, or the rescue's budget is spent
        failures = 1 if time.monotonic() - started > 60 else failures + 1  # a long healthy run starts over
        wait = backoff.compute(failures)
        log.error("%s; starting again in %.1f s", reason, wait)
        if not _pause(wait):
            return False


def queues(conn: redis.Redis, settings: Settings, chosen: list[str]) -> list[Queue]:
    """What a worker listens to: the own queue of each handler it runs (jobs parked for them
    by workers that do not run them), then the shared queue."""
    shared = store.queue(conn, settings)
    return [drains.handler_queue(shared, name) for name in chosen] + [shared]


def _pause(seconds: float) -> bool:
    """Sleep *seconds* unless a stop is requested meanwhile; False when it was."""
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if runtime.stopping():
                return False
            time.sleep(0.2)
    except StopRequested:  # RQ's SIGTERM handler, still installed, raises it outside a job
        return False
    return True


def prepare(conn: redis.Redis, settings: Settings, handler_names: list[str] | None = None) -> list[str]:
    """What a worker does before its first job: take over reports left by an older dlrhook,
    register its handlers (each gets its consumer group), and queue the drains that have work."""
    stream.migrate_legacy(conn)
    chosen = handler_names if handler_names is not None else [h.name for h in handler_registry.select(settings)]
    stream.register(conn, chosen)
    others = sorted(set(stream.registered(conn)) - set(chosen))
    if others:
        log.warning(
            "reports are also kept for handlers this worker does not run: %s "
            "(another worker's, or removed ones: `dlrhook handlers forget NAME` stops keeping them)",
            ", ".join(others),
        )
    stream.maintain(conn, store.queue(conn, settings), settings)
    return chosen
