"""Bad input found while fuzzing the documented API: a 400 or a quarantine, never a 500."""

from __future__ import annotations

from flask.testing import FlaskClient


def _report(**fields: str) -> str:
    extra = "".join(f',"{k}":"{v}"' for k, v in fields.items())
    return '{"messageId":"m-1","status":{"groupId":3,"groupName":"DELIVERED"}' + extra + "}"


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
