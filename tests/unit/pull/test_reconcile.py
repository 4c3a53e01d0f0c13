"""dlrhook reconcile: messages stuck intermediate are looked up in Infobip's message logs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
import redis as redis_lib
from click.testing import CliRunner

from dlrhook import status
from dlrhook.cli import main
from dlrhook.pull.infobip import InfobipClient
from dlrhook.pull.poller import Poller
from dlrhook.pull.reconcile import LOGS_KEPT, reconcile
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.fake_infobip import LOGS_PATH, Answer, FakeInfobip, make_log_entry
from tests.statuses import raw_report
from tests.support import wait_until
from tests.support.pull import logs_requests, pending


def test_a_log_entry_keeps_its_unknown_fields_but_not_the_message_text(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    settings = account()
    conn.zadd(keys.STATUS_INTERMEDIATE, {"m-1": time.time() * 1000 - 10_000})
    fake.add_logs([{**make_log_entry(raw_report("m-1", "DELIVERED_TO_HANDSET", 8)), "text": "v1's name for it"}])

    reconcile(conn, settings, InfobipClient.from_settings(settings), 0)

    items = [json.loads(fields[b"w"]) for _, fields in conn.xrange(keys.REPORTS)]
    logged = [i for i in items if i["source"] == "logs"]
    assert len(logged) == 1
    assert "content" not in logged[0]["raw"] and "text" not in logged[0]["raw"]
    assert logged[0]["raw"]["destination"] == "41793026727"
    assert logged[0]["report"]["to"] == "41793026727"
    assert logged[0]["report"]["message_count"] == 1


def test_many_stuck_messages_are_asked_about_in_requests_of_at_most_100_ids(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    settings = account()
    now = time.time() * 1000
    conn.zadd(keys.STATUS_INTERMEDIATE, {f"m-{n}": now - 60_000 for n in range(250)})

    totals = reconcile(conn, settings, InfobipClient.from_settings(settings), 30)

    sizes = [len(r.query["messageId"]) for r in logs_requests(fake)]
    assert sizes == [100, 100, 50]
    assert all(r.limit == len(r.query["messageId"]) for r in logs_requests(fake))
    assert (totals.asked, totals.requests) == (250, 3)
    fake.assert_well_behaved()


def test_only_messages_stuck_longer_than_asked_and_within_infobips_48_hours_are_asked_about(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    settings = account()
    now = time.time() * 1000
    conn.zadd(
        keys.STATUS_INTERMEDIATE,
        {"fresh": now - 10_000, "stuck": now - 7200_000, "gone-from-logs": now - (LOGS_KEPT + 60) * 1000},
    )

    reconcile(conn, settings, InfobipClient.from_settings(settings), 3600)

    (request,) = logs_requests(fake)
    assert request.query["messageId"] == ["stuck"]


def test_reconcile_waits_out_a_429_with_retry_after_and_retries(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    settings = account()
    conn.zadd(keys.STATUS_INTERMEDIATE, {"m-1": time.time() * 1000 - 60_000})
    fake.add_logs([make_log_entry(raw_report("m-1", "DELIVERED_TO_HANDSET", 8))])
    fake.inject(Answer(status=429, retry_after="1"), Answer(status=503))

    totals = reconcile(conn, settings, InfobipClient.from_settings(settings), 0)

    first, second, third = logs_requests(fake)
    assert (first.status, second.status, third.status) == (429, 503, 200)
    assert second.start - first.end >= 0.95  # Retry-After honoured
    assert (totals.requests, totals.accepted) == (3, 1)


def test_reconcile_gives_up_after_repeated_throttling_and_says_so(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    account()
    conn.zadd(keys.STATUS_INTERMEDIATE, {"m-1": time.time() * 1000 - 60_000})
    fake.inject(*[Answer(status=500)] * 5)

    result = CliRunner().invoke(main, ["reconcile", "--older-than", "0"])

    assert result.exit_code == 1
    assert "reconcile stopped" in result.output and "500" in result.output


def test_reconcile_names_the_credential_when_infobip_refuses_it(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    account()
    monkeypatch.setenv("INFOBIP_API_KEY", "wrong")
    conn.zadd(keys.STATUS_INTERMEDIATE, {"m-1": time.time() * 1000 - 60_000})

    result = CliRunner().invoke(main, ["reconcile", "--older-than", "0"])

    assert result.exit_code == 1
    assert "INFOBIP_API_KEY" in result.output


def test_reconcile_without_an_account_exits_2(env: Callable[..., Settings]) -> None:
    env()

    result = CliRunner().invoke(main, ["reconcile"])

    assert result.exit_code == 2
    assert "INFOBIP_BASE_URL" in result.output


def test_the_poller_reconciles_periodically_when_reconcile_after_is_set_even_with_pulling_off(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings], run_jobs: Callable[[Settings], None]
) -> None:
    settings = account(DLRHOOK_RECONCILE_AFTER="1", DLRHOOK_PULL_MODE="off")
    pending(conn, settings, run_jobs, "m-1")
    fake.add_logs([make_log_entry(raw_report("m-1", "DELIVERED_TO_HANDSET", 8))])
    time.sleep(1.1)
    poller = Poller(settings, redis_lib.Redis.from_url(settings.redis_url))
    thread = threading.Thread(target=poller.run)
    thread.start()
    try:
        wait_until(lambda: bool(logs_requests(fake)), timeout=10, what="a logs request")
    finally:
        poller.stop()
        thread.join(timeout=10)
    run_jobs(settings)

    record = status.message(conn, "m-1")
    assert record is not None and record["final"] is True
    assert not any(r.path != LOGS_PATH for r in fake.log())  # pulling stayed off


def test_without_reconcile_after_the_poller_never_asks_the_logs(
    conn: redis_lib.Redis, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    settings = account(DLRHOOK_PULL_MODE="always", DLRHOOK_PULL_INTERVAL="0.05")
    conn.zadd(keys.STATUS_INTERMEDIATE, {"m-1": 0.0})
    poller = Poller(settings, redis_lib.Redis.from_url(settings.redis_url))
    thread = threading.Thread(target=poller.run)
    thread.start()
    try:
        wait_until(lambda: len(fake.log()) >= 2, timeout=10, what="two pulls")
    finally:
        poller.stop()
        thread.join(timeout=10)

    assert logs_requests(fake) == []
