"""DLRHOOK_DURABILITY against real servers: the level auto picks, the wait after the store, the
503 when the level is not reached (and the retry then counted as duplicates), the poller's
page store, and when the server's state is read again. The fault tests (a failover, a crash)
are in tests/system/test_durability_*.py."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from dlrhook.errors import DurabilityUnsupported, SettingsError, StoreUnavailable
from dlrhook.pull.pages import PageStore
from dlrhook.settings import Settings
from dlrhook.store import connect, durability, keys
from tests.support import sample
from tests.support.proxy import Proxy
from tests.support.servers import Server


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[Server]:
    """A Valkey with AOF (everysec), no replica yet."""
    server = Server("valkey", tmp_path / "primary").start()
    yield server
    server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Servers a test starts itself (stopped after it)."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def plan(env: Callable[..., Settings], url: str, **values: str) -> durability.Plan:
    settings = env(REDIS_URL=url, **values)
    found = durability.check_start(connect(settings), settings)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DLRHOOK_DURABILITY", "fsync"),
        ("DLRHOOK_DURABILITY_REPLICAS", "0"),
        ("DLRHOOK_DURABILITY_TIMEOUT", "0"),
        ("DLRHOOK_DURABILITY_TIMEOUT", "30"),
    ],
)
def test_a_bad_durability_setting_stops_the_start_naming_it(
    env: Callable[..., Settings], name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        env(**{name: value})


def test_auto_picks_disk_on_a_server_with_aof_and_waitaof(env: Callable[..., Settings], primary: Server) -> None:
    found = plan(env, primary.url)
    assert found.level == "disk"
    assert found.commands == (("WAITAOF", 1, 0, 1000),)


def test_auto_picks_replica_when_a_replica_is_online(
    env: Callable[..., Settings], primary: Server, servers: list[Server], tmp_path: Path
) -> None:
    servers.append(Server("valkey", tmp_path / "replica").start(replica_of=primary))
    found = plan(env, primary.url, DLRHOOK_DURABILITY_TIMEOUT="0.5")
    assert found.level == "replica"
    assert found.commands == (("WAIT", 1, 500), ("WAITAOF", 1, 0, 500))  # and the primary's own disk


def test_auto_without_aof_acknowledges_in_memory_and_says_what_to_change(
    env: Callable[..., Settings], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The session's server runs without AOF.
    with caplog.at_level(logging.WARNING, "dlrhook.durability"):
        found = plan(env, redis_url)
    assert found.level == "memory" and not found.commands
    assert "appendonly yes" in caplog.text and "DLRHOOK_DURABILITY" in caplog.text


def test_readyz_names_the_level_in_force(make_app: Callable[..., Flask], primary: Server) -> None:
    client = make_app(REDIS_URL=primary.url, DLRHOOK_API_TOKEN="ops-token").test_client()
    body = client.get("/readyz", headers={"Authorization": "Bearer ops-token"}).get_json()
    assert body["durability"] == "disk"


def test_disk_on_a_server_with_appendonly_off_stops_the_start(env: Callable[..., Settings], redis_url: str) -> None:
    with pytest.raises(DurabilityUnsupported, match="appendonly"):
        plan(env, redis_url, DLRHOOK_DURABILITY="disk")


def test_disk_on_redis_7_0_stops_the_start_naming_the_level_and_version(
    env: Callable[..., Settings], servers: list[Server], tmp_path: Path
) -> None:
    server = Server("redis", tmp_path / "redis7")
    servers.append(server.start())
    with pytest.raises(DurabilityUnsupported, match=r"DLRHOOK_DURABILITY=disk .* redis 7\.0"):
        plan(env, server.url, DLRHOOK_DURABILITY="disk")


def test_a_push_not_on_a_replica_in_time_is_a_503_and_its_retry_counts_as_duplicates(
    make_app: Callable[..., Flask], primary: Server, servers: list[Server], tmp_path: Path
) -> None:
    body = json.loads(sample("v1-two-delivered.json"))
    values = {"REDIS_URL": primary.url, "DLRHOOK_DURABILITY": "replica", "DLRHOOK_DURABILITY_TIMEOUT": "0.1"}

    answer = make_app(**values).test_client().post("/notify", json=body)

    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "0 of 1 replicas" in answer.get_json()["detail"]
    assert primary.client().xlen(keys.REPORTS) == 2  # stored, but not acknowledged
    # A replica comes up; Infobip's retry, through another process (a new client), is all
    # duplicates, and is answered 200 only once the replica holds the batch.
    servers.append(Server("valkey", tmp_path / "replica").start(replica_of=primary))
    retry = make_app(**{**values, "DLRHOOK_DURABILITY_TIMEOUT": "5"}).test_client().post("/notify", json=body)
    assert retry.status_code == 200
    assert retry.get_json() == {"accepted": 0, "duplicates": 2, "quarantined": 0}
    assert servers[0].client().xlen(keys.REPORTS) == 2


def test_the_retry_of_a_batch_is_answered_200_only_once_a_replica_holds_it(
    make_app: Callable[..., Flask], primary: Server, servers: list[Server], tmp_path: Path
) -> None:
    replica = Server("valkey", tmp_path / "replica").start(replica_of=primary)
    servers.append(replica)
    body = json.loads(sample("v1-two-delivered.json"))
    values = {"REDIS_URL": primary.url, "DLRHOOK_DURABILITY": "replica", "DLRHOOK_DURABILITY_TIMEOUT": "0.1"}
    asleep = threading.Thread(target=lambda: replica.client().execute_command("DEBUG", "SLEEP", "1.5"))
    asleep.start()  # the replica stops reading what the primary sends it
    time.sleep(0.1)

    first = make_app(**values).test_client().post("/notify", json=body)
    # Each retry through a new client: its connection wrote nothing before. All duplicates, and
    # still not acknowledged while the replica lacks the first attempt's writes.
    second = make_app(**values).test_client().post("/notify", json=body)
    asleep.join()
    third = make_app(**{**values, "DLRHOOK_DURABILITY_TIMEOUT": "5"}).test_client().post("/notify", json=body)

    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert third.get_json() == {"accepted": 0, "duplicates": 2, "quarantined": 0}
    assert replica.client().xlen(keys.REPORTS) == 2


def test_a_page_is_kept_in_memory_until_the_level_is_reached(
    env: Callable[..., Settings], primary: Server, servers: list[Server], tmp_path: Path
) -> None:
    settings = env(REDIS_URL=primary.url, DLRHOOK_DURABILITY="replica", DLRHOOK_DURABILITY_TIMEOUT="0.05")
    pages = PageStore(
        connect(settings),
        settings,
        path="/sms/1/reports",
        key=keys.PULL_PAGES,
        channel="SMS",
        stopping=threading.Event(),
    )
    stored: list[str] = []
    thread = threading.Thread(target=lambda: stored.append(pages.store(sample("v1-two-delivered.json"))))
    thread.start()
    time.sleep(0.5)
    assert not stored  # written, but no replica has it: the poller does not go on to ingest it
    servers.append(Server("valkey", tmp_path / "replica").start(replica_of=primary))
    thread.join(15)
    assert stored and servers[0].client().hexists(keys.PULL_PAGES, stored[0])


def test_a_stopping_poller_gives_up_on_a_page_no_replica_took(
    env: Callable[..., Settings], primary: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dlrhook.pull.pages.STOP_GRACE", 0.2)
    settings = env(REDIS_URL=primary.url, DLRHOOK_DURABILITY="replica", DLRHOOK_DURABILITY_TIMEOUT="0.05")
    stopping = threading.Event()
    stopping.set()
    pages = PageStore(
        connect(settings), settings, path="/sms/1/reports", key=keys.PULL_PAGES, channel="SMS", stopping=stopping
    )
    with pytest.raises(StoreUnavailable):
        pages.store(b'{"results": []}')


def test_auto_keeps_waiting_for_a_replica_that_left_the_same_server(
    env: Callable[..., Settings],
    primary: Server,
    servers: list[Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replica = Server("valkey", tmp_path / "replica").start(replica_of=primary)
    servers.append(replica)
    settings = env(REDIS_URL=primary.url, DLRHOOK_DURABILITY_TIMEOUT="0.05")
    conn = connect(settings)
    assert durability.of(conn, settings).plan(conn).level == "replica"

    replica.client().execute_command("REPLICAOF", "NO", "ONE")  # promoted: a failover under way
    monkeypatch.setattr("dlrhook.store.durability.defaults.DURABILITY_RECHECK", 0.0)

    assert durability.of(conn, settings).plan(conn).level == "replica"
    _, shortfall = durability.execute(conn, settings, lambda pipe: pipe.set("x", "1"))
    assert shortfall is not None and "0 of 1 replicas" in shortfall


def test_a_new_server_behind_the_same_address_is_planned_afresh(
    env: Callable[..., Settings], primary: Server, servers: list[Server], tmp_path: Path
) -> None:
    replica = Server("valkey", tmp_path / "replica").start(replica_of=primary)
    servers.append(replica)
    settings = env(REDIS_URL=primary.url)
    conn = connect(settings)
    assert durability.of(conn, settings).plan(conn).level == "replica"

    primary.kill()
    replica.stop()
    primary.start()  # the same port, another server (run_id), no replica: redis-py reconnects by itself

    assert durability.execute(conn, settings, lambda pipe: pipe.set("x", "1")) == ([True], None)
    assert durability.of(conn, settings).plan(conn).level == "disk"


def test_a_server_that_forgot_the_store_script_gets_it_again(env: Callable[..., Settings], primary: Server) -> None:
    from dlrhook.ingest import ingest

    settings = env(REDIS_URL=primary.url)
    conn = connect(settings)
    report = json.loads(sample("v1-one-delivered.json"))["results"][0]
    assert ingest(conn, [report], source="push", settings=settings).accepted == 1
    primary.client().script_flush()  # as a restarted or newly promoted server has none

    again = ingest(conn, [{**report, "messageId": "after-flush"}], source="push", settings=settings)

    assert again.accepted == 1
    assert primary.client().xlen(keys.REPORTS) == 2


def test_a_server_without_aof_behind_the_same_address_gets_503s_under_disk(
    make_app: Callable[..., Flask],
    primary: Server,
    servers: list[Server],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bare = Server("valkey", tmp_path / "bare", appendonly=False)
    servers.append(bare.start())
    proxy = Proxy(primary.port)
    try:
        client = make_app(REDIS_URL=proxy.url, DLRHOOK_DURABILITY="disk").test_client()
        body = sample("v1-one-delivered.json")
        assert client.post("/notify", data=body, content_type="application/json").status_code == 200
        proxy.retarget(bare.port)  # the name now leads to a server without AOF

        answer = client.post("/notify", data=body, content_type="application/json")
    finally:
        proxy.close()

    assert answer.status_code == 503
    assert "DLRHOOK_DURABILITY=disk needs the server's AOF" in caplog.text
    assert bare.client().xlen(keys.REPORTS) == 0  # refused before anything was written
