"""POST /notify with Infobip's own sample payloads: stored, queued, deduplicated."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from dlrhook import store
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.support import sample

JSON = "application/json"


def inbox(conn: redis.Redis) -> list[dict]:
    return [json.loads(fields[b"w"]) for _, fields in conn.xrange(keys.REPORTS)]


PENDING = keys.pending_key("test-record")


@pytest.fixture(autouse=True)
def registered_handler(conn: redis.Redis) -> None:
    """A worker ran once with the handler test-record: pushes wake its drain."""
    stream.register(conn, ["test-record"])


@pytest.mark.parametrize(
    ("name", "content_type", "count"),
    [
        ("v1-one-delivered.json", JSON, 1),
        ("v1-two-delivered.json", JSON, 2),
        ("v3-one-delivered.json", JSON, 1),
        ("v1-one-delivered.xml", "application/xml", 1),
        ("v1-one-delivered.xml", "text/xml; charset=utf-8", 1),
        ("empty.json", JSON, 0),
    ],
)
def test_each_sample_is_accepted_and_queued(
    client: FlaskClient, conn: redis.Redis, name: str, content_type: str, count: int
) -> None:
    answer = client.post("/notify", data=sample(name), content_type=content_type)

    assert answer.status_code == 200
    assert answer.get_json() == {"accepted": count, "duplicates": 0, "quarantined": 0}
    assert len(inbox(conn)) == count
    if count:
        assert conn.exists(PENDING)
        assert conn.llen(store.queue(conn, _settings(client)).key) == 1


def _settings(client: FlaskClient):  # type: ignore[no-untyped-def]
    return client.application.extensions["dlrhook"].settings


def test_the_same_file_posted_again_counts_as_duplicates(client: FlaskClient, conn: redis.Redis) -> None:
    client.post("/notify", data=sample("v1-two-delivered.json"), content_type=JSON)

    again = client.post("/notify", data=sample("v1-two-delivered.json"), content_type=JSON)

    assert again.get_json() == {"accepted": 0, "duplicates": 2, "quarantined": 0}
    assert len(inbox(conn)) == 2


def test_xml_and_json_forms_of_one_report_are_one_report(client: FlaskClient, conn: redis.Redis) -> None:
    # The XML sample and the v3 JSON sample describe the same message, status, error and time.
    client.post("/notify", data=sample("v3-one-delivered.json"), content_type=JSON)

    answer = client.post("/notify", data=sample("v1-one-delivered.xml"), content_type="application/xml")

    assert answer.get_json() == {"accepted": 0, "duplicates": 1, "quarantined": 0}


def test_a_new_status_for_the_same_message_is_a_new_report(client: FlaskClient, conn: redis.Redis) -> None:
    body = json.loads(sample("v1-one-delivered.json"))
    report = body["results"][0]
    pending = {**report, "status": {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"}}
    client.post("/notify", json={"results": [pending]})

    answer = client.post("/notify", json=body)

    assert answer.get_json()["accepted"] == 1
    assert len(inbox(conn)) == 2


def test_each_registered_handler_gets_a_drain_job_of_its_own(client: FlaskClient, conn: redis.Redis) -> None:
    stream.register(conn, ["test-record-too"])
    client.post("/notify", data=sample("v1-two-delivered.json"), content_type=JSON)

    jobs = store.queue(conn, _settings(client)).get_jobs()
    assert sorted(job.args[0] for job in jobs) == ["test-record", "test-record-too"]
    assert len(inbox(conn)) == 2  # one copy of each report, whatever the number of handlers


def test_reports_pushed_before_any_worker_ran_wait_in_the_stream_without_a_job(
    client: FlaskClient, conn: redis.Redis
) -> None:
    conn.delete(keys.HANDLERS)
    client.post("/notify", data=sample("v1-two-delivered.json"), content_type=JSON)

    assert len(inbox(conn)) == 2
    assert store.queue(conn, _settings(client)).count == 0  # the first worker's start queues it


def test_many_pushes_share_one_drain_job(client: FlaskClient, conn: redis.Redis) -> None:
    body = json.loads(sample("v1-one-delivered.json"))
    for n in range(20):
        body["results"][0]["messageId"] = f"m-{n}"
        assert client.post("/notify", json=body).status_code == 200

    assert len(inbox(conn)) == 20
    assert conn.llen(store.queue(conn, _settings(client)).key) == 1


def test_the_stored_report_is_normalised_and_keeps_the_raw_report(client: FlaskClient, conn: redis.Redis) -> None:
    body = json.loads(sample("v3-one-delivered.json"))
    body["results"][0]["somethingNew"] = {"x": 1}
    client.post("/notify", json=body)

    (wire,) = inbox(conn)

    report = wire["report"]
    assert wire["source"] == "push"
    assert report["message_id"] == "MESSAGE-ID-123-xyz"
    assert report["sender"] == "InfoSMS"
    assert report["message_count"] == 1
    assert report["entity_id"] == "promotional-traffic-entity"
    assert report["price"] == {"price_per_message": "0.01", "currency": "EUR"}
    assert report["error"]["group_name"] == "OK"
    assert wire["raw"]["somethingNew"] == {"x": 1}
    assert wire["raw"]["price"]["pricePerMessage"] == 0.01


def test_one_invalid_report_is_quarantined_and_its_siblings_accepted(client: FlaskClient, conn: redis.Redis) -> None:
    body = json.loads(sample("v1-two-delivered.json"))
    body["results"][1]["smsCount"] = "many"
    body["results"].append("not an object")

    answer = client.post("/notify", json=body)

    assert answer.status_code == 200
    result = answer.get_json()
    assert (result["accepted"], result["duplicates"], result["quarantined"]) == (1, 0, 2)
    assert result["errors"]["1"] == {"smsCount": ["Not a valid integer."]}
    assert "2" in result["errors"]
    entries = [json.loads(v) for v in conn.hvals(keys.QUARANTINE)]
    canonical = sorted(json.dumps(e["raw"], sort_keys=True) for e in entries)
    assert canonical == sorted(json.dumps(r, sort_keys=True) for r in body["results"][1:])
    assert all(e["received_at"] and e["source"] == "push" for e in entries)
    assert len(inbox(conn)) == 1


def test_a_push_is_recorded_for_the_pollers_fallback_mode(client: FlaskClient, conn: redis.Redis) -> None:
    client.post("/notify", data=sample("empty.json"), content_type=JSON)
    assert not conn.exists(keys.LAST_PUSH)  # an empty push stores nothing

    client.post("/notify", data=sample("v1-one-delivered.json"), content_type=JSON)

    assert float(conn.get(keys.LAST_PUSH) or 0) > 0


def test_healthz_and_readyz_answer(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok"}


def test_readyz_tells_the_auth_mode_and_depths_only_to_the_read_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(DLRHOOK_TOKEN="push", DLRHOOK_API_TOKEN="read").test_client()

    assert client.get("/readyz?token=push").get_json() == {"status": "ok"}
    assert client.get("/readyz", headers={"Authorization": "Bearer push"}).get_json() == {"status": "ok"}
    full = client.get("/readyz", headers={"Authorization": "Bearer read"}).get_json()
    assert (full["status"], full["redis"], full["auth"], full["stream"]) == ("ok", "ok", "token", 0)
    assert full["status_store"] == {"kind": "redis", "state": "ok"}


def test_readyz_tells_the_read_token_whether_the_status_database_answers(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    read = {"Authorization": "Bearer read"}
    sqlite = make_app(DLRHOOK_API_TOKEN="read", DLRHOOK_STATUS_STORE=f"sqlite:///{tmp_path}/s.db").test_client()
    assert sqlite.get("/readyz", headers=read).get_json()["status_store"] == {"kind": "sqlite", "state": "ok"}
    # Nothing listens on port 1: the database is down, the service still ready (pushes go to Redis).
    down = make_app(DLRHOOK_API_TOKEN="read", DLRHOOK_STATUS_STORE="postgresql://u:secret@127.0.0.1:1/x")
    answer = down.test_client().get("/readyz", headers=read)
    found = answer.get_json()
    assert answer.status_code == 200 and found["status"] == "ok"
    assert found["status_store"]["kind"] == "postgresql"
    assert found["status_store"]["state"].startswith("the status database could not answer")
    assert "secret" not in answer.get_data(as_text=True)
    # A stranger is told nothing of it.
    assert down.test_client().get("/readyz").get_json() == {"status": "ok"}


def test_a_batch_stored_after_a_drain_job_started_gets_a_job_of_its_own(client: FlaskClient, conn: redis.Redis) -> None:
    body = json.loads(sample("v1-one-delivered.json"))
    client.post("/notify", json=body)
    conn.delete(PENDING)  # what a drain job does first, before it drains the inbox

    body["results"][0]["messageId"] = "another"
    client.post("/notify", json=body)

    assert conn.llen(store.queue(conn, _settings(client)).key) == 2
    assert conn.exists(PENDING)


def test_a_batch_of_only_invalid_reports_queues_no_job(client: FlaskClient, conn: redis.Redis) -> None:
    client.post("/notify", json={"results": [{"messageId": "x"}]})

    assert conn.llen(store.queue(conn, _settings(client)).key) == 0
    assert conn.hlen(keys.QUARANTINE) == 1


def test_each_connection_stores_in_its_own_redis(conn: redis.Redis, redis_url: str, settings) -> None:  # type: ignore[no-untyped-def]
    # The store script object is shared by every connection of the process; each call must still
    # run on the caller's connection (here database 1 after database 0), not the first one seen.
    from dlrhook.ingest import ingest

    other = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1")
    other.flushdb()
    first, second = json.loads(sample("v1-two-delivered.json"))["results"]
    try:
        ingest(conn, [first], source="push", settings=settings)
        ingest(other, [second], source="push", settings=settings)

        assert conn.xlen(keys.REPORTS) == 1
        assert other.xlen(keys.REPORTS) == 1
    finally:
        other.flushdb()
        other.close()


def _chunked(client: FlaskClient, body: bytes):  # type: ignore[no-untyped-def]
    """A POST whose body has no Content-Length, as a chunked one reaches the app from gunicorn."""
    return client.post(
        "/notify",
        input_stream=io.BytesIO(body),
        content_type=JSON,
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )


def test_a_chunked_body_past_max_body_is_a_413_never_cut_and_parsed(make_app: Callable[..., Flask]) -> None:
    client = make_app(DLRHOOK_MAX_BODY="2048").test_client()
    body = sample("v1-one-delivered.json")

    assert _chunked(client, body).status_code == 200
    refused = _chunked(client, body[:-2] + b" " * 3000 + body[-2:])
    assert refused.status_code == 413
    assert "DLRHOOK_MAX_BODY (2048 bytes)" in refused.get_json()["detail"]
