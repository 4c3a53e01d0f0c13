"""A blank ``messageId`` or ``channel`` is quarantined with the field named, never accepted
(the validators raise: marshmallow 4 ignores a validator's returned bool)."""

from __future__ import annotations

import json

import pytest
import redis
from flask.testing import FlaskClient

from dlrhook.store import keys
from tests.support import sample


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"messageId": ""}, "messageId", id="empty messageId"),
        pytest.param({"messageId": "  \t"}, "messageId", id="blank messageId"),
        pytest.param({"channel": ""}, "channel", id="empty channel"),
        pytest.param({"channel": "   "}, "channel", id="blank channel"),
    ],
)
def test_a_blank_id_is_quarantined_naming_the_field(
    client: FlaskClient, conn: redis.Redis, change: dict[str, str], field: str
) -> None:
    good = json.loads(sample("v3-one-delivered.json"))["results"][0]
    body = {"results": [{**good, **change}, good]}
    answer = client.post("/notify", json=body)

    assert answer.status_code == 200
    assert answer.get_json()["accepted"] == 1 and answer.get_json()["quarantined"] == 1
    assert field in answer.get_json()["errors"]["0"]
    assert conn.xlen(keys.REPORTS) == 1
