"""/openapi.json: a valid OpenAPI 3 document, generated from the schemas, that the app keeps to."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from dlrhook.schemas import ReportSchema
from dlrhook.webhook.openapi import document
from tests.support import sample


def test_the_document_validates_as_openapi_3() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.")
    validate(doc)


def test_the_app_serves_the_document(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document()


def test_notify_documents_every_status_of_the_contract() -> None:
    responses = document()["paths"]["/notify"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "403", "413", "415", "503"}
    for status in ("400", "401", "403", "413", "415", "503"):
        assert "application/problem+json" in responses[status]["content"]
    assert "Retry-After" in responses["503"]["headers"]
    assert "WWW-Authenticate" in responses["401"]["headers"]


def test_notify_takes_json_and_xml_with_token_bearer_or_basic() -> None:
    doc = document()
    post = doc["paths"]["/notify"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/xml", "text/xml"}
    assert post["requestBody"]["content"]["application/xml"]["schema"]["xml"] == {"name": "reportResponse"}
    assert {"token", "bearer", "basic", "apiToken"} == set(doc["components"]["securitySchemes"])
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "DLRHOOK_TOKEN, in the notify URL",
    }


def test_the_report_schema_comes_from_the_marshmallow_schema() -> None:
    report = document()["components"]["schemas"]["Report"]
    wire_names = {f.data_key or name for name, f in ReportSchema().fields.items()}
    assert set(report["properties"]) == wire_names
    assert set(report["required"]) == {"messageId"}  # status: delivery reports only (seen ones have none)


def test_every_route_is_documented(app: Flask) -> None:
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()}
    assert routes == set(document()["paths"])


def test_the_channel_route_is_notify_with_a_channel_parameter_and_a_404() -> None:
    paths = document()["paths"]
    by_channel, plain = paths["/notify/{channel}"]["post"], paths["/notify"]["post"]
    assert [p["name"] for p in by_channel["parameters"]] == ["channel"]
    assert set(by_channel["responses"]) == set(plain["responses"]) | {"404"}
    assert by_channel["requestBody"] == plain["requestBody"]


@pytest.mark.parametrize(
    ("environment", "expected", "examples"),
    [
        ({}, {200, 400, 404}, 100),
        ({"DLRHOOK_TOKEN": "s3cret-token"}, {401, 404}, 25),
        ({"DLRHOOK_API_TOKEN": "api-s3cret-token"}, {200, 400, 401}, 25),
    ],
    ids=["open", "token", "api-token"],
)
def test_schemathesis_finds_no_500_and_no_answer_contradicting_the_document(
    make_app: Callable[..., Flask], environment: dict[str, str], expected: set[int], examples: int
) -> None:
    """Every documented operation, positive and negative examples, in-process against the WSGI app.

    negative_data_rejection is left out on purpose: a batch whose reports break the Report
    schema is answered 200 with those reports quarantined (README, "The push endpoint"), because a retry from
    Infobip could not make them valid. Every other check runs: no 5xx, status codes, content
    types, headers and bodies as documented.
    """
    api = schemathesis.openapi.from_wsgi("/openapi.json", make_app(**environment))
    operations = [result.ok() for result in api.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/notify"),
        ("POST", "/notify/{channel}"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/messages/{messageId}"),
        ("GET", "/bulks/{bulkId}"),
    }  # schemathesis leaves out the document's own path
    calls: list[int] = []
    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not operation.path.startswith("/notify"):
            continue  # the GET routes take no input that could be made invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples if operation.path.startswith("/notify") else 5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(excluded_checks=[negative_data_rejection])
            calls.append(response.status_code)

        run()
    # The run reached what each configuration can answer: accepted and refused batches when
    # open, the documented 401 when a token is required and not offered.
    assert expected <= set(calls)


def test_readyz_counts_the_stream_also_under_its_deprecated_name_inbox(make_app: Callable[..., Flask]) -> None:
    client = make_app(DLRHOOK_API_TOKEN="read").test_client()
    client.post("/notify", data=sample("v1-two-delivered.json"), content_type="application/json")

    body = client.get("/readyz", headers={"Authorization": "Bearer read"}).get_json()

    assert body["stream"] == 2
    assert body["inbox"] == body["stream"]
    readiness = document()["components"]["schemas"]["Readiness"]["properties"]
    assert "stream" in readiness
    assert readiness["inbox"]["deprecated"] is True
