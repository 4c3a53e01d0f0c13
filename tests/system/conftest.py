"""Fixtures that start real processes: dlrhook workers (supervised) and ``dlrhook web``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis as redis_lib

from dlrhook.dev.embedded import free_port
from tests.support import PLUGINS
from tests.support.supervisor import FAST, Supervised
from tests.support.web import Web


@pytest.fixture
def process_env(redis_url: str) -> dict[str, str]:
    """Environment for dlrhook subprocesses: the test Redis and the test plugin on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_"))}
    env["REDIS_URL"] = redis_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def supervise(process_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    """``supervise(n, DLRHOOK_X="1")``: *n* supervised workers with these settings (returns the first)."""
    slots: list[Supervised] = []
    threads: list[threading.Thread] = []

    def start(count: int = 1, **values: str) -> Supervised:
        first = None
        for _ in range(count):
            slot = Supervised({**process_env, **FAST, **values}, tmp_path)
            slot.start()
            thread = threading.Thread(target=slot.watch, daemon=True)
            thread.start()
            slots.append(slot)
            threads.append(thread)
            first = first or slot
        assert first is not None
        return first

    yield start
    for slot in slots:
        slot.stopping = True
    for thread in threads:
        thread.join(5)
    for slot in slots:
        slot.kill()
        if slot.proc is not None:
            slot.proc.wait()


@pytest.fixture
def start_web(conn: redis_lib.Redis, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Web]]:
    """``start_web(DLRHOOK_TOKEN=...)``: `dlrhook web` with two workers on a free port (on the
    test Redis unless ``REDIS_URL`` is given)."""
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(**extra: str) -> Web:
        port = free_port()
        metrics_dir = tmp_path / f"metrics-{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_", "PROMETHEUS_"))}
        env.update(
            {
                "REDIS_URL": redis_url,
                "PORT": str(port),
                "WEB_CONCURRENCY": "2",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "DLRHOOK_LOG_LEVEL": "WARNING",
                **extra,  # REDIS_URL too: a test's own server
            }
        )
        log_path = tmp_path / f"web-{port}.log"
        log = log_path.open("wb")
        dlrhook = str(Path(sys.executable).parent / "dlrhook")
        process = subprocess.Popen([dlrhook, "web"], env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        server = Web(port, metrics_dir, process)
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    return server
            except OSError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
            time.sleep(0.1)

    yield start
    for process, log in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
