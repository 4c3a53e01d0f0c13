"""The do-nothing baselines: a WSGI app that reads the body and answers 200, nothing else, and
the same through Flask (what any Flask view pays before it does anything)."""

from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    body = b'{"accepted":1,"duplicates":0,"quarantined":0}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _flask_app() -> Any:
    """The do-nothing Flask app: the same answer through Flask's routing and request context."""
    from flask import Flask, Response, request

    flask_app = Flask("noop")

    @flask_app.post("/notify")
    def notify() -> Response:
        request.get_data(cache=False)
        return Response(b'{"accepted":1,"duplicates":0,"quarantined":0}', mimetype="application/json")

    @flask_app.get("/healthz")
    def healthz() -> Response:
        return Response(b"{}", mimetype="application/json")

    return flask_app


flask_app = _flask_app()
