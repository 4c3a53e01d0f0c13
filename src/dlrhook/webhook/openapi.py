"""The OpenAPI 3 document of the HTTP routes, built with apispec from the marshmallow schemas
the endpoint validates with (``dlrhook.schemas``), so the document cannot drift from the code.

No Flask here: :func:`document` is a plain dict, served by ``GET /openapi.json``.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from dlrhook.channels import URL_PATTERN as CHANNEL_PATTERN
from dlrhook.metrics import CONTENT_TYPE as METRICS_TYPE
from dlrhook.schemas import ProblemSchema, PushAnswerSchema, PushSchema, ReportSchema
from dlrhook.schemas.status import BulkSummarySchema, MessageStatusSchema

PROBLEM_TYPE = "application/problem+json"


class HealthSchema(Schema):
    """``GET /healthz``."""

    status = fields.String(required=True, metadata={"enum": ["ok"]})


class ReadinessSchema(Schema):
    """``GET /readyz``: ready or not for anyone; with ``Authorization: Bearer <DLRHOOK_API_TOKEN>``
    also Redis's state, queue depths and the push authentication mode (the other fields)."""

    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    auth = fields.String(metadata={"description": "token, basic, ip-allowlist (joined by +), or open"})
    redis = fields.String(metadata={"description": '"ok", or the error class when unavailable'})
    stream = fields.Integer(metadata={"description": "reports kept in the report stream until every handler has them"})
    inbox = fields.Integer(
        metadata={"description": "deprecated: the same value as stream, under its old name", "deprecated": True}
    )
    queued_jobs = fields.Integer(metadata={"description": "RQ jobs queued"})
    quarantined = fields.Integer(metadata={"description": "invalid reports kept in quarantine"})
    durability = fields.String(
        metadata={
            "description": "the DLRHOOK_DURABILITY level in force (auto's choice), or unknown before Redis answered",
            "enum": ["memory", "disk", "replica", "unknown"],
        }
    )


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_TYPE: {"schema": "Problem"}}}
    if headers:
        response["headers"] = headers
    return response


_NOTIFY_DESCRIPTION = """\
Infobip pushes delivery reports here (the notify URL). The answer is 200 only once Redis
holds the whole batch. A report that fails validation inside a well-formed batch is
quarantined and counted in the 200 answer (with its field errors by index): a retry from
Infobip could not make it valid. The request schema describes a valid report; the endpoint
itself only requires a `results` list. XML bodies use Infobip's v1 form (root
`reportResponse`) or v3 form (root `DeliveryReports`), `<results><result>...</result></results>`.
Any method other than POST gets 405 with an `Allow` header. A report is a delivery report
(`status` required) or a seen report (`event: "SEEN"`, or `seenAt` without `status`:
`seenAt` required); the Messages API's form (`event`, `channel`, `destination`) is read too."""

_CHANNEL_DESCRIPTION = """The same as `POST /notify`, for the notify URL registered for one channel: reports whose
body does not name their channel (most channels' bodies do not) get the one in the path,
upper case (`whatsapp` is `WHATSAPP`). A report's own `channel` wins. `messages` names none:
each Messages API report carries its own, and one without is quarantined."""


def _xml_schema(push: dict[str, Any]) -> dict[str, Any]:
    """The push schema with the element names Infobip's XML uses."""
    schema = copy.deepcopy(push)
    schema["xml"] = {"name": "reportResponse"}
    results = schema["properties"]["results"]
    results["xml"] = {"name": "results", "wrapped": True}
    results["items"] = {"allOf": [results["items"]], "xml": {"name": "result"}}
    return schema


def _version() -> str:
    try:
        return version("dlrhook")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document, as a JSON-ready dict (built once per process)."""
    spec = APISpec(
        title="dlrhook",
        version=_version(),
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "The notify URL for Infobip delivery and seen reports of every channel: "
            "authenticated, validated, durable in Redis, dispatched to handler plugins.",
        },
    )
    spec.components.schema("Report", schema=ReportSchema)
    spec.components.schema("Push", schema=PushSchema)
    spec.components.schema("PushAnswer", schema=PushAnswerSchema)
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.schema("Health", schema=HealthSchema)
    spec.components.schema("Readiness", schema=ReadinessSchema)
    spec.components.schema("MessageStatus", schema=MessageStatusSchema)
    spec.components.schema("BulkSummary", schema=BulkSummarySchema)
    spec.components.security_scheme(
        "token",
        {"type": "apiKey", "in": "query", "name": "token", "description": "DLRHOOK_TOKEN, in the notify URL"},
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "DLRHOOK_TOKEN as a Bearer token"}
    )
    spec.components.security_scheme(
        "basic", {"type": "http", "scheme": "basic", "description": "one of DLRHOOK_BASIC_AUTH's user:password"}
    )
    spec.components.security_scheme(
        "apiToken",
        {"type": "http", "scheme": "bearer", "description": "DLRHOOK_API_TOKEN: the read API's token, nothing else"},
    )
    push_ref = {"$ref": "#/components/schemas/Push"}
    push_schema = spec.to_dict()["components"]["schemas"]["Push"]
    notify: dict[str, Any] = {
        "operationId": "notify",
        "summary": "Receive a batch of delivery and seen reports (SMS, unless a report names its channel)",
        "description": _NOTIFY_DESCRIPTION,
        # Any one credential passes; with none configured the endpoint is open ({}).
        "security": [{"token": []}, {"bearer": []}, {"basic": []}, {}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": push_ref},
                "application/xml": {"schema": _xml_schema(push_schema)},
                "text/xml": {"schema": _xml_schema(push_schema)},
            },
        },
        "responses": {
            "200": {
                "description": "Redis holds the batch: counts of accepted, duplicate and quarantined reports",
                "content": {"application/json": {"schema": "PushAnswer"}},
            },
            "400": _problem("The body is not JSON/XML, or has no results list; nothing was stored"),
            "401": _problem(
                "Missing or wrong credentials",
                {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer and Basic"}},
            ),
            "403": _problem("The client address is not in DLRHOOK_ALLOWED_IPS"),
            "413": _problem("The body is larger than DLRHOOK_MAX_BODY"),
            "415": _problem("The content type is neither JSON nor XML"),
            "503": _problem(
                "Redis cannot take the batch; nothing was stored, Infobip retries",
                {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
            ),
        },
    }
    spec.path(path="/notify", operations={"post": notify})
    by_channel = copy.deepcopy(notify)
    by_channel.update(
        operationId="notifyChannel",
        summary="Receive a batch of delivery and seen reports of one channel",
        description=_CHANNEL_DESCRIPTION,
        parameters=[
            {
                "name": "channel",
                "in": "path",
                "required": True,
                "description": "the channel of reports whose body names none: sms, mms, whatsapp, viber, rcs, "
                "email, any other Infobip channel name (viber-bm is VIBER_BM), or messages (the Messages API: "
                "each report names its own)",
                "schema": {"type": "string", "pattern": f"^{CHANNEL_PATTERN}$"},
            }
        ],
    )
    by_channel["responses"]["404"] = _problem("The path names no channel: letters, digits, _ and -, at most 32")
    spec.path(path="/notify/{channel}", operations={"post": by_channel})
    spec.path(
        path="/healthz",
        operations={
            "get": {
                "operationId": "healthz",
                "summary": "Liveness: 200 while the process lives",
                "responses": {"200": {"description": "alive", "content": {"application/json": {"schema": "Health"}}}},
            }
        },
    )
    spec.path(
        path="/readyz",
        operations={
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: 200 when Redis answers, else 503",
                "description": "Only status, unless the read API's Bearer token (DLRHOOK_API_TOKEN) is sent.",
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {"schema": "Readiness"}}},
                    "503": {
                        "description": "Redis does not answer",
                        "content": {"application/json": {"schema": "Readiness"}},
                    },
                },
            }
        },
    )
    spec.path(
        path="/metrics",
        operations={
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics, summed over every process sharing PROMETHEUS_MULTIPROC_DIR",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {METRICS_TYPE: {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    )
    spec.path(
        path="/openapi.json",
        operations={
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {}}}}
                },
            }
        },
    )
    _read_api(spec)
    return spec.to_dict()


def _read_api(spec: APISpec) -> None:
    """``GET /messages/{messageId}`` and ``GET /bulks/{bulkId}``."""
    for path, name, schema, what in (
        ("/messages/{messageId}", "messageId", "MessageStatus", "message"),
        ("/bulks/{bulkId}", "bulkId", "BulkSummary", "bulk"),
    ):
        spec.path(
            path=path,
            operations={
                "get": {
                    "operationId": what,
                    "summary": f"The {what}'s folded status (the status handler's record)",
                    "description": "Behind `Authorization: Bearer <DLRHOOK_API_TOKEN>`; push credentials never "
                    "open it. With DLRHOOK_API_TOKEN unset the route answers 404.",
                    "security": [{"apiToken": []}],
                    "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": f"the {what}'s status",
                            "content": {"application/json": {"schema": schema}},
                        },
                        "401": _problem(
                            "Missing or wrong DLRHOOK_API_TOKEN",
                            {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
                        ),
                        "404": _problem(f"No status is known for this {what}, or the read API is off"),
                    },
                }
            },
        )
