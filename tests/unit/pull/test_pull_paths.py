"""Several reports paths (DLRHOOK_PULL_PATHS) against a fake Infobip serving them all.

Each path is drained by a poller of its own, with its own lock, page store and backoff, and
the reports it pulls take the channel its path names.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib

from dlrhook import store
from dlrhook.errors import SettingsError
from dlrhook.pull.infobip import InfobipClient
from dlrhook.pull.poller import Poller, Pollers
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.fake_infobip import FakeInfobip, make_reports
from tests.support import sample, wait_until
from tests.support.pull import API_KEY, MESSAGES, PATHS, SMS, VIBER, channels_received, delivered


def messages_api_report(n: int) -> dict:
    report = json.loads(sample("messages-api-delivery.json"))["results"][0]
    return {**report, "messageId": f"mapi-{n}", "channel": "WHATSAPP"}


@pytest.fixture
def fake() -> Iterator[FakeInfobip]:
    with FakeInfobip(api_key=API_KEY, paths=[SMS, VIBER, MESSAGES]) as server:
        yield server
        server.assert_well_behaved()


class RunningAll:
    """``with RunningAll(pollers):`` runs ``Pollers.run()`` in a thread, stops and joins it on exit."""

    def __init__(self, pollers: Pollers) -> None:
        self.pollers = pollers
        self.thread = threading.Thread(target=pollers.run, daemon=True)

    def __enter__(self) -> RunningAll:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pollers.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the pollers did not stop"


def test_every_path_is_drained_and_its_reports_take_the_channel_the_path_names(
    conn: redis_lib.Redis, fake: FakeInfobip, paths_env: Callable[..., Settings]
) -> None:
    fake.add_reports(make_reports(30), path=SMS)
    fake.add_reports(make_reports(20, start=100), path=VIBER)
    fake.add_reports([messages_api_report(n) for n in range(5)], path=MESSAGES)
    settings = paths_env(DLRHOOK_PULL_PATHS=PATHS)

    with RunningAll(Pollers(settings, store.connect(settings))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 55, what="the reports of all three paths")

    received = channels_received(conn)
    assert len(received) == 55
    assert {received[r["messageId"]] for r in make_reports(30)} == {"SMS"}
    assert {received[r["messageId"]] for r in make_reports(20, start=100)} == {"VIBER"}
    assert {received[f"mapi-{n}"] for n in range(5)} == {"WHATSAPP"}  # the body names its channel
    assert {r.path for r in fake.log()} == {SMS, VIBER, MESSAGES}
    assert fake.remaining == 0


def test_each_path_has_a_lock_and_a_page_store_of_its_own_and_the_primary_keeps_the_old_names(
    conn: redis_lib.Redis, paths_env: Callable[..., Settings]
) -> None:
    settings = paths_env(DLRHOOK_PULL_PATHS=PATHS)
    account = InfobipClient.from_settings(settings).account_id

    pollers = Pollers(settings, store.connect(settings)).pollers

    assert [p.path for p in pollers] == [SMS, VIBER, MESSAGES]
    assert [p.channel for p in pollers] == ["SMS", "VIBER", None]
    assert [p.pages for p in pollers] == [
        keys.PULL_PAGES,
        f"{keys.PULL_PAGES}:{VIBER}",
        f"{keys.PULL_PAGES}:{MESSAGES}",
    ]
    assert [p.lock.name for p in pollers if p.lock] == [
        keys.PULL_LOCK_PREFIX + account,
        f"{keys.PULL_LOCK_PREFIX}{account}:{VIBER}",
        f"{keys.PULL_LOCK_PREFIX}{account}:{MESSAGES}",
    ]


def test_a_page_left_in_a_paths_store_is_ingested_with_that_paths_channel(
    conn: redis_lib.Redis, fake: FakeInfobip, paths_env: Callable[..., Settings]
) -> None:
    settings = paths_env(DLRHOOK_PULL_PATHS=PATHS)
    viber = Poller(settings, store.connect(settings), path=VIBER)
    left = make_reports(3, start=500)
    conn.hset(viber.pages, "p-0000000000001-dead", json.dumps({"results": left}))

    totals = viber.pull()

    assert (totals.accepted, totals.pages) == (3, 2)  # the left page, then an empty one fetched
    assert conn.hlen(viber.pages) == 0
    assert set(channels_received(conn).values()) == {"VIBER"}


def test_a_path_infobip_refuses_holds_back_no_other_path(
    conn: redis_lib.Redis, fake: FakeInfobip, paths_env: Callable[..., Settings]
) -> None:
    fake.add_reports(make_reports(10, start=200), path=VIBER)
    settings = paths_env(DLRHOOK_PULL_PATHS=f"/zalo/1/reports,{VIBER}")  # the fake does not serve Zalo: 404

    with RunningAll(Pollers(settings, store.connect(settings))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 10, what="Viber's reports")
        time.sleep(0.3)

    assert [r.status for r in fake.log() if r.path == "/zalo/1/reports"][:1] == [404]
    assert set(channels_received(conn).values()) == {"VIBER"}


def test_two_pollers_of_one_path_never_overlap_while_other_paths_go_on(
    conn: redis_lib.Redis, fake: FakeInfobip, paths_env: Callable[..., Settings]
) -> None:
    fake.delay = 0.02
    fake.add_reports(make_reports(600), path=SMS)
    fake.add_reports(make_reports(600, start=1000), path=VIBER)
    settings = paths_env(DLRHOOK_PULL_PATHS=f"{SMS},{VIBER}", DLRHOOK_PULL_LIMIT="50", DLRHOOK_PULL_INTERVAL="0.05")

    with RunningAll(Pollers(settings, store.connect(settings))), RunningAll(Pollers(settings, store.connect(settings))):
        wait_until(lambda: conn.xlen(keys.REPORTS) >= 1200, what="every report of both paths")

    assert fake.max_in_flight == 1  # per path; the fixture checks the overlaps too
    assert len(delivered(conn)) == 1200


def test_pull_paths_default_to_pull_path_and_a_bad_one_is_named(env: Callable[..., Settings]) -> None:
    assert env(DLRHOOK_PULL_PATH="/sms/3/reports").report_paths == ("/sms/3/reports",)
    assert env(DLRHOOK_PULL_PATHS=f" {SMS} ,{VIBER},{SMS}").report_paths == (SMS, VIBER)
    with pytest.raises(SettingsError, match="DLRHOOK_PULL_PATHS"):
        env(DLRHOOK_PULL_PATHS="/sms/3/reports,viber/2/reports")
