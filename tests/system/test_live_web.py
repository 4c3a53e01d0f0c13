"""The web process for real: `dlrhook web` (gunicorn, two worker processes) on a free port.

/metrics must add up what every worker counted, and `dlrhook simulate` must get every report
it sent answered, JSON and XML alike.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.dev.simulate import DEFAULT_MIX, encode, generate, simulate
from dlrhook.store import keys
from tests.support.web import Web

pytestmark = pytest.mark.slow


@pytest.fixture
def web(start_web: Callable[..., Web]) -> Web:
    return start_web()


NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def _batch(count: int, seed: int) -> bytes:
    """The same bytes for the same seed: a fixed clock, so a re-send is a true duplicate."""
    reports, _ = generate(count, mix=dict(DEFAULT_MIX), duplicates=0.0, v3=False, rng=random.Random(seed), now=NOW)
    return encode(reports, "json")


def test_metrics_add_up_across_two_gunicorn_workers(web: Web) -> None:
    sent_accepted = 0
    # Fresh connections until both workers have counted something: the kernel picks which
    # worker accepts a connection, and a worker still booting (a loaded machine) takes none.
    # Every batch is new, so all of it is accepted.
    deadline = time.monotonic() + 60
    seed = 0
    while len(web.worker_pids_with_counters()) < 2 or seed < 10:
        assert time.monotonic() < deadline, "one worker took every connection for 60 s"
        status, _ = web.request("POST", "/notify", _batch(10, seed), "application/json")
        assert status == 200
        sent_accepted += 10
        seed += 1
        if seed > 10:
            time.sleep(0.02)
    assert len(web.worker_pids_with_counters()) == 2

    # The same batches again: every report is a duplicate, counted by whichever worker answers.
    resent = 0
    for seed in range(5):
        status, _ = web.request("POST", "/notify", _batch(10, seed), "application/json")
        assert status == 200
        resent += 10
    assert web.request("POST", "/notify", b"not json", "application/json")[0] == 400

    summary = simulate(web.url, count=400, batch_size=40, duplicates=0.25, concurrency=4)
    assert summary.failed == 0
    assert (summary.accepted, summary.duplicates) == (300, 100)

    expected_accepted = sent_accepted + 300
    expected_duplicates = resent + 100
    for _ in range(4):  # any worker may answer the scrape; each must report the same sums
        samples = web.scrape()
        assert samples['dlrhook_reports_total{channel="SMS",outcome="accepted",source="push"}'] == expected_accepted
        assert samples['dlrhook_reports_total{channel="SMS",outcome="duplicate",source="push"}'] == expected_duplicates
        assert samples['dlrhook_rejected_requests_total{status="400"}'] == 1
        assert samples['dlrhook_queue_depth{queue="inbox"}'] == expected_accepted
        assert samples['dlrhook_ingest_seconds_count{source="push"}'] == summary.requests + (sent_accepted // 10) + 5


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_simulate_gets_every_report_answered(web: Web, conn: redis_lib.Redis, fmt: str) -> None:
    summary = simulate(web.url, count=1000, batch_size=100, duplicates=0.1, concurrency=4, fmt=fmt, seed=11)
    assert summary.failed == 0
    assert summary.statuses == {"200": 10}
    assert summary.accepted + summary.duplicates == 1000
    assert summary.duplicates == summary.resent == 100
    assert summary.quarantined == 0
    assert conn.xlen(keys.REPORTS) == 900


def test_simulate_v3_xml_with_a_rate_limit(web: Web) -> None:
    summary = simulate(web.url, count=200, batch_size=20, rate=1000, concurrency=2, fmt="xml", v3=True)
    assert summary.failed == 0
    assert summary.accepted == 200
    # 200 reports at 1000/s: the last batch is not due before 0.18 s (a floor, never a ceiling).
    assert summary.elapsed >= 0.18


def test_simulate_reports_failures_and_the_cli_exits_non_zero(web: Web, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_"))}
    env["REDIS_URL"] = redis_url
    dlrhook = str(Path(sys.executable).parent / "dlrhook")
    wrong = web.url.replace("/notify", "/nowhere")
    result = subprocess.run(
        [dlrhook, "simulate", "--url", wrong, "--count", "10", "--batch-size", "5", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert '"statuses": {"404": 2}' in result.stdout
    ok = subprocess.run(
        [dlrhook, "simulate", "--url", web.url, "--count", "10", "--format", "xml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "accepted 10, duplicates 0, quarantined 0" in ok.stdout


def test_simulate_authenticates_with_a_token_or_basic_credentials(start_web: Callable[..., Web]) -> None:
    web = start_web(DLRHOOK_TOKEN="t0ken-for-tests", DLRHOOK_BASIC_AUTH="infobip:pa55word")
    refused = simulate(web.url, count=10, batch_size=10)
    assert refused.statuses == {"401": 1}
    assert refused.failed == 1
    by_token = simulate(web.url, count=10, batch_size=10, token="t0ken-for-tests")
    by_basic = simulate(web.url, count=10, batch_size=10, basic="infobip:pa55word", fmt="xml")
    assert (by_token.accepted, by_basic.accepted) == (10, 10)
    assert (by_token.failed, by_basic.failed) == (0, 0)


@pytest.mark.parametrize(
    ("options", "channel"),
    [({"channel": "whatsapp"}, "WHATSAPP"), ({"channel": "viber", "messages_api": True}, "VIBER_BM")],
    ids=["whatsapp", "messages-api"],
)
def test_simulated_delivery_and_seen_reports_reach_the_handler_through_the_real_web(
    web: Web,
    conn: redis_lib.Redis,
    worker_env: Callable[..., object],
    run_jobs: Callable[[object], None],
    options: dict,
    channel: str,
) -> None:
    from tests.plugins.dlrhook_testplugin import calls

    summary = simulate(web.url, count=300, batch_size=50, seen=0.3, seed=3, **options)

    assert (summary.failed, summary.accepted, summary.quarantined) == (0, 300, 0)
    run_jobs(worker_env(DLRHOOK_HANDLERS="test-record"))
    received = calls(conn, "test-record")
    assert len(received) == 300
    assert {r["channel"] for r in received} == {repr(channel)}
    seen = [r for r in received if r["kind"] == "'seen'"]
    assert 30 < len(seen) < 120
    assert all(r["status.name"] == "None" and r["seen_at"] != "None" for r in seen)
    delivered = {r["message_id"] for r in received if r["status.name"] == "'DELIVERED_TO_HANDSET'"}
    assert {r["message_id"] for r in seen} <= delivered
