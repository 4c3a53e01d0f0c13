"""The pull side as processes: ``dlrhook pull`` and ``dlrhook poller`` against the fake Infobip,
and a poller killed between fetching a page and ingesting it."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib

from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.fake_infobip import Answer, FakeInfobip, make_reports
from tests.support import ROOT, wait_until
from tests.support.pull import DLRHOOK, Running, delivered, dlrhook, message_ids, new_poller

# A poller that dies (SIGKILL) after storing a page and before ingesting it.
DIES_BEFORE_INGESTING = """
import time
from dlrhook import store
from dlrhook.settings import load_settings
from dlrhook.pull.pages import PageStore
from dlrhook.pull.poller import Poller

def dies_before_ingesting(self, page_id, body):
    print("PAGE-STORED", page_id, flush=True)
    time.sleep(600)
    raise SystemExit(1)

PageStore.ingest = dies_before_ingesting
settings = load_settings()
Poller(settings, store.connect(settings)).run()
"""


def _lines(stream: Any, out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def test_a_page_fetched_by_a_poller_killed_before_ingesting_it_is_delivered_by_the_next_poller(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    reports = make_reports(300)
    fake.add_reports(reports)
    settings = pull_env()
    proc = subprocess.Popen(
        [sys.executable, "-c", DIES_BEFORE_INGESTING],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line.startswith("PAGE-STORED"):
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    assert fake.remaining == 0, "Infobip handed the whole page out: it exists only in Redis now"
    assert conn.hlen(keys.PULL_PAGES) == 1
    assert delivered(conn) == []

    with Running(new_poller(settings)):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 300, what="the dead poller's page")
    assert sorted(delivered(conn)) == sorted(message_ids(reports))
    assert conn.hlen(keys.PULL_PAGES) == 0


def test_dlrhook_pull_with_limit_10_drains_now_and_prints_the_counts(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    reports = make_reports(25)
    fake.add_reports(reports)
    pull_env(DLRHOOK_PULL_MODE="off")  # an explicit pull runs whatever the poller's mode

    done = dlrhook("pull", "--limit", "10")

    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.splitlines()[-1])
    assert counts == {"accepted": 25, "duplicates": 0, "quarantined": 0, "pages": 3, "rejected_pages": 0}
    assert [(r.limit, r.returned) for r in fake.log()] == [(10, 10), (10, 10), (10, 5)]
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


def test_dlrhook_pull_by_bulk_id_takes_only_that_bulk(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    wanted = make_reports(4, start=100, bulk_id="BULK-WANTED")
    fake.add_reports([*make_reports(6), *wanted])
    pull_env()

    done = dlrhook("pull", "--bulk-id", "BULK-WANTED")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["accepted"] == 4
    assert fake.log()[0].params["bulkId"] == "BULK-WANTED"
    assert sorted(delivered(conn)) == sorted(message_ids(wanted))
    assert fake.remaining == 6


def test_dlrhook_pull_refuses_a_limit_above_the_configured_one(
    fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    pull_env(DLRHOOK_PULL_LIMIT="100")
    done = dlrhook("pull", "--limit", "101")
    assert done.returncode == 2
    assert "DLRHOOK_PULL_LIMIT" in done.stderr
    assert fake.requests == []


def test_dlrhook_pull_with_a_wrong_key_fails_once_naming_the_setting(
    fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    pull_env(INFOBIP_API_KEY="wrong-key-1111")
    done = dlrhook("pull")
    assert done.returncode == 1
    assert "INFOBIP_API_KEY" in done.stderr
    assert "wrong-key-1111" not in done.stdout + done.stderr
    assert len(fake.requests) == 1


def test_dlrhook_poller_stops_on_sigterm_after_finishing_the_request_in_flight(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    reports = make_reports(5)
    fake.add_reports(reports)
    fake.inject(Answer(delay=1.5))
    pull_env()
    proc = subprocess.Popen([DLRHOOK, "poller"], cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(fake.requests) == 1, what="the first request")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()

    assert proc.returncode == 0
    assert [r.returned for r in fake.log()] == [5]
    assert sorted(delivered(conn)) == sorted(message_ids(reports))
    assert '"poller stopped"' in out
