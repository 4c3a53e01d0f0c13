"""The read API: ``GET /messages/<messageId>`` and ``GET /bulks/<bulkId>`` (a Flask blueprint).

Both read what the ``status`` handler folded, in the store ``DLRHOOK_STATUS_STORE`` names
(``dlrhook.status``), behind ``Authorization: Bearer <DLRHOOK_API_TOKEN>``. With the token unset
they answer 404, as if they did not exist. A bulk's summary is one HGETALL of its counters in
Redis, one index-only GROUP BY in SQL. A store that cannot answer is a 503 problem
(``StatusUnavailable``, dlrhook.webhook.problems).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import NotFound

from dlrhook.webhook import auth

blueprint = Blueprint("dlrhook_api", __name__)


def _authorized() -> None:
    st = current_app.extensions["dlrhook"]
    if not st.settings.api_token:
        # Off: indistinguishable from a route that does not exist.
        raise NotFound()
    auth.check_api(st.settings, authorization=request.headers.get("Authorization"))


@blueprint.get("/messages/<messageId>")
def message(messageId: str) -> tuple[Response, int]:
    """The message's folded status, or 404 when no report of it is known."""
    _authorized()
    found = current_app.extensions["dlrhook"].statuses.message(messageId)
    if found is None:
        raise NotFound(f"no status is known for message {messageId!r} (never reported, or older than the TTL)")
    return jsonify(found), 200


@blueprint.get("/bulks/<bulkId>")
def bulk(bulkId: str) -> tuple[Response, int]:
    """The bulk's message counts by current status group, or 404 when none is known."""
    _authorized()
    found = current_app.extensions["dlrhook"].statuses.bulk(bulkId)
    if found is None:
        raise NotFound(f"no status is known for bulk {bulkId!r} (never reported, or older than the TTL)")
    return jsonify(found), 200


def init_app(app: Flask) -> None:
    """Add the read API's routes to *app*."""
    app.register_blueprint(blueprint)
