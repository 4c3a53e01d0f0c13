"""The worker process: an RQ worker with its scheduler, tuned for batch jobs and quick recovery.

Why :class:`rq.SimpleWorker` (no fork): the default ``Worker`` forks a work horse per job, a
cost paid again for every drain and retry job; a drain already carries up to thousands of
reports, and handler plugins keep their connections (HTTP sessions, database pools) warm only
in a process that lives on. The price of running jobs in the worker's own process is that a
crashing handler takes the worker down: the platform restarts it, and the abandoned job is
recovered as below.

What this subclass changes, and why:

- Abandoned jobs are noticed within ``DLRHOOK_ABANDON_AFTER`` seconds, not RQ's minutes: the
  execution heartbeat TTL is that many seconds, kept alive by a thread while a job runs (a
  SIGKILL stops the thread with the process), and maintenance (RQ's registry cleanup, which
  retries or fails abandoned jobs, then :func:`dlrhook.workers.dispatch.recover_claims` and the inbox
  check) runs every ``DLRHOOK_MAINTENANCE_INTERVAL`` seconds, also while idle.
- SIGTERM (Heroku gives 30 s before SIGKILL): the running job is finished; a drain stops
  claiming at once, and after ``DLRHOOK_SHUTDOWN_GRACE`` seconds hands what its handlers have
  not been given yet back to the queue (:mod:`dlrhook.workers.runtime`).
"""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import Any

import redis
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.worker.base import WorkerStatus

from dlrhook import store
from dlrhook.settings import Settings
from dlrhook.workers import dispatch, runtime

log = logging.getLogger("dlrhook.worker")


class DispatchWorker(SimpleWorker):
    """A no-fork RQ worker whose abandoned jobs and orphaned claims are recovered in seconds."""

    def __init__(self, queues: Any, *, settings: Settings, connection: redis.Redis, **kwargs: Any) -> None:
        self.settings = settings
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

    def _beat(self, job: Job, execution: Execution, stop: threading.Event) -> None:
        """Refresh the job's heartbeats every third of the TTL; a failed beat is logged and retried."""
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except redis.RedisError as exc:
                log.warning("heartbeat for job %s failed: %s", job.id, exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, then claim recovery and the inbox check (errors logged, never raised)."""
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        for queue in self.queues:
            try:
                dispatch.recover_claims(self.connection, queue)
                dispatch.check_inbox(self.connection, queue)
            except redis.RedisError as exc:
                log.warning("claim recovery failed, will try again: %s", exc)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: finish the current job, handing back what the grace period cannot take."""
        runtime.request_shutdown(self.settings.shutdown_grace)
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run(settings: Settings, *, burst: bool = False) -> bool:
    """Run a worker with its scheduler on the dlrhook queue until stopped (or, *burst*, idle)."""
    runtime.configure(settings)
    conn = store.connect(settings)
    worker = DispatchWorker([store.queue(conn, settings)], settings=settings, connection=conn)
    return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
