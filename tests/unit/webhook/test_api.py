"""GET /messages/<id> and GET /bulks/<id>: the folded status, behind DLRHOOK_API_TOKEN only, from
the store DLRHOOK_STATUS_STORE names (each test on each store: the ``statuses`` fixture)."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dlrhook.dev.embedded import free_port
from dlrhook.report import DeliveryReport
from dlrhook.settings import Settings
from dlrhook.status import StatusStore
from dlrhook.status.buckets import FINAL_BUCKETS
from dlrhook.status.stores import sql_store
from tests.statuses import report
from tests.support import sample

API_TOKEN = "api-token-0123456789abcdef"
PUSH_TOKEN = "push-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def api(make_app: Callable[..., Flask], statuses: StatusStore, status_url: str) -> FlaskClient:
    statuses.fold([report("m-1", "PENDING_ENROUTE", 1), report("m-1", "DELIVERED_TO_HANDSET", 4)], ttl=600)
    return make_app(
        DLRHOOK_API_TOKEN=API_TOKEN,
        DLRHOOK_TOKEN=PUSH_TOKEN,
        DLRHOOK_BASIC_AUTH="infobip:pw",
        DLRHOOK_STATUS_STORE=status_url,
    ).test_client()


def test_a_known_message_answers_its_folded_status(api: FlaskClient) -> None:
    answer = api.get("/messages/m-1", headers=BEARER)

    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == {
        "messageId",
        "bulkId",
        "channel",
        "to",
        "status",
        "error",
        "final",
        "sentAt",
        "doneAt",
        "seenAt",
        "openedAt",
        "clickedAt",
        "unsubscribedAt",
        "events",
        "callbackData",
        "price",
        "history",
    }
    assert body["messageId"] == "m-1" and body["final"] is True and body["seenAt"] is None
    assert body["status"] == {
        "groupId": 3,
        "groupName": "DELIVERED",
        "id": 5,
        "name": "DELIVERED_TO_HANDSET",
        "description": "delivered_to_handset",
    }
    assert [h["status"] for h in body["history"]] == ["PENDING_ENROUTE", "DELIVERED_TO_HANDSET"]
    assert set(body["history"][0]) == {"status", "group", "final", "doneAt", "source", "receivedAt"}


def test_a_bulk_answers_its_counts_by_status_group(api: FlaskClient) -> None:
    answer = api.get("/bulks/BULK-1", headers=BEARER)

    assert answer.status_code == 200
    assert answer.get_json() == {
        "bulkId": "BULK-1",
        "messages": 1,
        "final": 1,
        "byStatusGroup": {"DELIVERED": 1},
        "secondsToFinal": {**dict.fromkeys(FINAL_BUCKETS, 0), "5": 1},  # done 4 s after it was sent
    }


@pytest.mark.parametrize("path", ["/messages/nope", "/bulks/nope"])
def test_an_unknown_message_or_bulk_is_a_404_problem(api: FlaskClient, path: str) -> None:
    answer = api.get(path, headers=BEARER)

    assert answer.status_code == 404
    assert answer.content_type == "application/problem+json"
    assert "nope" in answer.get_json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {PUSH_TOKEN}"},
        {"Authorization": "Basic " + base64.b64encode(b"infobip:pw").decode()},
        {"Authorization": API_TOKEN},
    ],
    ids=["none", "wrong", "push-token", "push-basic", "no-scheme"],
)
@pytest.mark.parametrize("path", ["/messages/m-1", "/bulks/BULK-1"])
def test_only_the_api_token_opens_the_read_api(api: FlaskClient, headers: dict[str, str], path: str) -> None:
    answer = api.get(path, headers=headers)

    assert answer.status_code == 401
    assert answer.content_type == "application/problem+json"
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="dlrhook-api"'
    assert API_TOKEN not in answer.get_data(as_text=True)


def test_the_api_token_in_the_query_string_does_not_open_it(api: FlaskClient) -> None:
    assert api.get(f"/messages/m-1?token={API_TOKEN}").status_code == 401


@pytest.mark.parametrize("path", ["/messages/m-1", "/bulks/BULK-1"])
def test_without_an_api_token_the_routes_answer_404_even_to_push_credentials(
    make_app: Callable[..., Flask], statuses: StatusStore, status_url: str, path: str
) -> None:
    statuses.fold([report("m-1", "DELIVERED_TO_HANDSET", 4)], ttl=600)
    client = make_app(DLRHOOK_TOKEN=PUSH_TOKEN, DLRHOOK_STATUS_STORE=status_url).test_client()

    answer = client.get(path, headers={"Authorization": f"Bearer {PUSH_TOKEN}"})

    assert answer.status_code == 404
    assert answer.content_type == "application/problem+json"


def test_a_bulk_of_100000_messages_answers_its_summary_in_milliseconds(
    api: FlaskClient, statuses: StatusStore, status_url: str
) -> None:
    reports = [
        report(f"big-{n}", "DELIVERED_TO_HANDSET" if n % 4 else "PENDING_ENROUTE", 3, bulk_id="BIG")
        for n in range(2000)
    ]
    for start in range(0, 100_000, 2000):
        # The same 2000 report objects under new message ids: building 100,000 costs seconds.
        statuses.fold([_renamed(r, f"big-{start + i}") for i, r in enumerate(reports)], ttl=600)
    if status_url.startswith("postgresql"):
        # What autovacuum does after inserts (autovacuum_vacuum_insert_threshold): it marks the
        # pages all-visible, so the GROUP BY reads the index alone (about 12 ms here; about 30 ms
        # right after the inserts, README "Message status").
        with sql_store(status_url).engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM dlrhook_message")
    api.get("/bulks/BIG", headers=BEARER)  # the first read opens the connection

    started = time.perf_counter()
    answer = api.get("/bulks/BIG", headers=BEARER)
    elapsed = time.perf_counter() - started

    assert answer.get_json() == {
        "bulkId": "BIG",
        "messages": 100_000,
        "final": 75_000,
        "byStatusGroup": {"DELIVERED": 75_000, "PENDING": 25_000},
        "secondsToFinal": {**dict.fromkeys(FINAL_BUCKETS, 0), "5": 75_000},
    }
    assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms"


def _renamed(r: DeliveryReport, message_id: str) -> DeliveryReport:
    return dataclasses.replace(r, message_id=message_id, key=f"{message_id}-key")


@pytest.mark.parametrize("order", [("delivery", "seen"), ("seen", "delivery")])
def test_a_real_whatsapp_seen_report_sets_seen_at_and_never_changes_the_status(
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    status_url: str,
    order: tuple[str, str],
) -> None:
    app = make_app(DLRHOOK_API_TOKEN=API_TOKEN, DLRHOOK_STATUS_STORE=status_url)
    client = app.test_client()
    settings = worker_env(DLRHOOK_HANDLERS="status", DLRHOOK_STATUS_STORE=status_url)
    for kind in order:  # through the WhatsApp notify URL, run by the worker each time
        answer = client.post("/notify/whatsapp", data=sample(f"whatsapp-{kind}.json"), content_type="application/json")
        assert answer.get_json()["accepted"] == 1
        run_jobs(settings)

    record = client.get("/messages/fb469d73-bf8b-4ee8-95c2-b6b3f8d1d9a0", headers=BEARER).get_json()
    assert record["channel"] == "WHATSAPP"
    assert record["status"]["name"] == "DELIVERED_TO_HANDSET" and record["final"] is True
    assert record["seenAt"].startswith("2019-04-09T")
    assert [h["status"] for h in record["history"]] == ["DELIVERED_TO_HANDSET"]  # the seen report is no status


@pytest.mark.parametrize("path", ["/messages/m-1", "/bulks/BULK-1"])
def test_a_status_database_that_is_down_is_a_503_problem_not_a_500(make_app: Callable[..., Flask], path: str) -> None:
    down = f"postgresql://dlrhook:secret-password@127.0.0.1:{free_port()}/dlrhook"  # nothing listens there
    client = make_app(DLRHOOK_API_TOKEN=API_TOKEN, DLRHOOK_STATUS_STORE=down).test_client()

    started = time.perf_counter()
    answer = client.get(path, headers=BEARER)

    assert time.perf_counter() - started < 5
    assert answer.status_code == 503
    assert answer.content_type == "application/problem+json"
    assert answer.headers["Retry-After"]
    body = answer.get_data(as_text=True)
    assert "status database could not read" in body
    assert "secret-password" not in body


def test_a_status_database_without_its_tables_is_a_503_naming_dlrhook_db_upgrade(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    empty = f"sqlite:///{tmp_path / 'never-upgraded.db'}"
    client = make_app(DLRHOOK_API_TOKEN=API_TOKEN, DLRHOOK_STATUS_STORE=empty).test_client()

    answer = client.get("/messages/m-1", headers=BEARER)

    assert answer.status_code == 503
    assert "dlrhook db upgrade" in answer.get_json()["detail"]
