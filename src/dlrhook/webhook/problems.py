"""Every HTTP error answer, decided in one place, as RFC 9457 problem+json.

Infobip treats 200 as "accepted" and retries anything else; each status below says what
that means for the reports in the request.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from dlrhook import metrics
from dlrhook.defaults import RETRY_AFTER
from dlrhook.errors import ApiRejected, NotDurable, PushRejected, StatusUnavailable, StoreUnavailable

# kind -> (status, title). Why each status:
STATUSES: dict[str, tuple[int, str]] = {
    # The body cannot be read as a batch at all; a retry of the same bytes cannot succeed.
    "bad_body": (400, "Bad Request"),
    # No or wrong credentials: Infobip retries, and a fixed notify URL or secret then gets through.
    "unauthorized": (401, "Unauthorized"),
    # The sender's address is not allowed: not Infobip, or a proxy count set wrong.
    "forbidden": (403, "Forbidden"),
    # More reports than DLRHOOK_MAX_REPORTS (far above Infobip's 2000 a bucket): nothing was
    # stored; this bounds the work one request can ask for. Infobip retries, to the same end.
    "too_many_reports": (413, "Content Too Large"),
    # Neither JSON nor XML: nothing here can parse it.
    "unsupported_type": (415, "Unsupported Media Type"),
}


def problem(
    status: int, title: str, detail: str, errors: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """A problem+json response (counted in ``dlrhook_rejected_requests``)."""
    metrics.count_rejected(status)
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_rejection(exc: PushRejected) -> Response:
    """The answer to a push rejected as a whole."""
    status, title = STATUSES[exc.kind]
    headers = {"WWW-Authenticate": 'Bearer realm="dlrhook", Basic realm="dlrhook"'} if status == 401 else None
    return problem(status, title, exc.detail, exc.errors, headers)


def init_app(app: Flask) -> None:
    """Register the handlers that turn exceptions into problem+json answers."""

    app.register_error_handler(PushRejected, from_rejection)

    @app.errorhandler(ApiRejected)
    def _api_rejected(exc: ApiRejected) -> Response:
        # The read API takes DLRHOOK_API_TOKEN as a Bearer token, nothing else: say so.
        return problem(401, "Unauthorized", exc.detail, headers={"WWW-Authenticate": 'Bearer realm="dlrhook-api"'})

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(exc: StoreUnavailable) -> Response:
        # Nothing of the batch was stored; 503 with Retry-After makes Infobip send it again.
        return problem(
            503,
            "Service Unavailable",
            "the report store is unavailable; nothing was stored, retry later",
            headers={"Retry-After": str(RETRY_AFTER)},
        )

    @app.errorhandler(StatusUnavailable)
    def _status_unavailable(exc: StatusUnavailable) -> Response:
        # A read of the status store (Redis or the database) failed: the service is unavailable
        # for this read, not broken; a reader may retry.
        logging.getLogger("dlrhook.web").warning("status read answered 503: %s", exc)
        return problem(503, "Service Unavailable", str(exc), headers={"Retry-After": str(RETRY_AFTER)})

    @app.errorhandler(NotDurable)
    def _not_durable(exc: NotDurable) -> Response:
        # Stored but not yet on disk or replicas (DLRHOOK_DURABILITY): a 200 could be a lie after
        # a crash or failover. 503 makes Infobip retry; its retry counts as duplicates if it survived.
        logging.getLogger("dlrhook.web").warning("push answered 503: %s", exc)
        return problem(
            503,
            "Service Unavailable",
            f"{exc} (DLRHOOK_DURABILITY); retry later: the reports that were kept count as duplicates",
            headers={"Retry-After": str(RETRY_AFTER)},
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        # Routing and protocol errors keep their status. 413: over DLRHOOK_MAX_BODY, refused on the
        # Content-Length before the body is read (a chunked one when it passes the limit), so memory
        # stays bounded; Infobip retries it.
        status = exc.code or 500
        detail = exc.description or exc.name
        # 408: the body did not arrive within DLRHOOK_BODY_TIMEOUT (webhook.body); Infobip retries.
        if status == 413:
            detail = f"the body is larger than DLRHOOK_MAX_BODY ({app.config['MAX_CONTENT_LENGTH']} bytes)"
        response = problem(status, exc.name, detail)
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # A bug, never bad input: log it with the traceback; Infobip retries the batch.
        app.logger.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error occurred; the batch was not accepted")
