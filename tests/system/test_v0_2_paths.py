"""The paths dlrhook 0.2 gave users still work in real processes: the gunicorn config and WSGI
app that Procfiles and unit files name, and the function paths of jobs 0.2 left in a queue."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib
from dlrhook_testplugin import calls

from dlrhook import store
from dlrhook.dev.embedded import free_port
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.statuses import raw_report, report
from tests.support import sample

pytestmark = pytest.mark.slow

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def burst_worker(process_env: dict[str, str], **values: str) -> subprocess.CompletedProcess[str]:
    """A real ``dlrhook worker --burst``: runs every queued job, then exits."""
    env = {**process_env, "DLRHOOK_RETRY_DELAYS": "0,0", **values}
    return subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_with_the_0_2_config_and_app_paths_answers_a_push_with_200(
    conn: redis_lib.Redis, process_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {**process_env, "PORT": str(port), "WEB_CONCURRENCY": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    # As a 0.2 Procfile has it: web: gunicorn --config python:dlrhook.gunicorn_conf "dlrhook.app:create_app()"
    command = [GUNICORN, "--config", "python:dlrhook.gunicorn_conf", "dlrhook.app:create_app()"]
    with open(tmp_path / "web.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.1)
        push = urllib.request.Request(
            base + "/notify",
            data=sample("v1-one-delivered.json"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(push, timeout=10) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    assert status == 200, (tmp_path / "web.log").read_text()
    assert conn.xlen(keys.REPORTS) == 1


def test_a_drain_job_queued_by_its_0_2_function_path_is_run_by_a_real_worker(
    conn: redis_lib.Redis, env: Callable[..., Settings], process_env: dict[str, str]
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-record")
    stream.register(conn, ["test-record"])
    ingest(conn, [raw_report("m-0.2", "DELIVERED_TO_HANDSET", 5)], source="push", settings=settings)
    q = store.queue(conn, settings)
    q.empty()  # the drain this push queued: the job left by 0.2 is the one to run
    job = q.enqueue_call("dlrhook.workers.dispatch.drain", args=["test-record"], result_ttl=300)

    done = burst_worker(process_env, DLRHOOK_HANDLERS="test-record")

    assert done.returncode == 0, done.stderr
    assert job.get_status(refresh=True) == "finished"
    assert [c["message_id"] for c in calls(conn, "test-record")] == ["'m-0.2'"]


def test_a_deliver_job_queued_by_its_0_2_function_path_is_run_by_a_real_worker(
    conn: redis_lib.Redis, env: Callable[..., Settings], process_env: dict[str, str]
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-record")
    wires = [report("m-retry", "DELIVERED_TO_HANDSET", 5).to_wire()]
    job = store.queue(conn, settings).enqueue_call(
        "dlrhook.workers.dispatch.deliver", args=["test-record", wires, 1], result_ttl=300
    )

    done = burst_worker(process_env, DLRHOOK_HANDLERS="test-record")

    assert done.returncode == 0, done.stderr
    assert job.get_status(refresh=True) == "finished"
    assert [c["message_id"] for c in calls(conn, "test-record")] == ["'m-retry'"]
