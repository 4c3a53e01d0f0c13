"""dlrhook simulate: what it generates (no network here; the live runs are in tests/system/test_live_web.py)."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from dlrhook.dev.simulate import DEFAULT_MIX, Target, encode, generate, parse_mix
from dlrhook.errors import SimulateError
from dlrhook.parsing import parse_body
from dlrhook.schemas import ReportSchema
from dlrhook.wire import report_key

PHONE = re.compile(r"^(4179|4178|4176)\d{7}$|^(49151|49172)\d{8}$|^447\d{9}$|^38591\d{7}$")


def _generate(count: int, **options: object) -> tuple[list[dict[str, object]], int]:
    kwargs: dict[str, object] = {"mix": dict(DEFAULT_MIX), "duplicates": 0.0, "v3": False}
    kwargs.update(options)
    return generate(count, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def _keys(reports: list[dict[str, object]]) -> list[str]:
    return [report_key(ReportSchema().load(r)) for r in reports]


def test_it_generates_exactly_the_requested_count_with_the_requested_resends() -> None:
    reports, resent = _generate(1000, duplicates=0.2)
    assert len(reports) == 1000
    assert resent == 200
    keys = _keys(reports)
    assert len(keys) - len(set(keys)) == 200


def test_every_report_is_valid_and_the_mix_covers_every_status_group() -> None:
    reports, _ = _generate(2000)
    groups = Counter(ReportSchema().load(r)["status"]["group_name"] for r in reports)
    assert set(groups) == {"DELIVERED", "PENDING", "UNDELIVERABLE", "EXPIRED", "REJECTED"}
    assert groups["DELIVERED"] > groups["REJECTED"]
    errors = {(r["error"]["name"], r["error"]["permanent"]) for r in reports}  # type: ignore[index]
    assert ("EC_UNKNOWN_SUBSCRIBER", True) in errors
    assert ("EC_ABSENT_SUBSCRIBER", False) in errors


def test_pending_comes_before_delivered_for_the_same_message() -> None:
    reports, _ = _generate(500, mix={"pending-delivered": 1})
    first_group: dict[str, str] = {}
    for report in reports:
        first_group.setdefault(report["messageId"], report["status"]["groupName"])  # type: ignore[index]
    assert len(first_group) == 250
    assert set(first_group.values()) == {"PENDING"}


def test_resends_are_spread_over_the_run_not_bunched_at_its_end() -> None:
    reports, _ = _generate(1000, duplicates=0.2)
    seen: set[str] = set()
    resent_at = []
    for index, key in enumerate(_keys(reports)):
        if key in seen:
            resent_at.append(index)
        seen.add(key)
    assert len(resent_at) == 200
    assert min(resent_at) < 500 < max(resent_at)


def test_phone_numbers_are_realistic_mobile_numbers() -> None:
    reports, _ = _generate(300)
    assert all(PHONE.match(str(r["to"])) for r in reports)


def test_the_same_seed_and_time_give_the_same_reports() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    a, _ = generate(50, mix=dict(DEFAULT_MIX), duplicates=0.1, v3=False, rng=random.Random(3), now=now)
    b, _ = generate(50, mix=dict(DEFAULT_MIX), duplicates=0.1, v3=False, rng=random.Random(3), now=now)
    assert json.dumps(a) == json.dumps(b)
    assert all(str(r["doneAt"]).startswith(("2026-01-01", "2026-01-02", "2026-01-03")) for r in a)


def test_v3_names_are_used_and_read_like_v1() -> None:
    reports, _ = _generate(20, v3=True)
    for report in reports:
        assert {"sender", "messageCount", "platform"} <= set(report)
        assert not {"from", "smsCount", "entityId"} & set(report)
        loaded = ReportSchema().load(report)
        assert loaded["sender"] == "InfoSMS"
        assert loaded["entity_id"] == "promotional-traffic"


@pytest.mark.parametrize("v3", [False, True])
def test_xml_bodies_parse_back_to_the_same_reports(v3: bool) -> None:
    reports, _ = _generate(30, v3=v3)
    body = encode(reports, "xml", v3=v3)
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?><' + (b"DeliveryReports" if v3 else b"reportResponse")
    )
    parsed = parse_body(body, "application/xml")
    assert _keys(parsed) == _keys(reports)
    assert [ReportSchema().load(p)["price"] for p in parsed] == [ReportSchema().load(r)["price"] for r in reports]


def test_json_bodies_carry_a_results_list() -> None:
    reports, _ = _generate(5)
    body = encode(reports, "json")
    assert json.loads(body) == {"results": reports}
    assert _keys(parse_body(body, "application/json")) == _keys(reports)


def test_the_token_goes_in_the_query_and_is_never_displayed() -> None:
    target = Target.from_options(
        "http://127.0.0.1:8000/notify?x=1", token="t0k&n", basic="u:p", content_type="application/json", timeout=5
    )
    assert target.path == "/notify?x=1&token=t0k%26n"
    assert target.headers["Authorization"] == "Basic dTpw"
    assert "t0k" not in target.display
    assert target.display == "http://127.0.0.1:8000/notify"


@pytest.mark.parametrize("text", ["delivered", "nope=1", "delivered=x", "delivered=-1", "delivered=0"])
def test_a_bad_mix_is_refused_with_its_option_name(text: str) -> None:
    with pytest.raises(SimulateError, match="--mix"):
        parse_mix(text)


def test_a_mix_names_weights() -> None:
    assert parse_mix("delivered=3, rejected=1") == {"delivered": 3.0, "rejected": 1.0}
    assert parse_mix(None) == DEFAULT_MIX


def test_a_channels_reports_are_valid_and_a_share_of_delivered_messages_is_reported_seen() -> None:
    reports, _ = _generate(1000, channel="whatsapp", seen=0.3)
    loaded = [ReportSchema().load(r) for r in reports]

    seen = [r for r in loaded if r["kind"] == "seen"]
    delivered = {r["message_id"] for r in loaded if r["kind"] == "delivery" and r["status"]["id"] == 5}
    assert len(reports) == 1000
    assert 150 < len(seen) < 300  # 0.3 of the ~80 % of messages that end delivered
    assert {r["message_id"] for r in seen} <= delivered
    assert all(r["to"] == r_raw["to"] for r, r_raw in zip(loaded, reports, strict=True) if r["kind"] == "seen")
    assert not any("channel" in r for r in reports)  # WhatsApp bodies do not name their channel


def test_some_seen_reports_are_sent_before_their_delivery_report() -> None:
    reports, _ = _generate(2000, channel="viber", seen=0.5)
    first: dict[str, str] = {}
    for report in reports:
        first.setdefault(str(report["messageId"]), "seen" if "seenAt" in report else "delivery")
    assert "seen" in first.values() and "delivery" in first.values()


def test_the_messages_api_form_names_its_channel_and_destination_and_has_an_integer_mcc_mnc() -> None:
    reports, _ = _generate(300, channel="viber", seen=0.4, messages_api=True)

    assert {r["event"] for r in reports} == {"DELIVERY", "SEEN"}
    assert {r["channel"] for r in reports} == {"VIBER_BM"}
    assert all("destination" in r and "to" not in r for r in reports)
    assert all(isinstance(r["mccMnc"], int) for r in reports if r["event"] == "DELIVERY")
    assert {ReportSchema().load(r)["kind"] for r in reports} == {"delivery", "seen"}


def test_email_reports_go_to_email_addresses() -> None:
    reports, _ = _generate(50, channel="email")
    assert all(str(r["to"]).endswith("@example.com") and "browserLink" in r for r in reports)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"channel": "sms", "seen": 0.3}, "--seen"),
        ({"channel": "email", "messages_api": True}, "--messages-api"),
        ({"channel": "fax"}, "--channel"),
    ],
)
def test_a_channel_option_infobip_would_not_send_is_refused(options: dict, option: str) -> None:
    with pytest.raises(SimulateError, match=option):
        _generate(10, **options)


def test_the_channel_is_appended_to_a_notify_url() -> None:
    from dlrhook.dev.simulate import channel_url

    assert channel_url("https://h/notify?token=t", "whatsapp") == "https://h/notify/whatsapp?token=t"
    assert channel_url("https://h/notify", "sms") == "https://h/notify"
    assert channel_url("https://h/notify/viber", "whatsapp") == "https://h/notify/viber"


@pytest.mark.parametrize(
    ("channel", "fmt", "messages_api", "extra"),
    [
        ("sms", "xml", False, {}),
        ("mms", "xml", False, {}),
        ("viber", "xml", False, {}),
        ("viber-bot", "xml", False, {}),
        ("rcs", "xml", False, {}),
        ("sms", "xml", True, {}),
        ("whatsapp", "json", False, {"seen": 0.5}),
        ("rcs", "json", False, {"seen": 0.5}),
        ("email", "json", False, {"events": 0.8}),
    ],
)
def test_each_form_simulate_sends_is_accepted_at_its_channels_url_and_none_is_quarantined(
    client: FlaskClient, channel: str, fmt: str, messages_api: bool, extra: dict[str, float]
) -> None:
    from dlrhook.dev.simulate import channel_url, check_channel, push_bodies

    check_channel(
        channel, seen=extra.get("seen", 0.0), messages_api=messages_api, fmt=fmt, events=extra.get("events", 0.0)
    )
    reports, _ = _generate(300, channel=channel, messages_api=messages_api, **extra)
    bodies = push_bodies(reports, fmt=fmt, v3=False, channel=channel, messages_api=messages_api, batch_size=50)
    url = channel_url("http://x/notify", "messages" if messages_api else channel).removeprefix("http://x")
    events = [b for n, b in bodies if b.startswith(b'{"notificationType"')]
    if extra.get("events"):
        assert len(events) > 50  # user events, each a body of its own
    accepted = 0
    for count, body in bodies:
        kind = "application/xml" if body.startswith(b"<?xml") else "application/json"
        answer = client.post(url, data=body, content_type=kind)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        result = answer.get_json()
        assert result["quarantined"] == 0, result
        accepted += result["accepted"] + result["duplicates"]
        assert result["accepted"] + result["duplicates"] == count
    assert accepted == len(reports)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channel": "whatsapp", "fmt": "xml"}, "no XML reports for whatsapp"),
        ({"channel": "email", "fmt": "xml"}, "no XML reports for email"),
        ({"channel": "viber", "fmt": "xml", "seen": 0.5}, "JSON seen reports only"),
        ({"channel": "sms", "events": 0.5}, "--channel email"),
        ({"channel": "email", "events": 2.0}, "fraction"),
    ],
)
def test_forms_infobips_spec_does_not_have_are_refused_naming_the_option(options: dict, message: str) -> None:
    from dlrhook.dev.simulate import check_channel

    options = {"seen": 0.0, "messages_api": False, **options}
    with pytest.raises(SimulateError, match=message):
        check_channel(options.pop("channel"), **options)
