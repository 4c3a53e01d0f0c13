"""Retries and dead letters: what becomes of the reports a handler call failed or never tried.

Failures are per handler and per report: only the reports a handler failed are retried, for
that handler only, as a ``deliver`` job (:data:`dlrhook.store.keys.DELIVER_FUNC`) after
``DLRHOOK_RETRY_DELAYS[n]`` (RQ's scheduler); when the delays run out they are dead-lettered
(RQ's FailedJobRegistry, replayable: :mod:`dlrhook.replay`). Reports never tried (time
is up) go back as a job of their own, the attempt unspent. Everything here is queued in the
caller's pipeline, so it happens in the transaction that acknowledges the reports.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Queue, Retry
from rq.job import Job
from rq.job_lifecycle import record_job_failure

from dlrhook import metrics
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers.calls import Outcome

log = logging.getLogger("dlrhook.dispatch")

#: Runs of a ``deliver`` job RQ allows: a retry abandoned by a killed worker runs again, carefully.
DELIVER_RETRIES = 3
#: Prefix of a dead letter's job id (``dead-<hex>``): replayed, it runs under that id.
DEAD_LETTER_PREFIX = "dead-"


def settle(
    pipe: Any,
    q: Queue,
    settings: Settings,
    handler_name: str,
    wires: list[dict[str, Any]],
    outcome: Outcome,
    attempt: int,
) -> None:
    """Queue, in *pipe*, the retry or dead letter of what failed and the hand-back of the untried."""
    succeeded = len(wires) - len(outcome.failed) - len(outcome.untried)
    if succeeded:
        metrics.count_handler_call(handler_name, True, succeeded)
    if outcome.failed:
        metrics.count_handler_call(handler_name, False, len(outcome.failed))
        failed = [wires[i] for i in outcome.failed]
        delays = settings.retry_delays
        last_line = _last_line(outcome.error)
        if attempt <= len(delays):
            delay = delays[attempt - 1]
            job = deliver_job(q, handler_name, failed, attempt + 1)
            metrics.count_retry(handler_name, len(failed))
            if delay:
                q.schedule_job(job, datetime.now(UTC) + timedelta(seconds=delay), pipeline=pipe)
            else:
                q.enqueue_job(job, pipeline=pipe)
            log.warning(
                "handler %s failed %d of %d reports (attempt %d); retrying in %d s",
                handler_name,
                len(failed),
                len(wires),
                attempt,
                delay,
                extra={"handler": handler_name, "attempt": attempt, "error": last_line, "retry_job": job.id},
            )
        else:
            job = dead_letter(pipe, q, handler_name, failed, attempt, outcome.error)
            metrics.count_dead_lettered(handler_name, len(failed))
            log.error(
                "handler %s gave up on %d reports after %d attempts: dead-lettered as %s",
                handler_name,
                len(failed),
                attempt,
                job.id,
                extra={"handler": handler_name, "attempt": attempt, "error": last_line, "failed_job": job.id},
            )
    if outcome.untried:
        # Time is up (shutdown, or the drain's budget): the untried reports go back as a job of
        # their own, at the back of the queue, the attempt unspent.
        job = deliver_job(q, handler_name, [wires[i] for i in outcome.untried], attempt)
        q.enqueue_job(job, pipeline=pipe)
        log.info("%d reports handed back for handler %s as %s", len(outcome.untried), handler_name, job.id)


def deliver_job(
    q: Queue, handler_name: str, wires: list[dict[str, Any]], attempt: int, prefix: str = "deliver-"
) -> Job:
    """A ``deliver`` job (not yet queued) of *handler_name*'s attempt number *attempt* at *wires*."""
    return q.create_job(
        keys.DELIVER_FUNC,
        args=[handler_name, wires, attempt],
        job_id=f"{prefix}{uuid.uuid4().hex}",
        result_ttl=0,
        timeout=86400,  # the job bounds its own time (budget, handler timeout)
        retry=Retry(max=DELIVER_RETRIES),  # a retry abandoned by a killed worker runs again, carefully
        description=f"dlrhook: {handler_name}, attempt {attempt}, {len(wires)} reports",
    )


def dead_letter(
    pipe: Any,
    q: Queue,
    handler_name: str,
    wires: list[dict[str, Any]],
    attempts: int,
    error: str,
    *,
    reason: str | None = None,
) -> Job:
    """Record *wires* as a failed job in RQ's FailedJobRegistry; replaying it is one more attempt.

    ``record_job_failure`` (rq.job_lifecycle) is RQ's own, undocumented, way to fail a job that
    never ran; docs/workers.md says so. The job's meta carries what ``dlrhook failed list`` shows.
    """
    job = q.create_job(
        keys.DELIVER_FUNC,
        args=[handler_name, wires, attempts + 1],
        job_id=f"{DEAD_LETTER_PREFIX}{uuid.uuid4().hex}",
        result_ttl=0,
        timeout=86400,
        description=f"dlrhook: {handler_name} gave up on {len(wires)} reports after {attempts} attempts",
        meta={
            "handler": handler_name,
            "attempts": attempts,
            "reports": len(wires),
            "message_ids": [str(w.get("report", {}).get("message_id", "")) for w in wires],
            "error": reason or _last_line(error),
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    job.ended_at = datetime.now(UTC)
    job.save(pipeline=pipe)
    record_job_failure(job, error or "failed", pipe)
    return job


def _last_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
