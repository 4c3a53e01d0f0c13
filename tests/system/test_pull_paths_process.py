"""``dlrhook pull`` as a process with several reports paths (DLRHOOK_PULL_PATHS)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib

from dlrhook.settings import Settings
from tests.fake_infobip import FakeInfobip, make_reports
from tests.support.pull import API_KEY, MESSAGES, PATHS, SMS, VIBER, channels_received, dlrhook


@pytest.fixture
def fake() -> Iterator[FakeInfobip]:
    with FakeInfobip(api_key=API_KEY, paths=[SMS, VIBER, MESSAGES]) as server:
        yield server
        server.assert_well_behaved()


def test_dlrhook_pull_path_drains_only_that_path(
    conn: redis_lib.Redis, fake: FakeInfobip, paths_env: Callable[..., Settings]
) -> None:
    fake.add_reports(make_reports(4), path=SMS)
    fake.add_reports(make_reports(7, start=300), path=VIBER)
    paths_env(DLRHOOK_PULL_PATHS=PATHS)

    done = dlrhook("pull", "--path", VIBER)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["accepted"] == 7
    assert {r.path for r in fake.log()} == {VIBER}
    assert set(channels_received(conn).values()) == {"VIBER"}
    assert fake.remaining == 4


def test_dlrhook_pull_without_a_path_drains_every_configured_path(
    conn: redis_lib.Redis, fake: FakeInfobip, paths_env: Callable[..., Settings]
) -> None:
    fake.add_reports(make_reports(4), path=SMS)
    fake.add_reports(make_reports(7, start=300), path=VIBER)
    paths_env(DLRHOOK_PULL_PATHS=f"{SMS},{VIBER}")

    done = dlrhook("pull")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["accepted"] == 11
    assert fake.remaining == 0
