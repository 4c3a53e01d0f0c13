"""When Redis cannot take a batch: 503 with Retry-After, and nothing of the batch stored."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis
from flask import Flask

from dlrhook import store
from dlrhook.dev.embedded import free_port
from dlrhook.errors import StoreUnavailable
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import durability, keys
from tests.support import sample


def test_redis_down_is_a_503_with_retry_after(make_app: Callable[..., Flask]) -> None:
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    answer = app.test_client().post("/notify", data=sample("v1-one-delivered.json"), content_type="application/json")

    assert answer.status_code == 503
    assert answer.content_type == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    assert "nothing was stored" in answer.get_json()["detail"]


def test_readyz_is_a_503_while_redis_is_down(make_app: Callable[..., Flask]) -> None:
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    answer = app.test_client().get("/readyz")

    assert answer.status_code == 503
    assert answer.get_json()["status"] == "unavailable"
    assert app.test_client().get("/healthz").status_code == 200


def test_redis_full_is_a_503_and_nothing_is_half_stored(app: Flask, conn: redis.Redis) -> None:
    client = app.test_client()
    client.post("/notify", data=sample("v1-one-delivered.json"), content_type="application/json")
    keys_before = sorted(conn.keys("*"))
    body = json.loads(sample("v1-two-delivered.json"))

    conn.config_set("maxmemory-policy", "noeviction")
    conn.config_set("maxmemory", 1)
    try:
        answer = client.post("/notify", json=body)
    finally:
        conn.config_set("maxmemory", 0)

    assert answer.status_code == 503
    assert sorted(conn.keys("*")) == keys_before
    assert conn.xlen(keys.REPORTS) == 1
    # Once Redis has room again, Infobip's retry of the same batch is accepted whole.
    assert client.post("/notify", json=body).get_json() == {"accepted": 2, "duplicates": 0, "quarantined": 0}


def test_a_batch_that_would_pass_the_high_water_mark_is_refused_by_the_store_script_itself(
    conn: redis.Redis, env: Callable[..., Settings]
) -> None:
    """The mark is checked where the write happens, with the batch's size: a reading cached by the
    process (at most a second old, here: "not full") does not let a batch through."""
    settings = env(DLRHOOK_REDIS_HIGH_WATER="0.9")
    small = [{**json.loads(sample("v3-one-delivered.json"))["results"][0], "messageId": "mark-0"}]
    big = [{**small[0], "messageId": f"mark-{i}"} for i in range(1, 201)]
    assert store.over_high_water(conn, settings) is None  # the cached reading: room
    durability.of(conn, settings).plan(conn)  # read once per client; its INFO replies take ~40 KB
    used = int(conn.info("memory")["used_memory"])
    conn.config_set("maxmemory-policy", "noeviction")
    # Room under the mark for one report, not for 200 of them.
    conn.config_set("maxmemory", str(int((used + 20_000) / 0.9)))
    try:
        before = conn.xlen(keys.REPORTS)
        assert ingest(conn, small, source="push", settings=settings).accepted == 1
        with pytest.raises(StoreUnavailable, match="DLRHOOK_REDIS_HIGH_WATER"):
            ingest(conn, big, source="push", settings=settings)
    finally:
        conn.config_set("maxmemory", 0)
    assert conn.xlen(keys.REPORTS) == before + 1  # nothing of the refused batch
    # Once there is room, the same batch is accepted whole: none of it was remembered as seen.
    assert ingest(conn, big, source="push", settings=settings).accepted == 200
