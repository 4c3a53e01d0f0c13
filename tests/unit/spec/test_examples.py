"""Every delivery-report, seen-report and Email user-event example of Infobip's OpenAPI spec
(``tests/samples/spec/``, extracted by ``tests/spec/extract.py``) is pushed to its channel's
notify URL through the app, and reaches the ``test-record`` handler through the real drain job
with every field the spec defines mapped (``tests/spec/expect.py``) and the report as received
in ``report.raw``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask

from dlrhook.parsing import parse_body
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.plugins.dlrhook_testplugin import calls
from tests.spec.expect import MAPPED, RAW_ONLY, Example, examples, expected, manifest, schemas, url_channel

EXAMPLES = examples()


def _raw_items(example: Example) -> list[dict[str, Any]]:
    """The reports of an example as a handler's ``report.raw`` holds them (JSON numbers as floats)."""
    if "xml" in example.content_type:
        return parse_body(example.body, example.content_type)
    document = json.loads(example.body)
    return document.get("results", [document])  # type: ignore[no-any-return]


@pytest.fixture
def push(
    make_app: Callable[..., Flask], worker_env: Callable[..., Settings], run_jobs: Callable[[Settings], None]
) -> Callable[[Example], dict[str, Any]]:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    client = make_app().test_client()

    def post(example: Example) -> dict[str, Any]:
        answer = client.post(example.url, data=example.body, content_type=example.content_type)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        run_jobs(settings)
        return answer.get_json()  # type: ignore[no-any-return]

    return post


def test_the_samples_are_the_specs_report_webhooks() -> None:
    ids = {w["id"] for w in manifest()["webhooks"]}
    assert len(ids) >= 15 and len(EXAMPLES) >= 35
    assert {e.content_type for e in EXAMPLES} == {"application/json", "application/xml"}
    assert {e.kind for e in EXAMPLES} == {"delivery", "seen", "event"}


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_each_spec_example_reaches_the_handler_with_the_fields_the_spec_gives_it(
    push: Callable[[Example], dict[str, Any]], conn: redis_lib.Redis, example: Example
) -> None:
    items = _raw_items(example)

    answer = push(example)

    assert answer == {
        "accepted": len({json.dumps(i, sort_keys=True) for i in items}),
        "duplicates": 0,
        "quarantined": 0,
    }
    assert conn.hlen(keys.QUARANTINE) == 0
    got = calls(conn, "test-record")
    assert len(got) == answer["accepted"]
    for report, raw in zip(got, items, strict=False):
        want = expected(raw, example.kind, url_channel(example.url))
        assert {k: report[k] for k in want} == want
        assert json.loads(report["raw"]) == raw  # unmapped fields included, as received


@pytest.mark.parametrize(("webhook", "kind", "schema"), schemas(), ids=[w for w, _, _ in schemas()])
def test_every_property_of_the_spec_is_mapped_or_kept_in_raw(webhook: str, kind: str, schema: dict[str, Any]) -> None:
    item = schema if kind == "event" else schema["properties"]["results"]["items"]
    names = set(_properties(item))
    unknown = names - set(MAPPED) - RAW_ONLY
    assert not unknown, f"{webhook}: map these or add them to RAW_ONLY (and the README Channels table)"


def _properties(node: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for sub in node.get("allOf", []) + node.get("anyOf", []) + node.get("oneOf", []):
        found.update(_properties(sub))
    found.update(node.get("properties", {}))
    return found


def test_an_email_user_event_pushed_twice_is_a_duplicate_by_its_event_id(
    push: Callable[[Example], dict[str, Any]], conn: redis_lib.Redis
) -> None:
    opened = next(e for e in EXAMPLES if e.file.endswith("open-reports.json"))
    first, again = push(opened), push(opened)
    assert (first["accepted"], again["duplicates"]) == (1, 1)
    assert len(calls(conn, "test-record")) == 1


def test_the_specs_five_user_events_sharing_one_event_id_are_five_events(
    push: Callable[[Example], dict[str, Any]], conn: redis_lib.Redis
) -> None:
    events = [e for e in EXAMPLES if e.kind == "event"]
    answers = [push(e) for e in events]
    assert [a["accepted"] for a in answers] == [1] * 5
    assert sorted(eval(c["event"]) for c in calls(conn, "test-record")) == [  # noqa: S307 - our own reprs
        "CLICKED",
        "COMPLAINED",
        "LATE_BOUNCE",
        "OPENED",
        "UNSUBSCRIBED",
    ]


@pytest.mark.parametrize("url", ["/notify", "/notify/sms", "/notify/messages"])
def test_a_user_event_pushed_to_another_url_is_still_an_email_event(
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    conn: redis_lib.Redis,
    url: str,
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    clicked = next(e for e in EXAMPLES if e.file.endswith("click-reports.json"))
    answer = make_app().test_client().post(url, data=clicked.body, content_type="application/json")
    assert answer.get_json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    run_jobs(settings)

    [report] = calls(conn, "test-record")
    assert (report["kind"], report["channel"], report["event"]) == ("'event'", "'EMAIL'", "'CLICKED'")
    assert report["url"] == repr("https://www.somelink.com")
    assert report["status.name"] == "None" and report["final"] == "False"
