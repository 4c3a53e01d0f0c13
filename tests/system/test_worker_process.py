"""Real ``dlrhook worker`` processes: crashes, shutdowns, the scheduler, and no Flask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook import store
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.support import sample, wait_until

pytestmark = pytest.mark.slow


def reports(n: int) -> list[dict[str, object]]:
    """*n* distinct valid reports (the v3 sample with message ids m-0, m-1, ...)."""
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    return [{**template, "messageId": f"m-{i}"} for i in range(n)]


def recorded(conn: redis_lib.Redis, key: str) -> list[str]:
    return [v.decode() for v in conn.lrange(key, 0, -1)]


@pytest.fixture
def workers(process_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``workers(DLRHOOK_X="1")`` starts ``dlrhook worker`` in its own process group; all are
    killed at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**values: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115  # the process owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "dlrhook.cli", "worker"],
            env={**process_env, **values},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


FAST_RECOVERY = {"DLRHOOK_ABANDON_AFTER": "3", "DLRHOOK_MAINTENANCE_INTERVAL": "1"}


def test_a_batch_whose_worker_was_killed_reaches_the_handler_after_a_new_worker_starts(
    conn: redis_lib.Redis, env: Callable[..., Settings], workers: Callable[..., subprocess.Popen[bytes]]
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-slow")
    conn.set("test:slow", "0.5")
    ingest(conn, reports(8), source="push", settings=settings)

    first = workers(DLRHOOK_HANDLERS="test-slow", **FAST_RECOVERY)
    wait_until(lambda: len(recorded(conn, "test:started:test-slow")) >= 2, 30, "the first worker to start the batch")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert len(recorded(conn, "test:calls:test-slow")) < 8
    assert conn.xpending(keys.REPORTS, "test-slow")["pending"]  # the killed worker's claim is still there

    workers(DLRHOOK_HANDLERS="test-slow", **FAST_RECOVERY)
    every = {f"m-{i}" for i in range(8)}
    wait_until(lambda: set(recorded(conn, "test:calls:test-slow")) >= every, 40, "every report to reach the handler")
    wait_until(lambda: conn.xlen(keys.REPORTS) == 0, 10, "the delivered reports to be trimmed")
    assert conn.xpending(keys.REPORTS, "test-slow")["pending"] == 0


def test_sigterm_mid_batch_hands_the_untried_reports_back_and_the_next_worker_delivers_each_once(
    conn: redis_lib.Redis, env: Callable[..., Settings], workers: Callable[..., subprocess.Popen[bytes]]
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-slow")
    conn.set("test:slow", "0.5")
    ingest(conn, reports(20), source="push", settings=settings)

    first = workers(DLRHOOK_HANDLERS="test-slow", DLRHOOK_SHUTDOWN_GRACE="1")
    wait_until(lambda: len(recorded(conn, "test:started:test-slow")) >= 1, 30, "the worker to start the batch")
    stopped_at = time.monotonic()
    os.killpg(first.pid, signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    assert time.monotonic() - stopped_at < 10
    delivered = recorded(conn, "test:calls:test-slow")
    assert 0 < len(delivered) < 20

    workers(DLRHOOK_HANDLERS="test-slow")
    wait_until(lambda: len(recorded(conn, "test:calls:test-slow")) >= 20, 40, "the handed-back reports")
    time.sleep(0.5)
    assert sorted(recorded(conn, "test:calls:test-slow")) == sorted(f"m-{i}" for i in range(20))


def test_a_retry_fires_from_the_workers_own_scheduler_after_its_delay(
    conn: redis_lib.Redis, env: Callable[..., Settings], workers: Callable[..., subprocess.Popen[bytes]]
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-flaky")
    conn.sadd("test:flaky", "m-0")
    ingest(conn, reports(2), source="push", settings=settings)

    workers(DLRHOOK_HANDLERS="test-flaky", DLRHOOK_RETRY_DELAYS="1,1")
    wait_until(lambda: recorded(conn, "test:calls:test-flaky").count("m-0") == 3, 30, "the third attempt")
    assert recorded(conn, "test:calls:test-flaky").count("m-1") == 1


def test_the_worker_side_never_imports_flask(
    process_env: dict[str, str], conn: redis_lib.Redis, env: Callable[..., Settings]
) -> None:
    script = (
        "import sys\n"
        "import dlrhook, dlrhook.workers.dispatch, dlrhook.workers.worker, dlrhook.workers.handlers\n"
        "import dlrhook.workers.builtin, dlrhook.replay, dlrhook.cli\n"
        "from dlrhook.settings import load_settings\n"
        "from dlrhook.workers.worker import run\n"
        "run(load_settings(), burst=True)\n"
        "assert 'flask' not in sys.modules, 'flask was imported'\n"
        "print('no flask')\n"
    )
    ingest(conn, reports(1), source="push", settings=env())
    worker_env = {**process_env, "DLRHOOK_HANDLERS": "test-record,log"}
    done = subprocess.run([sys.executable, "-c", script], env=worker_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no flask" in done.stdout
    assert conn.llen("test:calls:test-record") == 1  # the burst worker really ran the drain


PHONE = "41793026731"
EMAIL = "jane.doe@example.com"
CALLBACK = "order-7-secret"


def test_a_failing_job_logs_no_phone_number_email_or_callback_data_and_no_per_job_chatter(
    conn: redis_lib.Redis, env: Callable[..., Settings], process_env: dict[str, str]
) -> None:
    settings = env()
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    leaked = [
        {**template, "messageId": "m-phone", "to": PHONE, "callbackData": CALLBACK},
        {**template, "messageId": "m-email", "to": EMAIL, "callbackData": CALLBACK},
    ]
    ingest(conn, leaked, source="push", settings=settings)
    # A job RQ itself fails (the handler cannot be loaded): RQ logs its arguments, the reports.
    wires = [json.loads(fields[b"w"]) for _, fields in conn.xrange(keys.REPORTS)]
    store.queue(conn, settings).enqueue(keys.DELIVER_FUNC, args=["no_such_module:handler", wires, 1])

    done = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "worker", "--burst"],
        env={**process_env, "DLRHOOK_HANDLERS": "test-leaky", "DLRHOOK_RETRY_DELAYS": "0", "DLRHOOK_LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr

    assert done.returncode == 0, output[-3000:]
    assert "(dlrhook.workers.dispatch.deliver) failed" in output  # the line about the failed job, no arguments
    assert "cannot deliver" in output and "gave up on" in output  # the handler's failures, logged
    assert "4179*****31" in output and "j***@example.com" in output  # masked, not dropped
    for secret in (PHONE, EMAIL, CALLBACK):
        assert secret not in output, f"{secret} is in the worker's output"
    assert "Job OK" not in output and "result is kept" not in output and "result discarded" not in output
    for line in done.stdout.splitlines():
        json.loads(line)  # every stdout line is one JSON object
