"""Every kind of bad push gets its status (README, "The push endpoint") and a problem+json body naming the problem;
the process keeps serving, and nothing already accepted is touched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

import dlrhook
from dlrhook.store import keys
from tests.support import sample

BILLION_LAUGHS = sample("hostile/billion-laughs.xml")

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<reportResponse><results><result><messageId>&xxe;</messageId></result></results></reportResponse>"""

JSON = "application/json"
XML = "application/xml"

BAD_BODIES = [
    pytest.param(b'{"results": [', JSON, "not valid JSON", id="invalid JSON"),
    pytest.param(b"<reportResponse><results>", XML, "not valid XML", id="invalid XML"),
    pytest.param(BILLION_LAUGHS, XML, "DTDs and entities are not accepted", id="XML entity bomb"),
    pytest.param(EXTERNAL_ENTITY, XML, "DTDs and entities are not accepted", id="XML external entity"),
    pytest.param(b"<somethingElse/>", XML, "<somethingElse> has no <results>", id="XML with no results"),
    pytest.param(b"<reportResponse/>", XML, "no <results>", id="XML without results"),
    pytest.param(b"[1, 2]", JSON, "must be a JSON object", id="body not an object"),
    pytest.param(b'"results"', JSON, "must be a JSON object", id="body a string"),
    pytest.param(b'{"reports": []}', JSON, "no results list", id="results missing"),
    pytest.param(b'{"results": {"messageId": "x"}}', JSON, "results must be a list", id="results not a list"),
    pytest.param(b'{"results": [\xff\xfe]}', JSON, "not UTF-8", id="non-UTF-8 bytes"),
    pytest.param(b"", JSON, "body is empty", id="empty body"),
    pytest.param(b"   \n", XML, "body is empty", id="empty XML body"),
    pytest.param(b'{"results": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON, "nests deeper", id="deep JSON"),
]


def _report(**fields: str) -> str:
    extra = "".join(f',"{k}":"{v}"' for k, v in fields.items())
    return '{"messageId":"m-1","status":{"groupId":3,"groupName":"DELIVERED"}' + extra + "}"


def accept_one(client: FlaskClient) -> None:
    answer = client.post("/notify", data=sample("v1-two-delivered.json"), content_type=JSON)
    assert answer.get_json()["accepted"] == 2


def assert_still_serving_and_intact(client: FlaskClient, conn: redis.Redis) -> None:
    assert conn.xlen(keys.REPORTS) == 2  # what was accepted before is untouched
    again = client.post("/notify", data=sample("v1-one-delivered.json"), content_type=JSON)
    assert again.status_code == 200 and again.get_json()["accepted"] == 1


def assert_problem(answer, status: int, detail_part: str) -> dict:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.content_type == "application/problem+json"
    problem = answer.get_json()
    assert problem["status"] == status
    assert problem["title"]
    assert detail_part in problem["detail"]
    return problem


@pytest.mark.parametrize(("body", "content_type", "detail"), BAD_BODIES)
def test_an_unreadable_body_is_a_400_naming_the_problem(
    client: FlaskClient, conn: redis.Redis, body: bytes, content_type: str, detail: str
) -> None:
    accept_one(client)

    answer = client.post("/notify", data=body, content_type=content_type)

    assert_problem(answer, 400, detail)
    assert_still_serving_and_intact(client, conn)


def test_a_missing_results_list_names_the_field(client: FlaskClient) -> None:
    problem = assert_problem(client.post("/notify", json={"foo": 1}), 400, "results")
    assert "results" in problem["errors"]


def test_wrong_field_types_quarantine_the_report_and_name_the_fields(client: FlaskClient, conn: redis.Redis) -> None:
    body = json.loads(sample("v1-one-delivered.json"))
    body["results"][0]["status"]["groupId"] = "three"
    body["results"][0]["price"] = "cheap"

    answer = client.post("/notify", json=body)

    assert answer.status_code == 200  # Infobip cannot fix it by retrying: quarantine, never block
    errors = answer.get_json()["errors"]["0"]
    assert set(errors) == {"status", "price"}
    assert "groupId" in errors["status"]
    assert conn.hlen(keys.QUARANTINE) == 1


def test_a_body_over_the_limit_is_a_413(make_app, conn: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    client = make_app(DLRHOOK_MAX_BODY="2048").test_client()
    accept_one(client)

    answer = client.post("/notify", data=b'{"results": [' + b" " * 4096 + b"]}", content_type=JSON)

    assert_problem(answer, 413, "DLRHOOK_MAX_BODY")
    assert_still_serving_and_intact(client, conn)


def test_another_content_type_is_a_415(client: FlaskClient, conn: redis.Redis) -> None:
    accept_one(client)

    answer = client.post("/notify", data=b"results=1", content_type="application/x-www-form-urlencoded")

    assert_problem(answer, 415, "application/x-www-form-urlencoded")
    assert_still_serving_and_intact(client, conn)


def test_a_get_on_notify_is_a_405_with_allow(client: FlaskClient) -> None:
    answer = client.get("/notify")

    assert_problem(answer, 405, "")
    assert "POST" in answer.headers["Allow"]


def test_an_unknown_path_is_a_404_problem(client: FlaskClient) -> None:
    assert_problem(client.post("/notfiy", json={"results": []}), 404, "")


def test_the_app_has_no_static_route_and_is_rooted_in_its_package(app: Flask) -> None:
    assert "static" not in {rule.endpoint for rule in app.url_map.iter_rules()}
    assert app.test_client().get("/static/app.py").status_code == 404
    assert app.import_name == "dlrhook.webhook.app"
    assert Path(app.root_path) == Path(dlrhook.__file__).parent / "webhook"


def test_an_unexpected_error_is_a_500_problem_without_internals(app: Flask) -> None:
    # Bad input never gets a 500; a bug does, and says nothing about the internals.
    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    answer = app.test_client().get("/boom")

    problem = assert_problem(answer, 500, "unexpected error")
    assert "secret" not in json.dumps(problem)


def test_an_integer_too_long_for_python_is_a_bad_body_not_a_crash(client: FlaskClient) -> None:
    body = '{"results":[{"messageId":"m-1","status":{"groupId":' + "9" * 5000 + ',"groupName":"X"}}]}'
    response = client.post("/notify", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert "too long" in response.get_json()["detail"]


def test_a_done_time_with_no_utc_equivalent_is_quarantined(client: FlaskClient) -> None:
    body = (
        '{"results":['
        + _report(doneAt="9999-12-31T23:59:59.000-0100")
        + ","
        + _report(sentAt="0001-01-01T00:00:00.000+0100")
        + "]}"
    )
    response = client.post("/notify", data=body, content_type="application/json")
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["quarantined"] == 2
    assert "doneAt" in answer["errors"]["0"]
    assert "sentAt" in answer["errors"]["1"]


def test_an_xml_done_time_with_no_utc_equivalent_is_quarantined(client: FlaskClient) -> None:
    body = (
        "<reportResponse><results><result><messageId>m-2</messageId>"
        "<doneAt>0001-01-01T00:30:00.000+0100</doneAt>"
        "<status><groupId>3</groupId><groupName>DELIVERED</groupName></status>"
        "</result></results></reportResponse>"
    )
    response = client.post("/notify", data=body, content_type="application/xml")
    assert response.status_code == 200
    assert response.get_json()["quarantined"] == 1


def test_extreme_but_valid_times_are_accepted(client: FlaskClient) -> None:
    body = '{"results":[' + _report(sentAt="0001-01-01T00:00:00.000+0000", doneAt="9999-12-31T23:59:59.000+0000") + "]}"
    response = client.post("/notify", data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}


# -- hostile numbers: decided in milliseconds, never a 500 ----------------------------------------


def _status_with(group_id: str) -> bytes:
    return ('{"results":[{"messageId":"x","status":{"groupId":' + group_id + ',"groupName":"DELIVERED"}}]}').encode()


HOSTILE_NUMBERS = [
    pytest.param(_status_with("1e1000000"), "out of range: 1e1000000", id="exponent of a million"),
    pytest.param(_status_with("1e5000"), "out of range: 1e5000", id="exponent of 5000"),
    pytest.param(_status_with("1e99999999999999999999"), "out of range", id="exponent beyond Decimal"),
    pytest.param(_status_with("-1e400"), "out of range: -1e400", id="below a float"),
    pytest.param(_status_with("1e-400"), "out of range: 1e-400", id="underflows a float"),
    pytest.param(
        b'{"results":[{"messageId":"x","price":{"pricePerMessage":-1e400},"status":{"groupId":3,"groupName":"D"}}]}',
        "out of range: -1e400",
        id="price -1e400",
    ),
    pytest.param(_status_with("NaN"), "NaN", id="NaN"),
    pytest.param(_status_with("Infinity"), "Infinity", id="Infinity"),
    pytest.param(_status_with("-Infinity"), "-Infinity", id="-Infinity"),
    pytest.param(b'{"results":[], "whatever": [1, NaN]}', "NaN", id="NaN outside any report"),
]


@pytest.mark.parametrize(("body", "detail"), HOSTILE_NUMBERS)
def test_a_number_no_report_could_hold_is_a_quick_400_naming_it(
    client: FlaskClient, conn: redis.Redis, body: bytes, detail: str
) -> None:
    accept_one(client)
    started = time.perf_counter()

    answer = client.post("/notify", data=body, content_type=JSON)

    assert time.perf_counter() - started < 0.5
    assert_problem(answer, 400, detail)
    assert_still_serving_and_intact(client, conn)


def _one(**changes: object) -> dict:
    report = json.loads(sample("v1-one-delivered.json"))["results"][0]
    for path, value in changes.items():
        target = report
        *parents, name = path.split("__")
        for parent in parents:
            target = target[parent]
        target[name] = value
    return report


OUT_OF_RANGE = [
    pytest.param({"status__groupId": 1e300}, "status", "groupId", id="group id 1e300"),
    pytest.param({"status__groupId": -(2**31) - 1}, "status", "groupId", id="group id below an int32"),
    pytest.param({"status__id": 2**40}, "status", "id", id="status id beyond an int"),
    pytest.param({"status__id": 10**4000}, "status", "id", id="4001-digit status id"),
    pytest.param({"error__groupId": 1.5e10}, "error", "groupId", id="error group 1.5e10"),
    pytest.param({"smsCount": 2**31}, "smsCount", None, id="count beyond an int32"),
    pytest.param({"mccMnc": 10**20}, "mccMnc", None, id="huge integer mccMnc"),
    pytest.param({"price__pricePerMessage": "1e400"}, "price", "pricePerMessage", id="price text 1e400"),
    pytest.param({"price__pricePerMessage": "-1e-400"}, "price", "pricePerMessage", id="price text -1e-400"),
    pytest.param({"price__pricePerMessage": "1" * 1101}, "price", "pricePerMessage", id="price text of 1101 digits"),
]


@pytest.mark.parametrize(("changes", "field", "inner"), OUT_OF_RANGE)
def test_a_number_out_of_its_fields_range_quarantines_that_report_naming_the_field(
    client: FlaskClient, conn: redis.Redis, changes: dict, field: str, inner: str | None
) -> None:
    good = json.loads(sample("v1-two-delivered.json"))["results"][0]
    body = json.dumps({"results": [good, _one(**changes)]})
    started = time.perf_counter()

    answer = client.post("/notify", data=body, content_type=JSON)

    assert time.perf_counter() - started < 0.5
    assert answer.status_code == 200, answer.get_data(as_text=True)
    result = answer.get_json()
    assert (result["accepted"], result["quarantined"]) == (1, 1)
    errors = result["errors"]["1"]
    assert field in errors and (inner is None or inner in errors[field])
    assert conn.hlen(keys.QUARANTINE) == 1


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("groupId", "1e1000000"),
        ("groupId", "NaN"),
        ("groupId", "9" * 5000),
        ("id", "-Infinity"),
        ("pricePerMessage", "1e1000000"),
        ("pricePerMessage", "NaN"),
        ("pricePerMessage", "Infinity"),
        ("pricePerMessage", "-1e400"),
        ("smsCount", "1e99999999999999999999"),
    ],
)
def test_hostile_numbers_in_xml_quarantine_the_report_quickly(client: FlaskClient, element: str, value: str) -> None:
    xml = sample("v1-one-delivered.xml").decode()
    opening = f"<{element}>"
    start = xml.index(opening) + len(opening)
    body = xml[:start] + value + xml[xml.index(f"</{element}>", start) :]
    started = time.perf_counter()

    answer = client.post("/notify", data=body.encode(), content_type=XML)

    assert time.perf_counter() - started < 0.5
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["quarantined"] == 1


# -- bounded work per request --------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, XML])
def test_more_reports_than_the_limit_is_a_413_naming_it(make_app, conn: redis.Redis, content_type: str) -> None:  # type: ignore[no-untyped-def]
    client = make_app(DLRHOOK_MAX_REPORTS="3").test_client()
    accept_one(client)
    if content_type == JSON:
        body = json.dumps({"results": [json.loads(_report())] * 4}).encode()
    else:
        one = sample("v1-one-delivered.xml").decode()
        result = one[one.index("<result>") : one.index("</results>")]
        body = ("<reportResponse><results>" + result * 4 + "</results></reportResponse>").encode()

    answer = client.post("/notify", data=body, content_type=content_type)

    assert_problem(answer, 413, "DLRHOOK_MAX_REPORTS (3)")
    assert_still_serving_and_intact(client, conn)


def test_the_answer_lists_the_errors_of_100_quarantined_reports_and_counts_the_rest(client: FlaskClient) -> None:
    body = json.dumps({"results": [{"messageId": f"m-{i}"} for i in range(250)]})

    answer = client.post("/notify", data=body, content_type=JSON)

    assert answer.status_code == 200
    result = answer.get_json()
    assert result["quarantined"] == 250
    assert len(result["errors"]) == 100 and set(result["errors"]) == {str(i) for i in range(100)}
    assert result["errorsOmitted"] == 150
    assert len(answer.get_data()) < 20_000
