"""Schema-generated reports: any instance of a report webhook's request-body schema in
Infobip's spec (tightened only as ``tests/spec/strict.py`` says) is accepted and never
quarantined, JSON through the app to Redis.

schemathesis (already the suite's OpenAPI fuzzer) generates the bodies: the webhooks' schemas
are put in an OpenAPI 3.1 document of their own, one operation a webhook, and each generated
body is POSTed to that webhook's notify URL. Runs are bounded (25 examples a webhook, no
deadline: the machine is shared), so the suite stays fast.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import redis as redis_lib
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from dlrhook.store import keys
from tests.spec.expect import examples, manifest
from tests.spec.strict import strict

WEBHOOKS = manifest()["webhooks"]
#: Examples a webhook; ``make spec-check`` runs more (DLRHOOK_SPEC_EXAMPLES).
EXAMPLES = int(os.environ.get("DLRHOOK_SPEC_EXAMPLES", "25"))


def _document() -> dict[str, Any]:
    """An OpenAPI document whose operation ``POST /<webhook id>`` takes that webhook's body."""
    from tests.spec.expect import spec_dir

    paths = {}
    for w in WEBHOOKS:
        schema = strict(json.loads((spec_dir() / w["schema"]).read_text(encoding="utf-8")), w["kind"])
        paths[f"/{w['id']}"] = {
            "post": {
                "operationId": w["id"],
                "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                "responses": {"200": {"description": "accepted"}},
            }
        }
    return {"openapi": "3.1.0", "info": {"title": "Infobip report webhooks", "version": "1"}, "paths": paths}


DOCUMENT = _document()
OPERATIONS = {
    op.path.lstrip("/"): op for op in (r.ok() for r in schemathesis.openapi.from_dict(DOCUMENT).get_all_operations())
}


@pytest.mark.parametrize("webhook", WEBHOOKS, ids=[w["id"] for w in WEBHOOKS])
def test_any_instance_of_a_report_schema_is_accepted_and_never_quarantined(
    client: FlaskClient, conn: redis_lib.Redis, webhook: dict[str, Any]
) -> None:
    operation = OPERATIONS[webhook["id"]]
    validator = Draft202012Validator(
        DOCUMENT["paths"][f"/{webhook['id']}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def pushed(case: schemathesis.Case) -> None:
        body = case.body
        assert validator.is_valid(body)  # a valid instance of the (tightened) spec schema
        answer = client.post(webhook["url"], data=json.dumps(body), content_type="application/json")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        result = answer.get_json()
        assert result["quarantined"] == 0, (result, body)
        reports = 1 if webhook["kind"] == "event" else len(body["results"])
        assert result["accepted"] + result["duplicates"] == reports

    pushed()
    assert conn.hlen(keys.QUARANTINE) == 0


def test_the_tightened_schemas_still_accept_the_specs_own_examples() -> None:
    for example in examples():
        if "json" not in example.content_type:
            continue
        schema = DOCUMENT["paths"][f"/{example.webhook}"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(json.loads(example.body))]
        assert not errors, (example.file, errors)
