"""Anyone who can write to Redis can put a job on the dlrhook queue: a real worker runs only
dlrhook's own (drain, deliver) and fails any other without running it, logging it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib
from dlrhook_testplugin import calls
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.support import sample

pytestmark = pytest.mark.slow


def test_a_job_enqueued_from_outside_is_refused_logged_and_never_run(
    conn: redis_lib.Redis, env: Callable[..., Settings], process_env: dict[str, str], tmp_path: Path
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-record")
    target = tmp_path / "made-by-an-intruder"
    q = Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)
    intruder = q.enqueue("os.makedirs", str(target))
    sneaky = q.enqueue(keys.DRAIN_FUNC, "test-record", on_failure=Callback("os.abort"), on_success=Callback("os.abort"))
    # Also one a pickling RQ client leaves: the worker reads jobs as JSON only.
    pickled = Queue(settings.queue_name, connection=conn).enqueue("os.makedirs", str(target) + "-pickled")
    stream.register(conn, ["test-record"])
    report = json.loads(sample("v3-one-delivered.json"))["results"][0]
    ingest(conn, [report], source="push", settings=settings)

    run = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "worker", "--burst"],
        env={**process_env, "DLRHOOK_HANDLERS": "test-record"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = run.stdout + run.stderr
    assert not target.exists() and not Path(str(target) + "-pickled").exists()
    job = Job.fetch(intruder.id, connection=conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    assert intruder.id in FailedJobRegistry(queue=q).get_job_ids()
    assert f"refused job {intruder.id}: os.makedirs is not a dlrhook job" in output
    assert Job.fetch(sneaky.id, connection=conn, serializer=JSONSerializer).get_status() == JobStatus.FINISHED
    assert len(calls(conn, "test-record")) == 1  # dlrhook's own jobs still run (and no callback aborted it)
    assert pickled.id not in q.get_job_ids()  # taken off the queue, not run
    assert f"refused job {pickled.id}: <unreadable> is not a dlrhook job" in output
    assert run.returncode == 0, output[-3000:]
    assert "unhandled exception" not in output  # the work loop went on
