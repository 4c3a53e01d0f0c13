"""Reports posted to /notify reach the handler plugins, with failures retried per handler and report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib
from click.testing import CliRunner
from dlrhook_testplugin import calls
from flask import Flask
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from dlrhook import store
from dlrhook.cli import main
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.wire import dumps
from dlrhook.workers import stream
from tests.support import sample

PLUS_ONE = timezone(timedelta(hours=1))

V1_FIRST = {
    "message_id": "ff4804ef-6ab6-4abd-984d-ab3b1387e852",
    "bulk_id": "8c20f086-d82b-48cc-b2b3-3ca5f7aca9fb",
    "to": "41793026731",
    "sender": None,
    "sent_at": datetime(2015, 2, 12, 9, 58, 20, 323000, tzinfo=PLUS_ONE),
    "done_at": datetime(2015, 2, 12, 9, 58, 20, 337000, tzinfo=PLUS_ONE),
    "message_count": 1,
    "mcc_mnc": "22801",
    "callback_data": None,
    "entity_id": None,
    "application_id": None,
    "campaign_reference_id": None,
    "final": True,
    "source": "push",
    "price.price_per_message": Decimal("0.01"),
    "price.currency": "EUR",
    "status.group_id": 3,
    "status.group_name": "DELIVERED",
    "status.id": 5,
    "status.name": "DELIVERED_TO_HANDSET",
    "status.description": "Message delivered to handset",
    "error.group_id": 0,
    "error.group_name": "OK",
    "error.id": 0,
    "error.name": "NO_ERROR",
    "error.description": "No Error",
    "error.permanent": False,
}
V3 = {
    **V1_FIRST,
    "message_id": "MESSAGE-ID-123-xyz",
    "bulk_id": "BULK-ID-123-xyz",
    "to": "41793026727",
    "sender": "InfoSMS",
    "sent_at": datetime(2019, 11, 9, 16, 0, tzinfo=UTC),
    "done_at": datetime(2019, 11, 9, 16, 0, tzinfo=UTC),
    "callback_data": "callbackData",
    "entity_id": "promotional-traffic-entity",
    "application_id": "marketing-automation-application",
    "campaign_reference_id": "summersale",
}
V1_XML = {**V3, "sender": None, "campaign_reference_id": None, "mcc_mnc": None}  # the XML sample has no mccMnc
V1_TWO = [
    {
        **V1_FIRST,
        "message_id": "bcfb828b-7df9-4e7b-8715-f34f5c61271a",
        "bulk_id": "80664c0c-e1ca-414d-806a-5caf146463df",
        "sent_at": datetime(2015, 2, 12, 9, 51, 43, 123000, tzinfo=PLUS_ONE),
        "done_at": datetime(2015, 2, 12, 9, 51, 43, 127000, tzinfo=PLUS_ONE),
        "callback_data": "User defined data.",
    },
    {
        **V1_FIRST,
        "message_id": "12db39c3-7822-4e72-a3ec-c87442c0ffc5",
        "bulk_id": "08fe4407-c48f-4d4b-a2f4-9ff583c985b8",
        "to": "41793026727",
        "sent_at": datetime(2015, 2, 12, 9, 50, 22, 221000, tzinfo=PLUS_ONE),
        "done_at": datetime(2015, 2, 12, 9, 50, 22, 232000, tzinfo=PLUS_ONE),
        "callback_data": "reset_password",
    },
]


def post(make_app: Callable[..., Flask], name: str, **env: str) -> dict[str, Any]:
    content_type = "application/xml" if name.endswith(".xml") else "application/json"
    answer = make_app(**env).test_client().post("/notify", data=sample(name), content_type=content_type)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v1-one-delivered.json", [V1_FIRST]),
        ("v1-two-delivered.json", V1_TWO),
        ("v1-one-delivered.xml", [V1_XML]),
        ("v3-one-delivered.json", [V3]),
    ],
)
def test_a_posted_report_reaches_an_installed_plugin_with_every_attribute_right(
    name: str,
    expected: list[dict[str, Any]],
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    before = datetime.now(UTC)
    assert post(make_app, name, DLRHOOK_HANDLERS="test-record")["accepted"] == len(expected)
    run_jobs(settings)

    got = calls(conn, "test-record")
    assert len(got) == len(expected)
    for seen, want in zip(got, expected, strict=True):
        assert {k: seen[k] for k in want} == {k: repr(v) for k, v in want.items()}
        assert len(seen["key"]) == 32
        received_at = datetime.fromisoformat(seen["received_at"])
        assert received_at.tzinfo is not None and received_at >= before - timedelta(seconds=1)
        assert json.loads(seen["raw"])["messageId"] == want["message_id"]
    assert conn.xlen(keys.REPORTS) == 0  # delivered to every handler: trimmed
    assert conn.xpending(keys.REPORTS, "test-record")["pending"] == 0


def test_a_handler_failing_twice_is_called_three_times_and_nothing_else_is_called_again(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-flaky,test-record", DLRHOOK_RETRY_DELAYS="0,0")
    flaky_id, sibling_id = V1_TWO[0]["message_id"], V1_TWO[1]["message_id"]
    conn.sadd("test:flaky", flaky_id)
    post(make_app, "v1-two-delivered.json")
    run_jobs(settings)

    flaky_calls = calls(conn, "test-flaky")
    assert flaky_calls.count(flaky_id) == 3
    assert flaky_calls.count(sibling_id) == 1
    assert sorted(c["message_id"] for c in calls(conn, "test-record")) == sorted([repr(flaky_id), repr(sibling_id)])
    assert FailedJobRegistry(queue=store.queue(conn, settings)).count == 0


def test_a_retry_waits_for_its_delay_in_rqs_scheduler(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-broken", DLRHOOK_RETRY_DELAYS="60")
    conn.set("test:broken", "1")
    post(make_app, "v1-one-delivered.json")
    run_jobs(settings)

    scheduled = ScheduledJobRegistry(queue=store.queue(conn, settings))
    assert len(calls(conn, "test-broken")) == 1
    [job_id] = scheduled.get_job_ids()
    due = scheduled.get_scheduled_time(job_id)
    assert timedelta(seconds=50) < due - datetime.now(UTC) <= timedelta(seconds=60)


def test_a_batch_handler_retries_only_the_reports_it_names_in_partial_failure(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-batch", DLRHOOK_RETRY_DELAYS="0")
    failing = V1_TWO[1]["message_id"]
    conn.sadd("test:fail:test-batch", failing)
    post(make_app, "v1-two-delivered.json")
    run_jobs(settings)

    first, retry = calls(conn, "test-batch")
    assert sorted(first) == sorted(r["message_id"] for r in V1_TWO)
    assert retry == [failing]
    [dead] = FailedJobRegistry(queue=store.queue(conn, settings)).get_job_ids()
    assert dead.startswith("dead-")


def test_a_handler_that_always_fails_is_dead_lettered_and_failed_replay_delivers_after_the_fix(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-broken,test-record", DLRHOOK_RETRY_DELAYS="0,0")
    conn.set("test:broken", "1")
    post(make_app, "v1-two-delivered.json")
    run_jobs(settings)
    assert len(calls(conn, "test-broken")) == 6  # two reports, three attempts each

    runner = CliRunner()
    listing = runner.invoke(main, ["failed", "list"])
    assert listing.exit_code == 0, listing.output
    [row] = [line.split("\t") for line in listing.output.splitlines()[1:]]
    job_id, handler, reports, message_ids, attempts, when, error = row
    assert (handler, reports, attempts) == ("test-broken", "2", "3")
    assert message_ids == "bcfb828b-7df9-4e7b-8715-f34f5c61271a,12db39c3-7822-4e72-a3ec-c87442c0ffc5"
    assert error == "ConnectionError: receiver is down"
    assert datetime.fromisoformat(when) > datetime.now(UTC) - timedelta(minutes=1)
    job = FailedJobRegistry(queue=store.queue(conn, settings)).get_job_ids()
    assert job == [job_id]

    conn.delete("test:broken")
    replay = runner.invoke(main, ["failed", "replay", job_id])
    assert replay.exit_code == 0, replay.output
    run_jobs(settings)

    assert len(calls(conn, "test-broken")) == 8
    assert runner.invoke(main, ["failed", "list"]).output.strip() == "no failed jobs"
    assert len(calls(conn, "test-record")) == 2  # the other handler was never re-run


def test_failed_replay_all_requeues_every_dead_letter_and_a_still_broken_handler_dead_letters_again(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-broken", DLRHOOK_RETRY_DELAYS="")
    conn.set("test:broken", "1")
    post(make_app, "v1-one-delivered.json")
    run_jobs(settings)
    post(make_app, "v3-one-delivered.json")
    run_jobs(settings)
    registry = FailedJobRegistry(queue=store.queue(conn, settings))
    assert registry.count == 2

    result = CliRunner().invoke(main, ["failed", "replay", "--all"])
    assert result.exit_code == 0 and "re-queued 2" in result.output
    run_jobs(settings)

    assert registry.count == 2
    assert {line.split("\t")[4] for line in CliRunner().invoke(main, ["failed", "list"]).output.splitlines()[1:]} == {
        "2"
    }


def test_quarantine_replay_ingests_a_report_that_is_valid_now_and_keeps_one_still_invalid(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    good = json.loads(sample("v3-one-delivered.json"))["results"][0]
    bad = {"messageId": "no-status"}
    for qid, raw in (("q-1", good), ("q-2", bad)):
        entry = {"id": qid, "raw": raw, "errors": {"old": ["x"]}, "source": "push", "received_at": "2026-01-01"}
        conn.hset(keys.QUARANTINE, qid, dumps(entry))

    listing = CliRunner().invoke(main, ["quarantine", "list"])
    assert listing.exit_code == 0 and "q-1" in listing.output and "no-status" in listing.output
    result = CliRunner().invoke(main, ["quarantine", "replay", "--all"])
    assert result.exit_code == 0, result.output
    assert "accepted 1, duplicates 0, still invalid 1" in result.output
    run_jobs(settings)

    assert [c["message_id"] for c in calls(conn, "test-record")] == [repr("MESSAGE-ID-123-xyz")]
    assert list(conn.hkeys(keys.QUARANTINE)) == [b"q-2"]
    kept = json.loads(conn.hget(keys.QUARANTINE, "q-2") or b"{}")
    assert "status" in kept["errors"] and "old" not in kept["errors"]


def test_quarantine_replay_of_a_duplicate_removes_it_and_an_unknown_id_is_an_error(
    conn: redis_lib.Redis, worker_env: Callable[..., Settings]
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    raw = json.loads(sample("v3-one-delivered.json"))["results"][0]
    ingest(conn, [raw], source="push", settings=settings)
    entry = {"id": "q-dup", "raw": raw, "errors": {}, "source": "push", "received_at": "2026-01-01"}
    conn.hset(keys.QUARANTINE, "q-dup", dumps(entry))

    result = CliRunner().invoke(main, ["quarantine", "replay", "q-dup"])
    assert "accepted 0, duplicates 1" in result.output
    assert not conn.hexists(keys.QUARANTINE, "q-dup")
    assert CliRunner().invoke(main, ["quarantine", "replay", "q-nope"]).exit_code == 1


def test_reports_left_in_an_older_dlrhooks_inbox_and_claims_are_delivered(
    conn: redis_lib.Redis,
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    ingest(conn, json.loads(sample("v1-two-delivered.json"))["results"], source="push", settings=settings)
    first, second = (fields[b"w"] for _, fields in conn.xrange(keys.REPORTS))
    conn.delete(keys.REPORTS)
    conn.rpush(keys.LEGACY_INBOX, first)
    conn.rpush(keys.LEGACY_CLAIMED_PREFIX + "drain-old", second)

    run_jobs(settings)
    assert len(calls(conn, "test-record")) == 2
    assert not conn.exists(keys.LEGACY_INBOX, keys.LEGACY_CLAIMED_PREFIX + "drain-old")


def test_a_handler_whose_drain_job_vanished_gets_a_new_one_from_maintenance(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    stream.register(conn, ["test-record"])
    post(make_app, "v1-two-delivered.json")
    q = store.queue(conn, settings)
    assert q.count == 1  # the push woke the handler's drain
    q.empty()  # the drain job is gone, its pending mark outlived it
    post(make_app, "v3-one-delivered.json")
    assert q.count == 0  # the mark says a drain is queued: no new one

    assert stream.maintain(conn, q, settings) == ["test-record"]
    run_jobs(settings)
    assert len(calls(conn, "test-record")) == 3


def test_a_drain_past_its_budget_hands_the_rest_to_a_new_drain_job(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-slow", DLRHOOK_BATCH_SIZE="1", DLRHOOK_DRAIN_BUDGET="0.1")
    conn.set("test:slow", "0.15")
    post(make_app, "v1-two-delivered.json")
    post(make_app, "v3-one-delivered.json")
    run_jobs(settings)
    assert len(calls(conn, "test-slow")) == 3
    assert conn.xlen(keys.REPORTS) == 0


def test_a_drain_job_left_between_queue_and_start_by_a_killed_worker_does_not_block_its_handler(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    stream.register(conn, ["test-record"])
    post(make_app, "v1-two-delivered.json")
    q = store.queue(conn, settings)
    # A worker took the drain job off the queue (RQ moves it to its intermediate list) and was
    # SIGKILLed before starting it: the job still says "queued", and its pending mark stays.
    assert conn.lmove(q.key, q.intermediate_queue_key) is not None
    post(make_app, "v3-one-delivered.json")
    assert q.count == 0  # the mark blocks a new drain

    assert stream.maintain(conn, q, settings) == ["test-record"]
    run_jobs(settings)
    assert len(calls(conn, "test-record")) == 3


def test_a_wire_report_the_worker_cannot_read_is_quarantined_and_its_siblings_are_delivered(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    post(make_app, "v1-two-delivered.json")
    conn.xadd(keys.REPORTS, {"w": b'{"raw": {"messageId": "torn"}, "source": "push"}'})
    conn.xadd(keys.REPORTS, {"w": b"{not json"})
    run_jobs(settings)

    assert len(calls(conn, "test-record")) == 2
    entries = [json.loads(v) for v in conn.hvals(keys.QUARANTINE)]
    assert sorted(str(e["raw"]) for e in entries) == sorted(["{'messageId': 'torn'}", "{not json"])
    assert all("_wire" in e["errors"] for e in entries)
    assert conn.xlen(keys.REPORTS) == 0


def test_a_batch_claimed_by_a_drain_that_died_is_reclaimed_and_delivered_once_abandoned(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record,test-record-too", DLRHOOK_ABANDON_AFTER="3")
    stream.register(conn, ["test-record", "test-record-too"])
    post(make_app, "v1-two-delivered.json")
    # A drain of test-record claimed both reports, then its worker was SIGKILLed.
    claimed = conn.xreadgroup("test-record", "drain-dead", {keys.REPORTS: ">"}, count=10)
    ids = [eid for eid, _ in claimed[0][1]]
    assert len(ids) == 2
    store.queue(conn, settings).empty()
    conn.delete(keys.pending_key("test-record"), keys.pending_key("test-record-too"))

    run_jobs(settings)  # not yet abandoned: only the other handler gets them
    assert len(calls(conn, "test-record")) == 0 and len(calls(conn, "test-record-too")) == 2

    conn.xclaim(keys.REPORTS, "test-record", "drain-dead", 0, ids, idle=3_500, justid=True)  # silent 3.5 s
    run_jobs(settings)
    assert len(calls(conn, "test-record")) == 2 and len(calls(conn, "test-record-too")) == 2
    assert conn.xlen(keys.REPORTS) == 0


def test_handler_calls_retries_and_dead_letters_are_counted(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        "ok": value("dlrhook_handler_calls_total", handler="test-record", outcome="ok"),
        "failed": value("dlrhook_handler_calls_total", handler="test-broken", outcome="failed"),
        "retries": value("dlrhook_retries_total", handler="test-broken"),
        "dead": value("dlrhook_dead_lettered_total", handler="test-broken"),
    }
    settings = worker_env(DLRHOOK_HANDLERS="test-broken,test-record", DLRHOOK_RETRY_DELAYS="0,0")
    conn.set("test:broken", "1")
    post(make_app, "v1-two-delivered.json")

    run_jobs(settings)

    assert value("dlrhook_handler_calls_total", handler="test-record", outcome="ok") - before["ok"] == 2
    assert value("dlrhook_handler_calls_total", handler="test-broken", outcome="failed") - before["failed"] == 6
    assert value("dlrhook_retries_total", handler="test-broken") - before["retries"] == 4
    assert value("dlrhook_dead_lettered_total", handler="test-broken") - before["dead"] == 2


def test_quarantine_entries_expire_after_their_ttl_and_maintenance_never_scans_the_keyspace(
    conn: redis_lib.Redis, make_app: Callable[..., Flask], worker_env: Callable[..., Settings]
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record", DLRHOOK_QUARANTINE_TTL="3600")
    client = make_app().test_client()
    for n in range(3):
        client.post("/notify", json={"results": [{"messageId": f"bad-{n}"}]})
    old, *fresh = sorted(v.decode() for v in conn.hkeys(keys.QUARANTINE))
    conn.zadd(keys.QUARANTINE_TIMES, {old: (time.time() - 3601) * 1000})  # quarantined an hour ago
    for n in range(2000):
        conn.set(f"test:other:{n}", 1)  # a keyspace with plenty of other keys

    conn.config_resetstat()
    stream.register(conn, ["test-record"])
    for _ in range(3):
        stream.maintain(conn, store.queue(conn, settings), settings)

    assert sorted(v.decode() for v in conn.hkeys(keys.QUARANTINE)) == fresh
    assert conn.zcard(keys.QUARANTINE_TIMES) == 2
    assert "cmdstat_scan" not in conn.info("commandstats")


def test_quarantine_replay_delivers_a_report_a_worker_quarantined_after_it_was_accepted(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    other = json.loads(sample("v1-two-delivered.json"))["results"][0]
    ingest(conn, [other], source="push", settings=settings)  # another report's mark must stay
    run_jobs(settings)
    post(make_app, "v3-one-delivered.json")
    # The worker cannot read the accepted wire (a torn or older wire form): it quarantines it.
    [(_, fields)] = conn.xrange(keys.REPORTS)
    wire = json.loads(fields[b"w"])
    conn.delete(keys.REPORTS)
    stream.register(conn, ["test-record"])
    conn.xadd(keys.REPORTS, {"w": dumps({"raw": wire["raw"], "source": "push", "received_at": wire["received_at"]})})
    run_jobs(settings)
    assert [c["message_id"] for c in calls(conn, "test-record")] == [repr(other["messageId"])]
    (qid,) = (k.decode() for k in conn.hkeys(keys.QUARANTINE))

    result = CliRunner().invoke(main, ["quarantine", "replay", qid])
    assert result.exit_code == 0, result.output
    assert "accepted 1, duplicates 0, still invalid 0" in result.output
    run_jobs(settings)

    delivered = [c["message_id"] for c in calls(conn, "test-record")]
    assert delivered == [repr(other["messageId"]), repr("MESSAGE-ID-123-xyz")]
    assert conn.hlen(keys.QUARANTINE) == 0
    assert ingest(conn, [other], source="push", settings=settings).duplicates == 1
    assert ingest(conn, [wire["raw"]], source="push", settings=settings).duplicates == 1
