"""ReportSchema: v1 and v3 names, Infobip's quirks, and what it must never reject."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from dlrhook.parsing import parse_json, parse_xml, results_of
from dlrhook.report import DeliveryReport, Error, Price, Status
from dlrhook.schemas import ErrorSchema, PriceSchema, ReportSchema, StatusSchema
from dlrhook.wire import report_key, wire_from_loaded
from tests.support import sample

SCHEMA = ReportSchema()


def load_sample(name: str) -> dict:
    (raw,) = results_of(parse_json(sample(name)))
    return SCHEMA.load(raw)


def test_v1_json_is_read_with_aware_times_and_exact_money() -> None:
    report = load_sample("v1-one-delivered.json")

    assert report["sent_at"] == datetime(2015, 2, 12, 9, 58, 20, 323000, tzinfo=timezone(timedelta(hours=1)))
    assert report["price"]["price_per_message"] == Decimal("0.01")
    assert report["message_count"] == 1
    assert report["status"]["group_name"] == "DELIVERED"
    assert report["final"] is True


def test_v3_names_map_onto_the_same_fields() -> None:
    report = load_sample("v3-one-delivered.json")

    assert report["sender"] == "InfoSMS"
    assert report["message_count"] == 1
    assert report["entity_id"] == "promotional-traffic-entity"
    assert report["application_id"] == "marketing-automation-application"
    assert report["campaign_reference_id"] == "summersale"


def test_xml_reads_to_the_same_report_as_json_with_ok_upper_cased() -> None:
    (raw,) = parse_xml(sample("v1-one-delivered.xml"))
    report = SCHEMA.load(raw)

    assert report["error"]["group_name"] == "OK"  # the XML says "Ok"
    assert report["error"]["permanent"] is False
    assert report["price"]["price_per_message"] == Decimal("0.01")
    assert report["entity_id"] == "promotional-traffic-entity"
    assert report_key(report) == report_key(load_sample("v3-one-delivered.json"))


def test_unknown_status_groups_and_ids_pass_through() -> None:
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    raw["status"] = {"groupId": 42, "groupName": "Teleported", "id": 999, "name": "SOMETHING_NEW"}

    report = SCHEMA.load(raw)

    assert report["status"]["group_name"] == "TELEPORTED"
    assert report["final"] is False


def test_an_integer_mcc_mnc_is_read_as_text() -> None:
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    raw["mccMnc"] = 22801

    assert SCHEMA.load(raw)["mcc_mnc"] == "22801"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messageId": None}, "messageId"),
        ({"status": None}, "status"),
        ({"smsCount": "lots"}, "smsCount"),
        ({"sentAt": "yesterday"}, "sentAt"),
        ({"doneAt": "2015-02-12T09:58:20"}, "doneAt"),  # no offset: ambiguous, refused
        ({"price": {"pricePerMessage": "free"}}, "price"),
    ],
)
def test_wrong_field_values_are_named(change: dict, field: str) -> None:
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    raw.update(change)

    with pytest.raises(ValidationError) as caught:
        SCHEMA.load(raw)

    assert field in caught.value.messages


def test_the_wire_form_rebuilds_every_attribute() -> None:
    raw = json.loads(sample("v3-one-delivered.json"))["results"][0]
    loaded = SCHEMA.load(raw)
    received = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    wire = json.loads(json.dumps(wire_from_loaded(loaded, raw, key="k", source="pull", received_at=received)))

    report = DeliveryReport.from_wire(wire)

    assert report.price is not None and report.price.price_per_message == Decimal("0.01")
    assert report.done_at == datetime(2019, 11, 9, 16, tzinfo=UTC)
    assert report.error is not None and report.error.permanent is False
    assert (report.source, report.received_at, report.key, report.final) == ("pull", received, "k", True)
    assert report.raw == raw
    assert DeliveryReport.from_wire(json.loads(json.dumps(report.to_wire()))) == report


def test_repeated_nested_objects_load_alike_and_independently() -> None:
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    first = SCHEMA.load(raw)
    first["status"]["group_name"] = "CHANGED BY A CALLER"

    second = SCHEMA.load(raw)

    assert second["status"]["group_name"] == "DELIVERED"
    assert second["price"]["price_per_message"] == Decimal("0.01")


def test_a_remembered_value_is_not_confused_with_an_equal_one_of_another_type() -> None:
    # True == 1 and hash(True) == hash(1); marshmallow refuses a boolean for an integer field.
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    SCHEMA.load({**raw, "status": {**raw["status"], "groupId": 1}})

    with pytest.raises(ValidationError) as caught:
        SCHEMA.load({**raw, "status": {**raw["status"], "groupId": True}})

    assert "groupId" in caught.value.messages["status"]


def test_an_invalid_nested_object_is_refused_every_time() -> None:
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    raw["status"] = {"groupId": "three", "groupName": "DELIVERED"}

    for _ in range(2):
        with pytest.raises(ValidationError):
            SCHEMA.load(raw)


def _reference_schema() -> ReportSchema:
    """ReportSchema loading through marshmallow's own field loop (and its own nested schemas)."""
    from marshmallow import Schema

    from dlrhook import schemas

    def plain(cls: type) -> type:
        return type(f"Reference{cls.__name__}", (cls,), {"_deserialize": Schema._deserialize})

    class Reference(plain(ReportSchema)):  # type: ignore[misc]
        price = schemas.SharedNested(plain(schemas.PriceSchema), allow_none=True)
        status = schemas.SharedNested(plain(schemas.StatusSchema))
        error = schemas.SharedNested(plain(schemas.ErrorSchema), allow_none=True)

    return Reference()  # type: ignore[no-any-return]


def _variants() -> list[dict]:
    base = json.loads(sample("v1-one-delivered.json"))["results"][0]
    v3 = json.loads(sample("v3-one-delivered.json"))["results"][0]
    (xml,) = parse_xml(sample("v1-one-delivered.xml"))
    out: list[dict] = [base, v3, xml, {**base, "unknownThing": [1, 2]}, {}]
    odd_values = [None, "", "  ", 7, 1.5, True, [], {}, "2015-02-12T09:58:20", "x" * 3]
    for name in [*base, "callbackData", "from", "sender", "messageCount", "entityId", "platform"]:
        out.append({k: v for k, v in base.items() if k != name})
        out.extend({**base, name: value} for value in odd_values)
    for nested in ("status", "error", "price"):
        for inner in list(base[nested]):
            out.append({**base, nested: {k: v for k, v in base[nested].items() if k != inner}})
            out.extend({**base, nested: {**base[nested], inner: value}} for value in odd_values)
    return out


def test_the_lean_field_loop_gives_marshmallows_own_results_and_errors() -> None:
    reference = _reference_schema()
    lean = ReportSchema()
    compared = 0
    for raw in _variants():
        outcomes = []
        for schema in (lean, reference):
            try:
                outcomes.append(("ok", schema.load(raw)))
            except ValidationError as exc:
                outcomes.append(("error", exc.messages, exc.valid_data))
        assert outcomes[0] == outcomes[1], raw
        compared += 1
    assert compared > 300


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ({"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}, True),
        ({"groupId": 3, "groupName": "DELIVERED", "id": 2, "name": "DELIVERED_TO_OPERATOR"}, False),
        ({"groupId": 3, "groupName": "DELIVERED"}, True),
        ({"groupId": 3, "groupName": "DELIVERED", "id": 77, "name": "DELIVERED_SOMEHOW"}, True),
        ({"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"}, False),
        ({"groupId": 0, "groupName": "ACCEPTED"}, False),
        ({"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"}, True),
        ({"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED"}, True),
        ({"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK"}, True),
    ],
    ids=[
        "handset",
        "operator",
        "delivered-without-id",
        "delivered-unknown-id",
        "pending",
        "accepted",
        "undeliverable",
        "expired",
        "rejected",
    ],
)
def test_only_delivered_to_operator_is_intermediate_in_the_delivered_group(status: dict, final: bool) -> None:
    raw = json.loads(sample("v1-one-delivered.json"))["results"][0]
    raw["status"] = status
    loaded = SCHEMA.load(raw)
    wire = wire_from_loaded(loaded, raw, key="k", source="push", received_at=datetime.now(UTC))

    assert loaded["final"] is final
    assert DeliveryReport.from_wire(json.loads(json.dumps(wire))).final is final


def test_the_schema_and_the_report_class_have_the_same_fields_at_every_level() -> None:
    envelope = {"key", "source", "received_at", "raw"}  # set by ingest, not loaded from the report
    report_fields = {f.name for f in dataclasses.fields(DeliveryReport)} - envelope
    assert set(ReportSchema().load_fields) == report_fields
    assert isinstance(DeliveryReport.final, property)  # the one loaded key that is computed
    assert set(SCHEMA.load(json.loads(sample("v3-one-delivered.json"))["results"][0])) <= report_fields | {"final"}
    for schema, cls in ((StatusSchema, Status), (ErrorSchema, Error), (PriceSchema, Price)):
        assert set(schema().load_fields) == {f.name for f in dataclasses.fields(cls)}, cls.__name__


def test_a_wire_written_before_the_field_table_still_loads() -> None:
    # What 48c3075's wire_from_loaded stored for the v1 sample: reports queued before the change.
    wire = {
        "key": "k",
        "source": "push",
        "received_at": "2026-11-30T10:00:00+00:00",
        "report": {
            "message_id": "m-1",
            "bulk_id": "b-1",
            "to": "41793026731",
            "message_count": 1,
            "mcc_mnc": "22801",
            "sent_at": "2015-02-12T09:58:20.323000+01:00",
            "done_at": "2015-02-12T09:58:20.337000+01:00",
            "price": {"price_per_message": "0.01", "currency": "EUR"},
            "status": {
                "group_id": 3,
                "group_name": "DELIVERED",
                "id": 5,
                "name": "DELIVERED_TO_HANDSET",
                "description": "Message delivered to handset",
                "action": None,
            },
            "error": {
                "group_id": 0,
                "group_name": "OK",
                "id": 0,
                "name": "NO_ERROR",
                "description": "No Error",
                "permanent": False,
            },
        },
        "raw": {"messageId": "m-1"},
    }

    report = DeliveryReport.from_wire(wire)

    assert report.price == Price(Decimal("0.01"), "EUR")
    assert report.status.id == 5 and report.error is not None and report.error.permanent is False
    assert report.sender is None and report.callback_data is None and report.final is True
    assert DeliveryReport.from_wire(json.loads(json.dumps(report.to_wire()))) == report
    assert (report.channel, report.kind, report.seen_at) == ("SMS", "delivery", None)
    without_status = {**wire, "report": {k: v for k, v in wire["report"].items() if k != "status"}}
    with pytest.raises(ValueError, match="delivery report without a status"):
        DeliveryReport.from_wire(without_status)


@pytest.mark.parametrize(
    ("group_id", "group_name", "status_id", "final"),
    [
        (3, "DELIVERED", 5, True),  # DELIVERED_TO_HANDSET
        (3, "DELIVERED", 2, False),  # DELIVERED_TO_OPERATOR: a further report may follow
        (1, "PENDING", 7, False),
        (5, "REJECTED", 2, True),
        (2, "UNDELIVERABLE", None, True),
    ],
)
def test_delivered_to_operator_is_not_final(group_id: int, group_name: str, status_id: int | None, final: bool) -> None:
    raw = {"messageId": "m", "status": {"groupId": group_id, "groupName": group_name, "id": status_id}}
    loaded = SCHEMA.load(raw)
    wire = wire_from_loaded(loaded, raw, key="k", source="push", received_at=datetime.now(UTC))

    assert loaded["final"] is final
    assert DeliveryReport.from_wire(json.loads(json.dumps(wire))).final is final
