"""The pull side against the fake Infobip: its account, fast delays, a poller run in a thread,
the ``dlrhook`` command, and what reached a handler (:func:`delivered`).

The fake itself and settings for it are the ``fake``, ``pull_env`` and ``account`` fixtures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_lib
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from dlrhook import status, store
from dlrhook.ingest import ingest
from dlrhook.pull.poller import Poller
from dlrhook.settings import Settings, load_settings
from dlrhook.workers import runtime
from dlrhook.workers.worker import prepare
from tests.fake_infobip import LOGS_PATH, FakeInfobip
from tests.plugins.dlrhook_testplugin import calls
from tests.statuses import raw_report
from tests.support import ROOT

API_KEY = "test-api-key-0123456789"


DLRHOOK = str(Path(sys.executable).parent / "dlrhook")


#: Tiny delays, so that backoff is visible in the request log without slowing the tests.
FAST = {
    "DLRHOOK_PULL_MODE": "always",
    "DLRHOOK_PULL_INTERVAL": "60",
    "DLRHOOK_PULL_BACKOFF": "0.1",
    "DLRHOOK_PULL_BACKOFF_MAX": "5",
    "DLRHOOK_PULL_AUTH_BACKOFF": "0.2",
    "DLRHOOK_PULL_LOCK_TTL": "2",
    "DLRHOOK_PULL_CONNECT_TIMEOUT": "2",
    "DLRHOOK_PULL_READ_TIMEOUT": "5",
}


def delivered(conn: redis_lib.Redis) -> list[str]:
    """Message ids of the reports that reached a handler, in order: the queued jobs are run in
    this process (RQ's SimpleWorker, burst) with the recording test plugin as the handler."""
    settings = dataclasses.replace(load_settings(), handlers=("test-record",))
    runtime.configure(settings)
    try:
        prepare(conn, settings)  # what a worker does at start: register the handler, queue its drain
        SimpleWorker([store.queue(conn, settings)], connection=conn, serializer=JSONSerializer).work(burst=True)
    finally:
        runtime.reset()
    calls = conn.lrange("test:calls:test-record", 0, -1)
    return [json.loads(call)["message_id"].strip("'") for call in calls]  # type: ignore[union-attr]


def message_ids(reports: list[dict[str, Any]]) -> list[str]:
    return [r["messageId"] for r in reports]


class Running:
    """``with Running(poller):`` runs ``poller.run()`` in a thread; on exit stops it, joins it,
    and re-raises anything it raised (a poller must never crash)."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.poller.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.poller.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the poller did not stop"
        if self.error is not None:
            raise self.error

    def __exit__(self, *exc: object) -> None:
        self.stop()


def new_poller(settings: Settings) -> Poller:
    return Poller(settings, store.connect(settings))


def dlrhook(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed ``dlrhook`` command in the current (test) environment."""
    return subprocess.run(
        [DLRHOOK, *args], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=timeout
    )


def pending(conn: redis_lib.Redis, settings: Settings, run_jobs: Callable[[Settings], None], *ids: str) -> None:
    """Messages whose only report so far is PENDING, folded by the status handler."""
    ingest(conn, [raw_report(m, "PENDING_ENROUTE", 1) for m in ids], source="push", settings=settings)
    run_jobs(settings)
    assert sorted(status.intermediate_ids(conn, 0)) == sorted(ids)


def logs_requests(fake: FakeInfobip) -> list:
    return [r for r in fake.log() if r.path == LOGS_PATH]


#: Reports paths of three channels, for the several-paths tests (DLRHOOK_PULL_PATHS).
SMS, VIBER, MESSAGES = "/sms/3/reports", "/viber/2/reports", "/messages-api/1/reports"
PATHS = f"{SMS},{VIBER},{MESSAGES}"


def channels_received(conn: redis_lib.Redis) -> dict[str, str]:
    """Message id -> channel, of every report that reached the recording handler."""
    delivered(conn)
    return {c["message_id"].strip("'"): c["channel"].strip("'") for c in calls(conn, "test-record")}
