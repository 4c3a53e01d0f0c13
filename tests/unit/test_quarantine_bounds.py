"""What a hostile push can make the quarantine hold is bounded: at most 100 entries and one
counting the rest per push, each raw report cut at RAW_MAX characters, the newest MAX_ENTRIES
entries in all; and quarantining 10,000 bad reports costs what 100 do."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis as redis_lib
from flask.testing import FlaskClient

from dlrhook import quarantine
from dlrhook.replay import replay_quarantine
from dlrhook.settings import Settings
from dlrhook.store import keys


def held(conn: redis_lib.Redis) -> int:
    """Bytes the dlrhook keys hold (MEMORY USAGE)."""
    return sum(int(conn.memory_usage(k, samples=0) or 0) for k in conn.scan_iter(match="dlrhook:*"))


def test_a_push_of_10000_zeros_makes_redis_hold_a_small_multiple_of_its_size(
    client: FlaskClient, conn: redis_lib.Redis
) -> None:
    body = json.dumps({"results": [0] * 10_000}, separators=(",", ":")).encode()

    answer = client.post("/notify", data=body, content_type="application/json")

    assert answer.status_code == 200
    result = answer.get_json()
    assert result["quarantined"] == 10_000
    assert len(result["errors"]) == 100 and result["errorsOmitted"] == 9_900
    entries = quarantine.quarantined(conn)
    assert len(entries) == quarantine.PER_PUSH + 1
    [omitted] = [e for e in entries if quarantine.PARTIAL in e]
    assert "9900 more invalid reports" in omitted["errors"]["_omitted"][0]
    assert held(conn) < 3 * len(body)  # it was 169 times the body before the cap


def test_a_huge_invalid_report_is_kept_cut_and_left_alone_by_replay(
    client: FlaskClient, conn: redis_lib.Redis, env: Callable[..., Settings]
) -> None:
    body = json.dumps({"results": [{"callbackData": "x" * 1_000_000}]}).encode()

    answer = client.post("/notify", data=body, content_type="application/json")

    assert answer.get_json()["quarantined"] == 1
    [entry] = quarantine.quarantined(conn)
    assert isinstance(entry["raw"], str) and len(entry["raw"]) == quarantine.RAW_MAX
    assert "only the first" in entry[quarantine.PARTIAL]
    assert "messageId" in entry["errors"]
    assert held(conn) < 2 * quarantine.RAW_MAX + 4096
    assert replay_quarantine(conn, env(), None).still_invalid == [entry["id"]]
    assert quarantine.quarantined(conn) == [entry]  # untouched


def test_the_quarantine_keeps_its_newest_entries_only(
    client: FlaskClient, conn: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quarantine, "MAX_ENTRIES", 150)
    for push in range(3):
        body = {"results": [{"messageId": f"bad-{push}-{i}"} for i in range(80)]}  # no status: invalid
        assert client.post("/notify", json=body).get_json()["quarantined"] == 80

    entries = quarantine.quarantined(conn)
    assert len(entries) == 150 and conn.zcard(keys.QUARANTINE_TIMES) == 150
    kept = {e["raw"]["messageId"] for e in entries}
    assert {f"bad-2-{i}" for i in range(80)} <= kept  # the newest push whole
    assert not any(m.startswith("bad-0-") for m in kept)  # the oldest gone first


def test_worker_made_entries_past_the_cap_go_at_maintenance(
    conn: redis_lib.Redis, env: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    with conn.pipeline() as pipe:
        for n in range(30):
            qid, text = quarantine.unreadable_entry(f"torn-{n}".encode(), "ValueError: torn")
            quarantine.add(pipe, qid, text)
        pipe.execute()
    monkeypatch.setattr(quarantine, "MAX_ENTRIES", 10)

    assert quarantine.expire(conn, env()) == 20
    assert conn.hlen(keys.QUARANTINE) == 10 and conn.zcard(keys.QUARANTINE_TIMES) == 10


def test_an_entry_written_by_hand_that_is_no_json_is_still_listed(conn: redis_lib.Redis) -> None:
    conn.hset(keys.QUARANTINE, "q-by-hand", b"\xff{")
    [entry] = quarantine.quarantined(conn)
    assert entry["id"] == "q-by-hand" and "unreadable entry" in entry["errors"]["_entry"][0]


def test_a_quarantine_left_far_larger_by_an_older_dlrhook_does_not_fail_a_push(
    client: FlaskClient, conn: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    with conn.pipeline(transaction=False) as pipe:
        for n in range(12_000):
            pipe.hset(keys.QUARANTINE, f"q-old-{n:05d}", "{}")
            pipe.zadd(keys.QUARANTINE_TIMES, {f"q-old-{n:05d}": n})
        pipe.execute()
    monkeypatch.setattr(quarantine, "MAX_ENTRIES", 100)

    answer = client.post("/notify", json={"results": [0]})

    assert answer.status_code == 200 and answer.get_json()["quarantined"] == 1
    assert conn.zcard(keys.QUARANTINE_TIMES) == 12_001 - 1000  # the oldest 1,000 went
