"""Hostile documents get a quick 400 naming the place, and nothing of them is stored: nesting past
``MAX_DEPTH`` in JSON (as in XML), strings that are not text, XML in an encoding nobody reads."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
import redis
from flask.testing import FlaskClient

from dlrhook.defaults import MAX_DEPTH
from dlrhook.errors import PushRejected
from dlrhook.parsing import parse_json
from dlrhook.store import keys
from tests.support import sample

REPORT = json.loads(sample("v1-one-delivered.json"))["results"][0]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def push(client: FlaskClient, text: str, content_type: str = "application/json") -> tuple[int, dict[str, object]]:
    answer = client.post("/notify", data=text.encode("utf-8"), content_type=content_type)
    return answer.status_code, answer.get_json()


def test_a_valid_report_with_a_field_nested_975_levels_deep_is_a_400_naming_it(
    client: FlaskClient, conn: redis.Redis
) -> None:
    """It was answered 200, and the worker rebuilding it hit RecursionError for good."""
    for levels in (975, 100):
        body = json.dumps({"results": [REPORT]})[:-3] + ', "extra": ' + nested(levels) + "}]}"
        started = time.perf_counter()
        status, problem = push(client, body)
        assert status == 400, problem
        assert time.perf_counter() - started < 2  # microseconds of work; generous for a loaded CI
        assert f"nests deeper than {MAX_DEPTH} levels" in str(problem["detail"])
        assert not conn.exists(keys.REPORTS)
    assert f"results[0].extra{'[0]' * 3}" in str(problem["detail"])  # the place, where Python's stack allows


def test_nesting_is_counted_from_the_document_and_the_limit_itself_is_accepted() -> None:
    assert parse_json(nested(MAX_DEPTH).encode()) is not None
    with pytest.raises(PushRejected, match=f"nests deeper than {MAX_DEPTH} levels"):
        parse_json(nested(MAX_DEPTH + 1).encode())
    with pytest.raises(PushRejected, match="nests"):  # past Python's own recursion limit too
        parse_json(nested(200_000).encode())


@pytest.mark.parametrize(
    ("fragment", "place"),
    [
        (r'"callbackData": "a\ud800b"', "results[0].callbackData"),
        (r'"messageId": "\udfff"', "results[0].messageId"),
        (r'"\ud83d": 1', "results[0].\\ud83d"),
        (r'"extra": ["ok", "\udc00"]', "results[0].extra[1]"),
    ],
    ids=["in a value", "a low surrogate", "in a field name", "in a list"],
)
def test_a_lone_surrogate_anywhere_is_a_400_naming_the_place(
    client: FlaskClient, conn: redis.Redis, fragment: str, place: str
) -> None:
    """A lone surrogate decodes from JSON but no UTF-8 writer takes it: it was a 500."""
    body = json.dumps({"results": [REPORT]})[:-3] + ", " + fragment + "}]}"
    status, problem = push(client, body)
    assert status == 400, problem
    assert place in str(problem["detail"])
    assert "lone surrogate" in str(problem["detail"])
    assert not conn.exists(keys.REPORTS)


def test_a_surrogate_pair_is_text_and_gets_in(client: FlaskClient) -> None:
    body = json.dumps({"results": [{**REPORT, "callbackData": "\U0001f600"}]})  # written as \ud83d\ude00
    assert "\\ud83d\\ude00" in body
    status, answer = push(client, body)
    assert status == 200 and answer["accepted"] == 1


@pytest.mark.parametrize("encoding", ["UTF-7", "UTF-32", "x-no-such-encoding"])
def test_xml_in_an_encoding_that_cannot_be_read_is_a_400(client: FlaskClient, encoding: str) -> None:
    body = sample("v1-one-delivered.xml").decode().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    if f'encoding="{encoding}"' not in body:
        body = f'<?xml version="1.0" encoding="{encoding}"?>' + body.split("?>", 1)[-1]
    status, problem = push(client, body, "application/xml")
    assert status == 400, problem
    assert "declared encoding cannot be read" in str(problem["detail"])


@pytest.mark.parametrize(
    ("inside", "status", "detail"),
    [
        ("<results>{}</results>", 413, "more than 10000 reports"),
        ("<results><result>{}</result></results>", 400, "more than 200 elements a report"),
        ("{}<results/>", 400, "more than 200 elements a report"),
    ],
    ids=["as reports", "inside one report", "beside the results"],
)
def test_two_million_empty_elements_are_refused_while_reading_before_any_tree_is_built(
    client: FlaskClient, conn: redis.Redis, inside: str, status: int, detail: str
) -> None:
    """They were read whole into a tree (+174 MiB, 9-14 s) before the report count was checked."""
    body = ("<reportResponse>" + inside.format("<a/>" * 2_000_000) + "</reportResponse>").encode()
    tracemalloc.start()
    try:
        answer = client.post("/notify", data=body, content_type="application/xml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert answer.status_code == status, answer.get_json()
    assert detail in answer.get_json()["detail"]
    assert peak < 3 * len(body)  # the body and its copies, never a tree of it (that was 20x)
    assert not conn.exists(keys.REPORTS)


@pytest.mark.parametrize(
    ("field", "limit"),
    [("callbackData", 4000), ("messageId", 200), ("bulkId", 200), ("to", 320), ("entityId", 1000)],
)
def test_text_longer_than_infobip_writes_quarantines_its_report_naming_the_limit(
    client: FlaskClient, field: str, limit: int
) -> None:
    longest, too_long = {**REPORT, field: "x" * limit}, {**REPORT, "messageId": "long", field: "y" * (limit + 1)}
    answer = client.post("/notify", json={"results": [longest, too_long]})
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["accepted"], body["quarantined"]) == (1, 1), body
    assert body["errors"]["1"][field] == [f"Longer than {limit} characters: at most {limit} are read."]
