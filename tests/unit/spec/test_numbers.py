"""Numbers as Infobip writes them: a price's exact double expansion is read (rounded to the
shortest decimal of that double), never quarantined for its length; a literal longer than any
double's expansion is refused, quickly."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from flask.testing import FlaskClient

from dlrhook.schemas import ReportSchema
from dlrhook.schemas.fields import MAX_NUMBER_LENGTH

#: The exact decimal expansion of the smallest positive double: 1,074 places, the longest any
#: double has (written as Java's BigDecimal(double).toPlainString() would).
SMALLEST = format(Decimal(5e-324), "f")  # noqa: RUF032 - the double's exact expansion is the point
MMS_PRICE = "0.01000000000000000020816681711721685132943093776702880859375"  # the spec's MMS XML example


def _report(price: str, message_id: str = "m-1") -> str:
    return (
        '{"messageId":"' + message_id + '","price":{"pricePerMessage":' + price + ',"currency":"EUR"},'
        '"status":{"groupId":3,"groupName":"DELIVERED","id":5}}'
    )


def test_the_exact_expansion_of_any_double_fits_the_literal_bound() -> None:
    assert len(SMALLEST) == 1076 <= MAX_NUMBER_LENGTH
    assert float(SMALLEST) == 5e-324


def test_a_price_with_more_digits_than_a_double_is_that_doubles_shortest_decimal() -> None:
    for text, read in [(MMS_PRICE, "0.01"), (SMALLEST, "5E-324"), ("0.0100", "0.0100"), ("1E+300", "1E+300")]:
        loaded = ReportSchema().load(json.loads(_report(json.dumps(text))))
        assert loaded["price"]["price_per_message"] == Decimal(read)
        assert str(loaded["price"]["price_per_message"]) == read


def test_long_expansions_in_json_are_accepted_and_a_thousand_of_them_take_little_time(client: FlaskClient) -> None:
    body = '{"results":[' + ",".join(_report(SMALLEST, f"m-{i}") for i in range(1000)) + "]}"
    started = time.perf_counter()

    answer = client.post("/notify", data=body, content_type="application/json")

    assert time.perf_counter() - started < 2.0  # a 1.1 MB body of the longest literals a double has
    assert answer.get_json() == {"accepted": 1000, "duplicates": 0, "quarantined": 0}


def test_a_json_literal_longer_than_any_double_is_a_400_naming_it(client: FlaskClient) -> None:
    literal = "0." + "1" * (MAX_NUMBER_LENGTH - 1)
    answer = client.post("/notify", data='{"results":[' + _report(literal) + "]}", content_type="application/json")
    assert answer.status_code == 400
    assert f"at most {MAX_NUMBER_LENGTH}" in answer.get_json()["detail"]


def test_an_xml_price_longer_than_any_double_is_quarantined_and_one_as_long_as_a_double_is_read(
    client: FlaskClient,
) -> None:
    def xml(price: str) -> bytes:
        return (
            "<MmsReportRequest><results><results><messageId>m-" + str(len(price)) + "</messageId>"
            "<price><pricePerMessage>" + price + "</pricePerMessage><currency>EUR</currency></price>"
            "<status><groupId>3</groupId><groupName>DELIVERED</groupName></status>"
            "</results></results></MmsReportRequest>"
        ).encode()

    assert client.post("/notify/mms", data=xml(SMALLEST), content_type="application/xml").get_json()["accepted"] == 1
    too_long = client.post("/notify/mms", data=xml("0." + "1" * MAX_NUMBER_LENGTH), content_type="application/xml")
    assert too_long.get_json()["quarantined"] == 1
    assert "pricePerMessage" in too_long.get_json()["errors"]["0"]["price"]


def test_a_user_events_send_time_is_read_from_epoch_milliseconds_and_one_out_of_range_is_left_in_raw() -> None:
    from datetime import UTC, datetime

    def sent(value: object) -> object:
        event = {"notificationType": "OPENED", "messageId": 1704106800000, "sendDateTime": value}
        loaded = ReportSchema().load(event)
        assert (loaded["kind"], loaded["message_id"], loaded["channel"]) == ("event", "1704106800000", "EMAIL")
        return loaded.get("sent_at")

    assert sent(1704106800000) == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert sent("1704106800000") == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert sent(Decimal("1704106800000.5")) == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert sent(1e300) is None and sent(-1e20) is None and sent("soon") is None and sent("9" * 5000) is None
