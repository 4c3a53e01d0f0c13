"""The status handler folds every report into one record per message, forward only, atomically;
the rule's tests run on each store (Redis, PostgreSQL, SQLite: the ``statuses`` fixture)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_lib
from click.testing import CliRunner
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from dlrhook.cli import main
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.status import StatusStore
from dlrhook.store import keys
from dlrhook.workers import handlers
from tests.statuses import SENT, names, raw_report, report

TTL = 3600


def counts(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """A bulk's summary without its secondsToFinal (tests of their own check those)."""
    if summary is None:
        return None
    return {k: v for k, v in summary.items() if k != "secondsToFinal"}


def test_the_status_handler_is_a_built_in_batch_handler_entry_point() -> None:
    handler = handlers.load("status")

    assert handler.batch is True


def test_reports_posted_to_notify_reach_the_message_record_through_the_worker(
    conn: redis_lib.Redis,
    status_url: str,
    statuses: StatusStore,
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="status", DLRHOOK_STATUS_STORE=status_url)
    ingest(conn, [raw_report("m-1", "DELIVERED_TO_OPERATOR", 5)], source="push", settings=settings)
    ingest(conn, [raw_report("m-1", "DELIVERED_TO_HANDSET", 9)], source="pull", settings=settings)

    run_jobs(settings)

    record = statuses.message("m-1")
    assert record is not None
    assert record["final"] is True
    assert record["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert record["status"]["groupName"] == "DELIVERED"
    assert record["error"]["name"] == "NO_ERROR"
    assert (record["bulkId"], record["channel"], record["to"]) == ("BULK-1", "SMS", "41793026727")
    assert record["sentAt"] == "2026-11-28T09:00:00+00:00"
    assert record["doneAt"] == "2026-11-28T09:00:09+00:00"
    assert record["price"] == {"pricePerMessage": "0.01", "currency": "EUR"}
    assert [(h["status"], h["source"], h["final"]) for h in record["history"]] == [
        ("DELIVERED_TO_OPERATOR", "push", False),
        ("DELIVERED_TO_HANDSET", "pull", True),
    ]
    if status_url == "redis":
        assert 0 < conn.ttl(keys.MESSAGE_PREFIX + "m-1") <= settings.status_ttl
    else:
        assert not conn.exists(keys.MESSAGE_PREFIX + "m-1")  # nothing of it in Redis


def test_delivered_to_operator_is_intermediate_and_then_replaced_by_the_handset_report(statuses: StatusStore) -> None:
    statuses.fold([report("m", "DELIVERED_TO_OPERATOR", 5)], ttl=TTL)
    first = statuses.message("m")
    statuses.fold([report("m", "DELIVERED_TO_HANDSET", 10)], ttl=TTL)

    assert first is not None and first["final"] is False
    assert statuses.intermediate_ids(0) == []  # final messages leave the index
    record = statuses.message("m")
    assert record is not None and record["final"] is True
    assert names(record) == ["DELIVERED_TO_OPERATOR", "DELIVERED_TO_HANDSET"]


def test_a_pending_report_arriving_after_the_handset_report_changes_only_the_history(statuses: StatusStore) -> None:
    statuses.fold([report("m", "DELIVERED_TO_HANDSET", 10)], ttl=TTL)
    # Later doneAt and later arrival: still intermediate, so it can never replace a final status.
    statuses.fold([report("m", "PENDING_ENROUTE", 60)], ttl=TTL)

    record = statuses.message("m")
    assert record is not None
    assert (record["status"]["name"], record["final"]) == ("DELIVERED_TO_HANDSET", True)
    assert record["doneAt"] == "2026-11-28T09:00:10+00:00"
    assert names(record) == ["DELIVERED_TO_HANDSET", "PENDING_ENROUTE"]  # ordered by doneAt
    assert statuses.intermediate_ids(0) == []


def test_intermediate_statuses_follow_done_at_not_arrival_order(statuses: StatusStore) -> None:
    statuses.fold([report("m", "DELIVERED_TO_OPERATOR", 20)], ttl=TTL)
    statuses.fold([report("m", "PENDING_ENROUTE", 5)], ttl=TTL)

    record = statuses.message("m")
    assert record is not None and record["status"]["name"] == "DELIVERED_TO_OPERATOR"
    assert names(record) == ["PENDING_ENROUTE", "DELIVERED_TO_OPERATOR"]
    assert statuses.intermediate_ids(0) == ["m"]


def test_every_arrival_order_of_the_same_reports_folds_to_the_same_record(statuses: StatusStore) -> None:
    reports = [
        report("m", "PENDING_ENROUTE", 1),
        report("m", "DELIVERED_TO_OPERATOR", 3),
        report("m", "DELIVERED_TO_HANDSET", 7),
        report("m", "PENDING_ENROUTE", 9, callbackData="late"),
    ]
    records = []
    for n, order in enumerate(itertools.permutations(reports)):
        # Each order on a message (and bulk) of its own.
        for r in order:
            statuses.fold([dataclasses.replace(r, message_id=f"m-{n}", bulk_id=f"B-{n}")], ttl=TTL)
        record = statuses.message(f"m-{n}")
        assert record is not None
        records.append(json.dumps({**record, "messageId": "m", "bulkId": "B"}, sort_keys=True))
        assert counts(statuses.bulk(f"B-{n}")) == {
            "bulkId": f"B-{n}",
            "messages": 1,
            "final": 1,
            "byStatusGroup": {"DELIVERED": 1},
        }
    assert len(set(records)) == 1
    assert json.loads(records[0])["callbackData"] == "late"  # filled in from the report that had it


def test_a_redelivered_report_changes_nothing(statuses: StatusStore) -> None:
    batch = [report("m", "PENDING_ENROUTE", 1), report("m", "DELIVERED_TO_HANDSET", 7)]
    statuses.fold(batch, ttl=TTL)
    before = (statuses.message("m"), statuses.bulk("BULK-1"))

    firsts = statuses.fold([*batch, report("m", "DELIVERED_TO_HANDSET", 7, source="pull")], ttl=TTL)

    assert firsts == []
    assert (statuses.message("m"), statuses.bulk("BULK-1")) == before
    assert len(names(statuses.message("m"))) == 2


def test_the_first_final_status_of_a_message_is_reported_once(statuses: StatusStore) -> None:
    handset = report("m", "DELIVERED_TO_HANDSET", 7)

    assert statuses.fold([report("m", "PENDING_ENROUTE", 1), handset], ttl=TTL) == [handset]
    assert statuses.fold([report("m", "EXPIRED_EXPIRED", 90)], ttl=TTL) == []


def test_a_later_final_status_corrects_an_earlier_one(statuses: StatusStore) -> None:
    statuses.fold([report("m", "DELIVERED_TO_HANDSET", 7), report("m", "UNDELIVERABLE_NOT_DELIVERED", 3)], ttl=TTL)

    record = statuses.message("m")
    assert record is not None and record["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1},
    }


def test_bulk_counters_move_with_each_message_group(statuses: StatusStore) -> None:
    statuses.fold(
        [report("a", "PENDING_ENROUTE", 1), report("b", "PENDING_ENROUTE", 1), report("c", "PENDING_ENROUTE", 1)],
        ttl=TTL,
    )
    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 3,
        "final": 0,
        "byStatusGroup": {"PENDING": 3},
    }

    statuses.fold([report("a", "DELIVERED_TO_OPERATOR", 2), report("b", "EXPIRED_EXPIRED", 50)], ttl=TTL)
    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 3,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1, "EXPIRED": 1, "PENDING": 1},
    }
    assert sorted(statuses.intermediate_ids(0)) == ["a", "c"]
    assert statuses.bulk("NO-SUCH-BULK") is None


def test_a_bulk_id_learned_from_a_later_report_counts_the_message_once(statuses: StatusStore) -> None:
    statuses.fold([report("m", "PENDING_ENROUTE", 1, bulk_id=None)], ttl=TTL)
    assert statuses.bulk("BULK-1") is None

    statuses.fold([report("m", "DELIVERED_TO_HANDSET", 5), report("m", "DELIVERED_TO_OPERATOR", 3)], ttl=TTL)

    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1},
    }


def test_an_unknown_message_has_no_record(statuses: StatusStore) -> None:
    assert statuses.message("never-seen") is None


def test_two_workers_folding_the_same_messages_at_once_lose_no_update(statuses: StatusStore) -> None:
    """Two threads, each with its own connection (from the store's pool), fold interleaved
    batches of the same 300 messages (every report twice over, in random order): the result is
    the sequential one."""
    messages = [f"m-{n}" for n in range(300)]
    reports = [
        report(m, name, done)
        for m in messages
        for name, done in (("PENDING_ENROUTE", 1), ("DELIVERED_TO_OPERATOR", 2), ("DELIVERED_TO_HANDSET", 3))
    ]
    work = reports * 2
    random.Random(7).shuffle(work)
    halves = [work[0::2], work[1::2]]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def fold_all(part: list) -> None:
        try:
            start.wait()
            for i in range(0, len(part), 7):
                statuses.fold(part[i : i + 7], ttl=TTL)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fold_all, args=(half,)) for half in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 300,
        "final": 300,
        "byStatusGroup": {"DELIVERED": 300},
    }
    for m in messages:
        record = statuses.message(m)
        assert record is not None and record["status"]["name"] == "DELIVERED_TO_HANDSET"
        assert names(record) == ["PENDING_ENROUTE", "DELIVERED_TO_OPERATOR", "DELIVERED_TO_HANDSET"]
    assert statuses.intermediate_ids(0) == []


@pytest.mark.parametrize("older_than", [0, 3600])
def test_the_intermediate_index_answers_by_age(statuses: StatusStore, older_than: int) -> None:
    statuses.fold([report("m", "PENDING_ENROUTE", 1)], ttl=TTL)

    assert statuses.intermediate_ids(older_than) == ([] if older_than else ["m"])
    assert statuses.count_intermediate(older_than) == (0 if older_than else 1)


def test_the_status_command_prints_a_message_its_finality_and_its_history(
    status_url: str, statuses: StatusStore, env: Callable[..., Settings]
) -> None:
    env(DLRHOOK_STATUS_STORE=status_url)
    statuses.fold([report("m", "DELIVERED_TO_OPERATOR", 2), report("m", "DELIVERED_TO_HANDSET", 5)], ttl=TTL)

    result = CliRunner().invoke(main, ["status", "m"])

    assert result.exit_code == 0, result.output
    assert "DELIVERED_TO_HANDSET (DELIVERED), final" in result.output
    history = result.output.split("history (by doneAt):")[1]
    assert history.index("DELIVERED_TO_OPERATOR") < history.index("DELIVERED_TO_HANDSET")
    assert "2026-11-28T09:00:05+00:00" in result.output
    # The recipient masked as in the logs, unless asked for as received.
    assert "to        4179*****27" in result.output and "41793026727" not in result.output
    assert "to        41793026727" in CliRunner().invoke(main, ["status", "m", "--unmasked"]).output


def test_the_status_command_says_when_a_message_is_still_intermediate(
    status_url: str, statuses: StatusStore, env: Callable[..., Settings]
) -> None:
    env(DLRHOOK_STATUS_STORE=status_url)
    statuses.fold([report("m", "DELIVERED_TO_OPERATOR", 2)], ttl=TTL)

    result = CliRunner().invoke(main, ["status", "m"])

    assert "DELIVERED_TO_OPERATOR (DELIVERED), intermediate" in result.output


def test_the_status_command_prints_the_api_answer_as_json(
    status_url: str, statuses: StatusStore, env: Callable[..., Settings]
) -> None:
    env(DLRHOOK_STATUS_STORE=status_url)
    statuses.fold([report("m", "EXPIRED_EXPIRED", 50)], ttl=TTL)

    message = CliRunner().invoke(main, ["status", "m", "--json", "--unmasked"])
    bulk = CliRunner().invoke(main, ["status", "--bulk-id", "BULK-1", "--json"])

    assert json.loads(message.output) == statuses.message("m")
    assert json.loads(bulk.output) == statuses.bulk("BULK-1")
    assert counts(json.loads(bulk.output)) == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"EXPIRED": 1},
    }


def test_the_status_command_prints_a_bulk_summary(
    status_url: str, statuses: StatusStore, env: Callable[..., Settings]
) -> None:
    env(DLRHOOK_STATUS_STORE=status_url)
    statuses.fold([report("a", "EXPIRED_EXPIRED", 50), report("b", "PENDING_ENROUTE", 1)], ttl=TTL)

    result = CliRunner().invoke(main, ["status", "--bulk-id", "BULK-1"])

    assert result.exit_code == 0
    assert "bulk BULK-1: 2 messages, 1 final (50%)" in result.output
    assert "EXPIRED" in result.output and "PENDING" in result.output


@pytest.mark.parametrize("args", [["status", "nope"], ["status", "--bulk-id", "nope"], ["status", "nope", "--json"]])
def test_the_status_command_exits_1_for_an_unknown_message_or_bulk(
    status_url: str, env: Callable[..., Settings], args: list[str]
) -> None:
    env(DLRHOOK_STATUS_STORE=status_url)

    result = CliRunner().invoke(main, args)

    assert result.exit_code == 1
    assert "no status is known for" in result.output and "nope" in result.output


def test_the_status_command_wants_a_message_or_a_bulk(env: Callable[..., Settings]) -> None:
    env()

    assert CliRunner().invoke(main, ["status"]).exit_code == 2
    assert CliRunner().invoke(main, ["status", "m", "--bulk-id", "b"]).exit_code == 2


def test_the_time_to_the_first_final_status_is_observed_once_per_message(
    conn: redis_lib.Redis,
    status_url: str,
    statuses: StatusStore,
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="status", DLRHOOK_STATUS_STORE=status_url)
    labels = {"channel": "SMS", "status_group": "DELIVERED"}
    before_count = REGISTRY.get_sample_value("dlrhook_time_to_final_seconds_count", labels) or 0.0
    before_sum = REGISTRY.get_sample_value("dlrhook_time_to_final_seconds_sum", labels) or 0.0
    reports = [raw_report("t-1", "DELIVERED_TO_OPERATOR", 3), raw_report("t-1", "DELIVERED_TO_HANDSET", 8)]
    ingest(conn, reports, source="push", settings=settings)
    ingest(conn, [raw_report("t-1", "DELIVERED_TO_HANDSET", 20, callbackData="x")], source="push", settings=settings)
    run_jobs(settings)

    assert (REGISTRY.get_sample_value("dlrhook_time_to_final_seconds_count", labels) or 0.0) - before_count == 1
    assert (REGISTRY.get_sample_value("dlrhook_time_to_final_seconds_sum", labels) or 0.0) - before_sum == 8


def test_metrics_show_how_many_messages_are_still_intermediate_past_each_age(
    conn: redis_lib.Redis, client: FlaskClient
) -> None:
    now = time.time() * 1000
    hour = 3600_000
    conn.zadd(keys.STATUS_INTERMEDIATE, {"fresh": now, "two-hours": now - 2 * hour, "two-days": now - 48 * hour})

    text = client.get("/metrics").get_data(as_text=True)

    assert 'dlrhook_messages_intermediate{older_than="1h"} 2.0' in text
    assert 'dlrhook_messages_intermediate{older_than="6h"} 1.0' in text
    assert 'dlrhook_messages_intermediate{older_than="24h"} 1.0' in text


def test_a_seen_report_sets_only_seen_at_and_the_earliest_one_wins(statuses: StatusStore) -> None:
    delivered = report("m", "DELIVERED_TO_HANDSET", 5)
    # A seen report has no status (WhatsApp, Viber, RCS); its time is seenAt, else when it came.
    seen_late = dataclasses.replace(
        delivered, status=None, error=None, kind="seen", key="seen-2", received_at=SENT + timedelta(1)
    )
    seen_early = dataclasses.replace(
        delivered, status=None, error=None, kind="seen", key="seen-1", received_at=SENT + timedelta(hours=1)
    )
    statuses.fold([seen_late], ttl=TTL)

    only_seen = statuses.message("m")
    statuses.fold([delivered, seen_early], ttl=TTL)

    assert only_seen is not None and only_seen["status"] is None and only_seen["final"] is False
    assert only_seen["seenAt"] == (SENT + timedelta(1)).isoformat()
    record = statuses.message("m")
    assert record is not None
    assert record["seenAt"] == (SENT + timedelta(hours=1)).isoformat()
    assert (record["status"]["name"], record["final"]) == ("DELIVERED_TO_HANDSET", True)
    assert names(record) == ["DELIVERED_TO_HANDSET"]
    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1},
    }


def test_a_status_group_with_a_bar_in_its_name_keeps_the_bulk_counters_straight(statuses: StatusStore) -> None:
    odd = report("m", "PENDING_ENROUTE", 1)
    odd = dataclasses.replace(odd, status=dataclasses.replace(odd.status, group_name="ODD|GROUP"), key="odd")
    statuses.fold([odd, report("m", "DELIVERED_TO_HANDSET", 5)], ttl=TTL)

    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1},
    }


def _event(delivered: object, name: str, key: str, hours: float) -> object:
    return dataclasses.replace(
        delivered,  # type: ignore[type-var]
        status=None,
        error=None,
        kind="event",
        event=name,
        key=key,
        received_at=SENT + timedelta(hours=hours),
    )


def test_email_user_events_set_their_first_times_and_never_move_the_status(statuses: StatusStore) -> None:
    delivered = report("m", "DELIVERED_TO_HANDSET", 5)
    pending = report("m", "PENDING_ENROUTE", 7)
    opened_late = _event(delivered, "OPENED", "e-2", 5)
    opened_early = _event(delivered, "OPENED", "e-1", 2)
    clicked = _event(delivered, "CLICKED", "e-3", 3)
    unsubscribed = _event(delivered, "UNSUBSCRIBED", "e-4", 4)

    statuses.fold([opened_late, pending], ttl=TTL)  # type: ignore[list-item]
    statuses.fold([clicked, delivered, opened_early, unsubscribed, opened_late], ttl=TTL)  # type: ignore[list-item]

    record = statuses.message("m")
    assert record is not None
    assert record["openedAt"] == (SENT + timedelta(hours=2)).isoformat()  # the earliest open
    assert record["clickedAt"] == (SENT + timedelta(hours=3)).isoformat()
    assert record["unsubscribedAt"] == (SENT + timedelta(hours=4)).isoformat()
    assert set(record["events"]) == {"OPENED", "CLICKED", "UNSUBSCRIBED"}
    assert (record["status"]["name"], record["final"]) == ("DELIVERED_TO_HANDSET", True)
    assert sorted(names(record)) == ["DELIVERED_TO_HANDSET", "PENDING_ENROUTE"]  # events are no status
    assert counts(statuses.bulk("BULK-1")) == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1},
    }


def test_an_event_of_a_message_with_no_delivery_report_yet_has_a_record_without_status(statuses: StatusStore) -> None:
    opened = _event(report("m", "DELIVERED_TO_HANDSET", 5), "OPENED", "e-1", 1)

    statuses.fold([opened], ttl=TTL)  # type: ignore[list-item]

    record = statuses.message("m")
    assert record is not None
    assert (record["status"], record["final"], record["history"]) == (None, False, [])
    assert record["openedAt"] == (SENT + timedelta(hours=1)).isoformat()
    assert statuses.bulk("BULK-1") is None  # an event counts no message in its bulk
