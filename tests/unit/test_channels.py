"""Every channel's reports, delivery and seen, pushed to /notify/<channel> and handed to a handler.

Each sample in tests/samples/ is written from Infobip's published examples (docs/infobip.md,
"Other channels"); each goes through the real app and the real drain job to the recording
handler ``test-record``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient

from dlrhook.ingest import ingest
from dlrhook.report import DeliveryReport
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.plugins.dlrhook_testplugin import calls
from tests.support import sample

JSON = "application/json"
DELIVERED = "DELIVERED_TO_HANDSET"
STATUS = "status"
NAMELESS = {"name": None, "description": None}


def received(conn: redis_lib.Redis) -> list[dict[str, str]]:
    """What ``test-record`` saw, by attribute (each value a repr)."""
    return calls(conn, "test-record")


def seen_time(text: str) -> str:
    return repr(datetime.fromisoformat(text))


@pytest.fixture
def deliver(
    make_app: Callable[..., Flask], worker_env: Callable[..., Settings], run_jobs: Callable[[Settings], None]
) -> Callable[..., list[dict]]:
    """``deliver("/notify/whatsapp", "whatsapp-seen.json", ...)``: POST each sample there, run
    the worker's jobs, and return the push answers."""
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    client = make_app().test_client()

    def post(url: str, *names: str) -> list[dict]:
        answers = []
        for name in names:
            answer = client.post(url, data=sample(name), content_type=JSON)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            answers.append(answer.get_json())
        run_jobs(settings)
        return answers

    return post


@pytest.mark.parametrize(
    ("url", "name", "channel", "kind", "to", "status"),
    [
        ("/notify/whatsapp", "whatsapp-delivery.json", "WHATSAPP", "delivery", "41793026731", "DELIVERED_TO_HANDSET"),
        ("/notify/whatsapp", "whatsapp-seen.json", "WHATSAPP", "seen", "41793026731", None),
        ("/notify/viber", "viber-delivery.json", "VIBER", "delivery", "385981234567", "DELIVERED_TO_HANDSET"),
        ("/notify/viber", "viber-seen.json", "VIBER", "seen", "385981234567", None),
        ("/notify/rcs", "rcs-delivery.json", "RCS", "delivery", "441134960001", "DELIVERED_TO_HANDSET"),
        ("/notify/rcs", "rcs-seen.json", "RCS", "seen", "441134960001", None),
        ("/notify/mms", "mms-delivery.json", "MMS", "delivery", "41793026727", "UNDELIVERABLE_NOT_DELIVERED"),
        ("/notify/email", "email-delivery.json", "EMAIL", "delivery", "jane.doe@example.com", "DELIVERED_TO_HANDSET"),
        (
            "/notify/messages",
            "messages-api-delivery.json",
            "VIBER_BM",
            "delivery",
            "385981234567",
            "DELIVERED_TO_HANDSET",
        ),
        ("/notify/messages", "messages-api-seen.json", "VIBER_BM", "seen", "385981234567", None),
        ("/notify", "v3-one-delivered.json", "SMS", "delivery", "41793026727", "DELIVERED_TO_HANDSET"),
        ("/notify/sms", "v1-one-delivered.json", "SMS", "delivery", "41793026731", "DELIVERED_TO_HANDSET"),
    ],
)
def test_each_channels_sample_reaches_the_handler_with_its_channel_and_kind(
    conn: redis_lib.Redis,
    deliver: Callable[..., list[dict]],
    url: str,
    name: str,
    channel: str,
    kind: str,
    to: str,
    status: str | None,
) -> None:
    [answer] = deliver(url, name)

    assert answer == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    [report] = received(conn)
    raw = json.loads(sample(name))["results"][0]
    assert report["channel"] == repr(channel)
    assert report["kind"] == repr(kind)
    assert report["to"] == repr(to)
    assert report["status.name"] == repr(status)
    assert json.loads(report["raw"]) == json.loads(json.dumps(raw, sort_keys=True))
    if kind == "seen":
        assert report["seen_at"] == seen_time(raw["seenAt"].replace("+0000", "+00:00").replace("-0300", "-03:00"))
        assert (report["error.name"], report["final"], report["done_at"]) == ("None", "False", "None")
    else:
        assert report["seen_at"] == "None"


def test_a_seen_reports_to_is_the_recipient_as_in_the_specs_examples(
    conn: redis_lib.Redis, deliver: Callable[..., list[dict]]
) -> None:
    deliver("/notify/whatsapp", "whatsapp-delivery.json", "whatsapp-seen.json")

    delivery, seen = received(conn)
    assert delivery["to"] == seen["to"] == repr("41793026731")
    assert seen["sender"] == repr("385919998888")  # the business number, Infobip's `from`
    assert json.loads(seen["raw"])["from"] == "385919998888"  # the raw report as received


def test_a_seen_report_whose_contact_is_its_from_is_swapped_so_that_to_is_the_end_user(
    conn: redis_lib.Redis, make_app: Callable[..., Flask], worker_env: Callable[..., Settings], run_jobs: Callable
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    raw = {
        "messageId": "m-contact",
        "from": "41793026731",
        "to": "385919998888",
        "seenAt": "2019-04-09T16:02:11.251-0300",
        "contact": {"phoneNumber": "41793026731"},  # the end user, as WhatsApp writes it
    }
    answer = make_app().test_client().post("/notify/whatsapp", json={"results": [raw]})
    assert answer.get_json()["accepted"] == 1
    run_jobs(settings)

    [seen] = received(conn)
    assert (seen["to"], seen["sender"]) == (repr("41793026731"), repr("385919998888"))
    assert json.loads(seen["raw"]) == raw


def test_the_messages_api_form_reads_destination_integer_mcc_mnc_and_platform(
    conn: redis_lib.Redis, deliver: Callable[..., list[dict]]
) -> None:
    deliver("/notify/messages", "messages-api-delivery.json")

    [report] = received(conn)
    assert report["mcc_mnc"] == repr("21901")
    assert report["sender"] == repr("InfobipViber")
    assert report["entity_id"] == repr("promotional-traffic-entity")
    assert report["campaign_reference_id"] == repr("autumn")
    assert report["message_count"] == "1"
    assert json.loads(report["raw"])["networkId"] == 3


@pytest.mark.parametrize("order", [("delivery", "seen"), ("seen", "delivery")])
def test_a_seen_report_and_its_delivery_report_both_reach_the_handler_in_either_order(
    conn: redis_lib.Redis, deliver: Callable[..., list[dict]], order: tuple[str, str]
) -> None:
    names = [f"whatsapp-{kind}.json" for kind in order]

    answers = deliver("/notify/whatsapp", *names)

    assert [a["accepted"] for a in answers] == [1, 1]
    assert [r["kind"] for r in received(conn)] == [repr(kind) for kind in order]
    assert len({r["key"] for r in received(conn)}) == 2
    assert {r["message_id"] for r in received(conn)} == {repr("fb469d73-bf8b-4ee8-95c2-b6b3f8d1d9a0")}


def test_a_seen_report_pushed_twice_is_a_duplicate(conn: redis_lib.Redis, deliver: Callable[..., list[dict]]) -> None:
    first, again = deliver("/notify/viber", "viber-seen.json", "viber-seen.json")

    assert (first["accepted"], again["duplicates"]) == (1, 1)
    assert len(received(conn)) == 1


def test_a_channel_named_in_the_body_wins_over_the_url(
    conn: redis_lib.Redis, deliver: Callable[..., list[dict]]
) -> None:
    deliver("/notify/whatsapp", "rcs-delivery.json")  # the body says "channel": "RCS"

    [report] = received(conn)
    assert report["channel"] == repr("RCS")


def test_plain_notify_is_sms_unless_the_body_names_a_channel(
    conn: redis_lib.Redis, deliver: Callable[..., list[dict]]
) -> None:
    deliver("/notify", "whatsapp-delivery.json", "messages-api-delivery.json")

    assert [r["channel"] for r in received(conn)] == [repr("SMS"), repr("VIBER_BM")]


def test_any_lower_or_upper_case_channel_name_is_taken_with_dashes_as_underscores(
    conn: redis_lib.Redis, deliver: Callable[..., list[dict]]
) -> None:
    deliver("/notify/Zalo", "viber-delivery.json")
    deliver("/notify/apple-mb", "mms-delivery.json")

    assert [r["channel"] for r in received(conn)] == [repr("ZALO"), repr("APPLE_MB")]


@pytest.mark.parametrize("url", ["/notify/what.sapp", "/notify/" + "x" * 33, "/notify/sms/extra"])
def test_a_url_that_names_no_valid_channel_is_404_problem_json(client: FlaskClient, url: str) -> None:
    answer = client.post(url, data=sample("v1-one-delivered.json"), content_type=JSON)

    assert answer.status_code == 404
    assert answer.content_type == "application/problem+json"


def test_the_channel_url_has_the_same_auth_as_notify(make_app: Callable[..., Flask]) -> None:
    client = make_app(DLRHOOK_TOKEN="s3cret").test_client()

    assert client.post("/notify/whatsapp", data=sample("whatsapp-seen.json"), content_type=JSON).status_code == 401
    ok = client.post("/notify/whatsapp?token=s3cret", data=sample("whatsapp-seen.json"), content_type=JSON)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"messageId": "m-1", "event": "SEEN", "to": "41793026731"}, "seenAt"),
        ({"messageId": "m-1", "event": "SEEN", "seenAt": None}, "seenAt"),
        (
            {"messageId": "m-1", "event": "DELIVERY", "channel": "SMS", "doneAt": "2024-09-02T08:00:04.321+0000"},
            "status",
        ),
        (
            {"messageId": "m-1", "from": "41793026731", "to": "385919998888", "sentAt": "2019-04-09T16:00:58.647-0300"},
            "status",
        ),
        ({"messageId": "m-1", "event": "CLICK", "channel": "WHATSAPP"}, "event"),
        ({"messageId": "m-1", "seenAt": "yesterday"}, "seenAt"),
    ],
)
def test_a_report_that_is_not_what_it_claims_is_quarantined_naming_the_field(
    client: FlaskClient, conn: redis_lib.Redis, report: dict, field: str
) -> None:
    answer = client.post("/notify/whatsapp", json={"results": [report]})

    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["accepted"], body["quarantined"]) == (0, 1)
    assert field in body["errors"]["0"]
    assert conn.hlen(keys.QUARANTINE) == 1


def test_a_messages_api_report_without_a_channel_at_notify_messages_is_quarantined(
    client: FlaskClient, conn: redis_lib.Redis
) -> None:
    report = json.loads(sample("messages-api-delivery.json"))["results"][0]
    del report["channel"]

    answer = client.post("/notify/messages", json={"results": [report]})

    assert answer.get_json()["errors"]["0"] == {
        "channel": ["Missing data for required field (the URL names no channel)."]
    }
    [entry] = [json.loads(v) for v in conn.hvals(keys.QUARANTINE)]
    assert entry["channel"] == ""


def test_a_quarantined_report_is_replayed_under_the_channel_its_url_named(
    conn: redis_lib.Redis, settings: Settings
) -> None:
    from dlrhook.replay import replay_quarantine

    report = json.loads(sample("whatsapp-delivery.json"))["results"][0]
    report["messageCount"] = "many"
    ingest(conn, [report], source="push", settings=settings, channel="WHATSAPP")
    [qid] = [k.decode() for k in conn.hkeys(keys.QUARANTINE)]
    entry = json.loads(conn.hget(keys.QUARANTINE, qid) or b"{}")
    entry["raw"]["messageCount"] = 1  # what an operator fixes before a replay
    conn.hset(keys.QUARANTINE, qid, json.dumps(entry))

    assert replay_quarantine(conn, settings, [qid]).accepted == [qid]

    [(_, fields)] = conn.xrange(keys.REPORTS)
    assert json.loads(fields[b"w"])["report"]["channel"] == "WHATSAPP"


def test_the_dedup_key_of_an_sms_delivery_report_is_unchanged_by_channels(settings: Settings) -> None:
    from dlrhook.schemas import ReportSchema
    from dlrhook.wire import report_key

    loaded = ReportSchema().load(json.loads(sample("v1-one-delivered.json"))["results"][0])

    # The key 0.2 computed for this report (message id, status, error, done time): a report
    # remembered before an upgrade is still a duplicate after it.
    assert report_key(loaded) == "fd0d22d6644714e3a79813f1286b2363"


def test_a_wire_queued_before_channels_loads_as_an_sms_delivery_report() -> None:
    wire = {
        "key": "k",
        "source": "push",
        "received_at": "2026-11-30T10:00:00+00:00",
        "report": {
            "message_id": "m-1",
            "status": {"group_id": 3, "group_name": "DELIVERED", "id": 5, "name": None, "description": None},
        },
        "raw": {"messageId": "m-1"},
    }

    report = DeliveryReport.from_wire(wire)

    assert (report.channel, report.kind, report.seen_at, report.final) == ("SMS", "delivery", None, True)


def test_a_seen_report_survives_the_wire_and_is_not_final() -> None:
    from dlrhook.schemas import ReportSchema
    from dlrhook.wire import report_key, wire_from_loaded

    raw = json.loads(sample("rcs-seen.json"))["results"][0]
    loaded = ReportSchema().load(raw)
    loaded["channel"] = "RCS"
    now = datetime.now(UTC)
    wire = json.loads(json.dumps(wire_from_loaded(loaded, raw, key=report_key(loaded), source="push", received_at=now)))

    report = DeliveryReport.from_wire(wire)

    assert (report.status, report.error, report.final, report.kind) == (None, None, False, "seen")
    assert report.seen_at == datetime(2024, 3, 1, 9, 5, 30, 500000, tzinfo=UTC)
    assert DeliveryReport.from_wire(json.loads(json.dumps(report.to_wire()))) == report


def test_the_log_handler_logs_a_seen_report_and_masks_an_email_address(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="log")
    client = make_app().test_client()
    client.post("/notify/email", data=sample("email-delivery.json"), content_type=JSON)
    client.post("/notify/whatsapp", data=sample("whatsapp-seen.json"), content_type=JSON)
    with caplog.at_level(logging.INFO, logger="dlrhook.reports"):
        run_jobs(settings)

    email, seen = [r for r in caplog.records if r.name == "dlrhook.reports"]
    assert (getattr(email, "to"), getattr(email, "channel")) == ("j***@example.com", "EMAIL")  # noqa: B009
    assert "jane.doe@example.com" not in caplog.text
    assert seen.getMessage() == "seen report"
    assert (getattr(seen, "status"), getattr(seen, "kind")) == (None, "seen")  # noqa: B009
    assert getattr(seen, "seen_at") == "2019-04-09T16:02:11.251000-03:00"  # noqa: B009


def test_reports_are_counted_by_channel(client: FlaskClient, conn: redis_lib.Redis) -> None:
    from prometheus_client import REGISTRY

    def count(channel: str, outcome: str = "accepted") -> float:
        labels = {"source": "push", "outcome": outcome, "channel": channel}
        return REGISTRY.get_sample_value("dlrhook_reports_total", labels) or 0.0

    def timed(channel: str) -> float:
        labels = {"status_group": "DELIVERED", "channel": channel}
        return REGISTRY.get_sample_value("dlrhook_delivery_seconds_count", labels) or 0.0

    before = (count("WHATSAPP"), count("VIBER_BM"), count("OTHER"), timed("WHATSAPP"), count("RCS", "quarantined"))
    stream.register(conn, ["test-record"])
    client.post("/notify/whatsapp", data=sample("whatsapp-delivery.json"), content_type=JSON)
    client.post("/notify/whatsapp", data=sample("whatsapp-seen.json"), content_type=JSON)
    client.post("/notify/messages", data=sample("messages-api-delivery.json"), content_type=JSON)
    client.post("/notify/made-up", data=sample("viber-delivery.json"), content_type=JSON)
    client.post("/notify/rcs", json={"results": [{"messageId": "m"}]})

    after = (count("WHATSAPP"), count("VIBER_BM"), count("OTHER"), timed("WHATSAPP"), count("RCS", "quarantined"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1, 1, 1]


def test_the_forward_handler_forwards_a_seen_report_with_no_status(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    from standardwebhooks.webhooks import Webhook

    from tests.support.receiver import SECRET, Receiver

    receiver = Receiver()
    try:
        settings = worker_env(
            DLRHOOK_HANDLERS="forward", DLRHOOK_FORWARD_URL=receiver.url, DLRHOOK_FORWARD_SECRET=SECRET
        )
        make_app().test_client().post("/notify/viber", data=sample("viber-seen.json"), content_type=JSON)
        run_jobs(settings)
    finally:
        receiver.server.shutdown()

    [(headers, body)] = receiver.requests
    payload = Webhook(SECRET).verify(body, headers)
    report = payload["report"]
    assert (report["kind"], report["channel"], report["status"], report["error"]) == ("seen", "VIBER", None, None)
    assert report["seen_at"] == "2023-07-04T14:12:40.001000+00:00"
    assert payload["final"] is False
