"""The status database stopped under load, through a real `dlrhook web` and a real worker: no
report answered 200 is lost, the worker is never stuck, reads answer 503 meanwhile, and what
was dead-lettered during the outage is replayed into the database once it is back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.status.stores import sql_store
from tests.statuses import raw_report
from tests.support import wait_until
from tests.support.postgres import Postgres
from tests.support.supervisor import Supervised
from tests.support.web import Web

API_TOKEN = "api-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
BATCHES, PER_BATCH = 40, 25


@pytest.fixture
def database() -> Iterator[Postgres]:
    """A PostgreSQL of this test's own (it is stopped and started), its schema upgraded."""
    from dlrhook.status import migrations
    from dlrhook.status.sql import create_engine

    server = Postgres().start()
    try:
        engine = create_engine(server.url)
        migrations.upgrade(engine)
        engine.dispose()
        yield server
    finally:
        server.destroy()


def _push(web: Web, batch: int) -> int:
    body = {
        "results": [raw_report(f"d-{batch}-{i}", "DELIVERED_TO_HANDSET", 4, bulk_id="DOWN") for i in range(PER_BATCH)]
    }
    code, answer = web.request("POST", "/notify", json.dumps(body).encode(), "application/json")
    assert code == 200, answer
    return int(json.loads(answer)["accepted"])


def _get(web: Web, path: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{web.port}{path}", headers=BEARER)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_the_status_database_stopped_under_load_loses_no_report_and_stalls_no_worker(
    database: Postgres,
    conn: redis_lib.Redis,
    start_web: Callable[..., Web],
    supervise: Callable[..., Supervised],
    process_env: dict[str, str],
    tmp_path: Path,
) -> None:
    store_env = {"DLRHOOK_STATUS_STORE": database.url}
    web = start_web(DLRHOOK_API_TOKEN=API_TOKEN, **store_env)
    worker = supervise(1, DLRHOOK_HANDLERS="status", **store_env)  # retries 0 s apart: dead letters soon
    accepted = 0
    pushing_done = threading.Event()
    failures: list[BaseException] = []

    def push_all() -> None:
        nonlocal accepted
        try:
            for batch in range(BATCHES):
                accepted += _push(web, batch)
                time.sleep(0.15)  # about 6 s of pushes: before, during and after the outage
        except BaseException as exc:
            failures.append(exc)
        finally:
            pushing_done.set()

    pusher = threading.Thread(target=push_all)
    pusher.start()
    wait_until(lambda: accepted >= 5 * PER_BATCH, 30, "the first pushes")
    wait_until(lambda: _get(web, "/bulks/DOWN")[0] == 200, 30, "the first reports folded")

    database.stop()  # the database goes away under load ...
    time.sleep(1.5)
    code, body = _get(web, "/messages/d-0-0")
    assert code == 503 and "status database could not read" in body  # ... reads say so, no 500
    assert worker.proc is not None and worker.proc.poll() is None  # ... the worker lives on
    time.sleep(1.5)
    database.start()  # ... and comes back

    pushing_done.wait(60)
    pusher.join()
    assert failures == []
    assert accepted == BATCHES * PER_BATCH  # every push answered 200: the web needs Redis only

    def folded() -> int:
        found = sql_store(database.url).bulk("DOWN")
        return 0 if found is None else int(found["messages"])

    # What the worker could not fold during the outage it retried, then dead-lettered: replay it.
    def settled() -> bool:
        replay = subprocess.run(
            [sys.executable, "-m", "dlrhook.cli", "failed", "replay", "--all", "--handler", "status"],
            env={**process_env, **store_env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        return folded() == accepted

    wait_until(settled, 90, "every accepted report in the database, dead letters replayed")
    assert worker.starts == 1, worker.output()[-3000:]  # never stuck, never restarted
    assert "status database could not fold a batch" in worker.output()  # the outage was a handler failure
    record = sql_store(database.url).message(f"d-{BATCHES - 1}-0")
    assert record is not None and record["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert _get(web, "/bulks/DOWN")[0] == 200
