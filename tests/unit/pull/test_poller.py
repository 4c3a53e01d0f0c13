"""The pull-mode poller against a fake Infobip (a real HTTP server) and a real Redis.

"A report reaches a handler" means the recording test plugin was called with it, in jobs run in
this process: :func:`tests.support.pull.delivered` is the one place that reads it.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from flask.testing import FlaskClient

from dlrhook.dev.embedded import free_port
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.fake_infobip import Answer, FakeInfobip, make_reports
from tests.support import sample, wait_until
from tests.support.pull import Running, delivered, message_ids, new_poller

# -- helpers -------------------------------------------------------------------------------------


def gaps(log: list[Any]) -> list[float]:
    """Seconds between the end of each request and the start of the next."""
    return [b.start - a.end for a, b in itertools.pairwise(log)]


# -- draining ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "pages"),
    [(2500, [1000, 1000, 500]), (3500, [1000, 1000, 1000, 500])],
    ids=["2500", "3500"],
)
def test_every_report_arrives_in_full_pages_followed_at_once_and_one_short_page(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings], count: int, pages: list[int]
) -> None:
    reports = make_reports(count)
    fake.add_reports(reports)
    with Running(new_poller(pull_env(DLRHOOK_PULL_LIMIT="1000"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= count, what=f"{count} reports")
        time.sleep(0.2)  # room for a wrong extra request to show up in the log

    log = fake.log()
    assert [r.limit for r in log] == [1000] * len(pages)
    assert [r.returned for r in log] == pages
    assert all(gap < 5 for gap in gaps(log)), "a full page is followed at once, not after the 60 s interval"
    assert sorted(delivered(conn)) == sorted(message_ids(reports))
    assert conn.hlen(keys.PULL_PAGES) == 0


def test_429_and_500_are_backed_off_exponentially_and_every_report_still_arrives(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    reports = make_reports(1500)
    fake.add_reports(reports)
    fake.inject(Answer(status=429), Answer(status=500), Answer(status=503), Answer(status=429, retry_after="1"))
    with Running(new_poller(pull_env(DLRHOOK_PULL_BACKOFF="0.1"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 1500, what="1500 reports")

    log = fake.log()
    assert [r.status for r in log] == [429, 500, 503, 429, 200, 200]
    # Equal jitter: the n-th wait is at least half of 0.1 * 2**n; Retry-After: 1 is honoured.
    waits = gaps(log)
    assert waits[0] >= 0.05
    assert waits[1] >= 0.1
    assert waits[2] >= 0.2
    assert waits[3] >= 1.0
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


@pytest.mark.parametrize(
    "garbage",
    [b"<html><body>502 Bad Gateway</body></html>", b'{"requestError": {}}', b"\xff\xfe not utf-8"],
    ids=["html", "no-results", "not-utf8"],
)
def test_a_garbage_page_is_kept_visibly_in_the_rejected_hash_and_polling_goes_on(
    conn: redis_lib.Redis,
    fake: FakeInfobip,
    pull_env: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    garbage: bytes,
) -> None:
    caplog.set_level(logging.INFO, logger="dlrhook.poller")
    reports = make_reports(10)
    fake.add_reports(reports)
    fake.inject(Answer(body=garbage))
    with Running(new_poller(pull_env(DLRHOOK_PULL_INTERVAL="0.1"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 10, what="the 10 reports after the garbage page")

    rejected = {k.decode(): json.loads(v) for k, v in conn.hgetall(keys.PULL_REJECTED).items()}  # type: ignore[union-attr]
    assert len(rejected) == 1
    (entry,) = rejected.values()
    assert entry["error"]
    kept = entry["body"].encode() if "body" in entry else __import__("base64").b64decode(entry["body_b64"])
    assert kept == garbage
    assert conn.hlen(keys.PULL_PAGES) == 0
    assert any(r.levelno == logging.ERROR and keys.PULL_REJECTED in r.getMessage() for r in caplog.records)
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


HOSTILE_PAGE = (
    b'{"results":[{"messageId":"hostile","status":{"groupId":1e1000000,"groupName":"DELIVERED"}},'
    b'{"messageId":"nan","price":{"pricePerMessage":NaN},"status":{"groupId":3,"groupName":"DELIVERED"}}]}'
)


def test_a_page_with_numbers_no_report_could_hold_is_rejected_at_once_and_polling_goes_on(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    reports = make_reports(10)
    fake.add_reports(reports)
    fake.inject(Answer(body=HOSTILE_PAGE))
    with Running(new_poller(pull_env(DLRHOOK_PULL_INTERVAL="0.1"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 10, timeout=10, what="the 10 reports after the hostile page")

    (entry,) = (json.loads(v) for v in conn.hvals(keys.PULL_REJECTED))
    assert "out of range: 1e1000000" in entry["error"]
    assert entry["body"].encode() == HOSTILE_PAGE
    assert conn.hlen(keys.PULL_PAGES) == 0
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


@pytest.mark.parametrize(
    ("page", "error"),
    [
        (b'{"results": [{"messageId": "deep", "extra": ' + b"[" * 975 + b"]" * 975 + b"}]}", "nests deeper than 32"),
        (b'{"results": [{"messageId": "\\ud800"}]}', "results[0].messageId holds \\ud800, a lone surrogate"),
    ],
    ids=["975 levels deep", "a lone surrogate"],
)
def test_a_page_with_a_report_nested_too_deep_or_holding_no_text_is_rejected_and_polling_goes_on(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings], page: bytes, error: str
) -> None:
    """Such a report was accepted, and then jammed the worker that rebuilt it."""
    reports = make_reports(10)
    fake.add_reports(reports)
    fake.inject(Answer(body=page))
    with Running(new_poller(pull_env(DLRHOOK_PULL_INTERVAL="0.1"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 10, timeout=10, what="the 10 reports after the hostile page")

    (entry,) = (json.loads(v) for v in conn.hvals(keys.PULL_REJECTED))
    assert error in entry["error"]
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


def test_reports_with_out_of_range_numbers_in_a_pulled_page_are_quarantined_and_the_rest_delivered(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    reports = make_reports(5)
    bad = [
        {**reports[0], "messageId": "huge-group", "status": {**reports[0]["status"], "groupId": 1e300}},
        {**reports[1], "messageId": "huge-price", "price": {"pricePerMessage": "-1e400", "currency": "EUR"}},
    ]
    fake.inject(Answer(body=json.dumps({"results": [*reports, *bad]}).encode()))
    with Running(new_poller(pull_env(DLRHOOK_PULL_INTERVAL="0.1"))):
        wait_until(lambda: conn.hlen(keys.QUARANTINE) >= 2, timeout=10, what="two quarantined reports")

    quarantined = [json.loads(v) for v in conn.hvals(keys.QUARANTINE)]
    assert sorted(q["raw"]["messageId"] for q in quarantined) == ["huge-group", "huge-price"]
    assert all(q["source"] == "pull" for q in quarantined)
    assert conn.hlen(keys.PULL_REJECTED) == 0 and conn.hlen(keys.PULL_PAGES) == 0
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


# -- no loss -------------------------------------------------------------------------------------


def test_a_poller_does_not_fetch_while_redis_is_down(
    fake: FakeInfobip, pull_env: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dlrhook.poller")
    fake.add_reports(make_reports(5))
    settings = pull_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", DLRHOOK_PULL_BACKOFF="0.02")
    with Running(new_poller(settings)):
        wait_until(lambda: any("Redis is unavailable" in r.getMessage() for r in caplog.records), what="the log")
        time.sleep(0.5)
    assert fake.requests == []
    assert fake.remaining == 5
    assert sum("Redis is unavailable" in r.getMessage() for r in caplog.records) == 1


def test_a_poller_does_not_fetch_while_redis_is_above_the_high_water_mark_and_resumes_by_itself(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    """A fetched report is never returned again: with no room to keep it, it is not fetched."""
    fake.add_reports(make_reports(5))
    settings = pull_env(DLRHOOK_PULL_BACKOFF="0.02", DLRHOOK_PULL_BACKOFF_MAX="0.2")
    conn.config_set("maxmemory-policy", "noeviction")
    conn.config_set("maxmemory", str(int(int(conn.info("memory")["used_memory"]) / 0.95)))  # 95%: over the mark
    try:
        with Running(new_poller(settings)):
            time.sleep(1.0)
            assert fake.requests == []
            conn.config_set("maxmemory", 0)
            wait_until(lambda: conn.xlen(keys.REPORTS) >= 5, what="the reports, once Redis has room")
    finally:
        conn.config_set("maxmemory", 0)
    assert fake.remaining == 0


def test_an_unexpected_error_is_logged_with_its_traceback_and_the_poller_carries_on(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dlrhook.poller")
    reports = make_reports(3)
    fake.add_reports(reports)
    poller = new_poller(pull_env(DLRHOOK_PULL_INTERVAL="0.1"))
    assert poller.client is not None
    real_fetch, calls = poller.client.fetch, []

    def fetch_with_a_bug_the_first_time(limit: int, **filters: Any) -> bytes:
        calls.append(limit)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real_fetch(limit, **filters)

    poller.client.fetch = fetch_with_a_bug_the_first_time  # type: ignore[method-assign]
    with Running(poller):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 3, what="the reports after the bug")
    assert any(r.exc_info and "unexpected error" in r.getMessage() for r in caplog.records)
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


# -- push and pull -------------------------------------------------------------------------------


def test_reports_pushed_then_pulled_are_stored_once(
    conn: redis_lib.Redis, client: FlaskClient, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    body = sample("v1-two-delivered.json")
    pushed = client.post("/notify", data=body, content_type="application/json")
    assert pushed.status_code == 200 and pushed.json == {"accepted": 2, "duplicates": 0, "quarantined": 0}

    fake.add_reports(json.loads(body)["results"])
    totals = new_poller(pull_env()).pull()

    assert (totals.accepted, totals.duplicates) == (0, 2)
    assert sorted(delivered(conn)) == sorted(message_ids(json.loads(body)["results"]))


def test_reports_pulled_then_pushed_are_stored_once(
    conn: redis_lib.Redis, client: FlaskClient, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    body = sample("v1-two-delivered.json")
    fake.add_reports(json.loads(body)["results"])
    totals = new_poller(pull_env()).pull()
    assert (totals.accepted, totals.duplicates) == (2, 0)

    pushed = client.post("/notify", data=body, content_type="application/json")

    assert pushed.json == {"accepted": 0, "duplicates": 2, "quarantined": 0}
    assert sorted(delivered(conn)) == sorted(message_ids(json.loads(body)["results"]))


def test_in_fallback_mode_the_poller_waits_until_pushes_have_been_quiet(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    fake.add_reports(make_reports(3))
    pushed_at = time.monotonic()
    conn.set(keys.LAST_PUSH, f"{time.time():.3f}")
    with Running(new_poller(pull_env(DLRHOOK_PULL_MODE="fallback", DLRHOOK_PULL_QUIET="1"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 3, what="the pull after the quiet period")
    assert fake.log()[0].start - pushed_at >= 0.9


@pytest.mark.parametrize(
    ("variables", "said"),
    [({"DLRHOOK_PULL_MODE": "off"}, "DLRHOOK_PULL_MODE is off"), ({"INFOBIP_BASE_URL": None}, "INFOBIP_BASE_URL")],
    ids=["mode-off", "no-base-url"],
)
def test_an_idle_poller_says_why_once_and_makes_no_request(
    fake: FakeInfobip,
    pull_env: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, str | None],
    said: str,
) -> None:
    caplog.set_level(logging.INFO, logger="dlrhook.poller")
    fake.add_reports(make_reports(3))
    with Running(new_poller(pull_env(**variables))):
        time.sleep(0.3)
    assert fake.requests == []
    assert sum(said in r.getMessage() for r in caplog.records) == 1


# -- good API citizen ----------------------------------------------------------------------------


def test_two_pollers_on_one_account_never_have_two_requests_in_flight(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    fake.delay = 0.03
    reports = make_reports(4000)
    fake.add_reports(reports)
    settings = pull_env(DLRHOOK_PULL_LIMIT="250", DLRHOOK_PULL_INTERVAL="0.05")
    first, second = Running(new_poller(settings)), Running(new_poller(settings))
    with first, second:
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 1000, what="a quarter of the reports")
        first.stop()  # the lock passes to the other poller, which finishes the drain
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 4000 and fake.requests[-1].returned == 0, what="all reports")

    assert fake.max_in_flight == 1
    assert fake.overlaps() == []
    assert sorted(delivered(conn)) == sorted(message_ids(reports))


def test_the_lock_is_renewed_while_its_holder_waits_so_a_standby_never_polls_in_between(
    fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    settings = pull_env(DLRHOOK_PULL_LOCK_TTL="1", DLRHOOK_PULL_INTERVAL="2.5")
    with Running(new_poller(settings)), Running(new_poller(settings)):
        wait_until(lambda: len(fake.log()) >= 2, what="the second poll, one interval later")

    first, second = fake.log()[:2]
    assert second.start - first.end >= 2.4, "nobody polled during the holder's wait, three lock TTLs long"


@pytest.mark.parametrize(
    ("credential", "setting", "secret"),
    [
        ({"INFOBIP_API_KEY": "wrong-key-9876"}, "INFOBIP_API_KEY", "wrong-key-9876"),
        (
            {"INFOBIP_API_KEY": None, "INFOBIP_USERNAME": "someone", "INFOBIP_PASSWORD": "wrong-pass-5432"},
            "INFOBIP_USERNAME/INFOBIP_PASSWORD",
            "wrong-pass-5432",
        ),
    ],
    ids=["api-key", "basic"],
)
def test_wrong_credentials_log_one_clear_error_and_back_off_without_crashing(
    fake: FakeInfobip,
    pull_env: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    credential: dict[str, str | None],
    setting: str,
    secret: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dlrhook.poller")
    fake.add_reports(make_reports(3))
    started = time.monotonic()
    with Running(new_poller(pull_env(DLRHOOK_PULL_AUTH_BACKOFF="0.2", **credential))):
        wait_until(lambda: len(fake.log()) >= 4, what="four refused requests")
    elapsed = time.monotonic() - started

    log = fake.log()
    assert all(r.status == 401 for r in log)
    # Waits of at least 0.1, 0.2, 0.4, ... s: a bounded rate, doubling, never a hammering loop.
    assert [w >= 0.1 * 2**i for i, w in enumerate(gaps(log))] == [True] * (len(log) - 1)
    assert len(log) <= 2 + elapsed / 0.1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert setting in errors[0].getMessage()
    assert secret not in caplog.text and "Authorization" not in caplog.text
    assert fake.remaining == 3


def test_a_page_that_ingest_fails_on_is_set_aside_and_the_next_pages_are_polled(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in ingest (anything but Redis) on one page must not hold back every page after it.
    from dlrhook.pull import pages

    real_ingest = pages.ingest
    failures = iter([ValueError("a bug that only this page triggers")])

    def ingest_once_broken(*args: Any, **kwargs: Any) -> Any:
        for exc in failures:
            raise exc
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(pages, "ingest", ingest_once_broken)
    first, second = make_reports(3), make_reports(5)[3:]
    fake.inject(Answer(body=json.dumps({"results": first}).encode()))
    fake.add_reports(second)
    with Running(new_poller(pull_env(DLRHOOK_PULL_INTERVAL="0.1"))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 2, timeout=10, what="the reports of the next page")

    (entry,) = (json.loads(v) for v in conn.hvals(keys.PULL_REJECTED))
    assert "ingest failed: ValueError" in entry["error"]
    assert json.loads(entry["body"])["results"] == first  # kept whole, for an operator
    assert conn.hlen(keys.PULL_PAGES) == 0
    assert sorted(delivered(conn)) == sorted(message_ids(second))


def test_only_a_round_without_an_error_records_its_time_for_the_pull_alert(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    fake.inject(Answer(status=503), Answer(status=503), Answer(status=503))
    settings = pull_env(DLRHOOK_PULL_BACKOFF="0.3")
    poller = new_poller(settings)
    with Running(poller):
        wait_until(lambda: len(fake.log()) >= 2, what="two refused requests")
        assert conn.hget(keys.PULL_OK, poller.path) is None  # dlrhook_pull_last_ok_timestamp_seconds stays old
        wait_until(lambda: conn.hget(keys.PULL_OK, poller.path) is not None, what="a good round")
    assert [r.status for r in fake.log()][:3] == [503, 503, 503]
    assert abs(float(conn.hget(keys.PULL_OK, poller.path) or 0) - time.time()) < 30
