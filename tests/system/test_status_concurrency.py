"""Real ``dlrhook worker`` processes folding reports of the same messages at once lose no update."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
from rq import Worker

from dlrhook import store
from dlrhook.settings import Settings
from dlrhook.status import StatusStore
from dlrhook.store import keys
from tests.statuses import names, report
from tests.support import wait_until


@pytest.mark.slow
def test_two_worker_processes_folding_reports_of_the_same_messages_at_once_agree(
    conn: redis_lib.Redis,
    settings: Settings,
    process_env: dict[str, str],
    tmp_path: Path,
    status_url: str,
    statuses: StatusStore,
) -> None:
    """Two real ``dlrhook worker`` processes take 150 retry jobs, each with reports of the same
    50 messages in a random order (every report twice): no update is lost, in every store."""
    messages = [f"p-{n}" for n in range(50)]
    steps = (("PENDING_ENROUTE", 1), ("DELIVERED_TO_OPERATOR", 2), ("DELIVERED_TO_HANDSET", 3))
    work = [report(m, name, done) for m in messages for name, done in steps] * 2
    random.Random(11).shuffle(work)
    env = {**process_env, "DLRHOOK_HANDLERS": "status", "DLRHOOK_LOG_LEVEL": "WARNING"}
    env["DLRHOOK_STATUS_STORE"] = status_url
    procs = []
    try:
        for n in range(2):
            with open(tmp_path / f"worker-{n}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "dlrhook.cli", "worker"],
                        env=env,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,  # RQ's scheduler runs in a child process: kill the group
                    )
                )
        wait_until(lambda: conn.scard("rq:workers") == 2, what="two workers up")
        q = store.queue(conn, settings)
        jobs = [
            q.enqueue_call(
                keys.DELIVER_FUNC, args=["status", [r.to_wire() for r in work[i : i + 2]], 1], result_ttl=300
            )
            for i in range(0, len(work), 2)
        ]
        wait_until(
            lambda: all(j.get_status(refresh=True) == "finished" for j in jobs), timeout=120, what="every job done"
        )
        done_by = [w.successful_job_count for w in Worker.all(connection=conn)]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    assert len(done_by) == 2 and min(done_by) > 0, done_by  # both took part
    summary = statuses.bulk("BULK-1")
    assert summary is not None
    assert (summary["messages"], summary["final"], summary["byStatusGroup"]) == (50, 50, {"DELIVERED": 50})
    assert summary["secondsToFinal"]["5"] == 50  # each message once, from its first final report
    for m in messages:
        assert names(statuses.message(m)) == ["PENDING_ENROUTE", "DELIVERED_TO_OPERATOR", "DELIVERED_TO_HANDSET"]
