"""A real ``dlrhook worker`` meets stream entries it cannot read (written straight into Redis):
each is quarantined and acknowledged once, every good report around them is delivered, the
stream is trimmed past them, and ``dlrhook quarantine list`` shows them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis as redis_lib

from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.support import sample, wait_until
from tests.support.poison import POISON, add_poison
from tests.support.supervisor import Supervised, recorded

pytestmark = pytest.mark.slow


def reports(prefix: str, n: int) -> list[dict[str, object]]:
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    return [{**template, "messageId": f"{prefix}-{i}"} for i in range(n)]


def test_poison_entries_never_hold_back_a_real_worker_nor_the_stream(
    conn: redis_lib.Redis,
    env: Callable[..., Settings],
    supervise: Callable[..., Supervised],
    process_env: dict[str, str],
) -> None:
    settings = env(DLRHOOK_HANDLERS="test-record")
    stream.register(conn, ["test-record"])
    ingest(conn, reports("before", 5), source="push", settings=settings)
    add_poison(conn)
    ingest(conn, reports("after", 5), source="push", settings=settings)
    add_poison(conn)

    worker = supervise(DLRHOOK_HANDLERS="test-record")

    def delivered() -> set[str]:
        return {json.loads(c)["message_id"].strip("'") for c in recorded(conn, "test:calls:test-record")}

    every = {f"before-{i}" for i in range(5)} | {f"after-{i}" for i in range(5)}
    wait_until(lambda: delivered() >= every, 30, "every good report to reach the handler")
    wait_until(lambda: conn.hlen(keys.QUARANTINE) == 2 * len(POISON), 10, "every poison entry quarantined")
    wait_until(lambda: conn.xlen(keys.REPORTS) == 0, 10, "the stream trimmed past the poison")
    assert conn.xpending(keys.REPORTS, "test-record")["pending"] == 0
    assert worker.exits == []  # the worker never died over them

    listing = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "quarantine", "list"],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = listing.stdout.strip().splitlines()[1:]
    assert len(lines) == 2 * len(POISON)
    assert all("the worker could not read this report" in line for line in lines)
