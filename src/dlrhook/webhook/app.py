"""The HTTP app: ``create_app()`` builds it, gunicorn serves it.

This is the only module tree that imports Flask; workers and the poller never do.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from dlrhook import activity, backlog, channels, logs, metrics, status, store
from dlrhook.errors import ApiRejected, StatusUnavailable
from dlrhook.ingest import ingest
from dlrhook.parsing import parse_body
from dlrhook.settings import Settings, load_settings
from dlrhook.store import durability, keys
from dlrhook.webhook import api, auth, console, openapi, problems, refusals
from dlrhook.webhook.body import read as read_body

log = logging.getLogger("dlrhook.web")


class ChannelConverter(BaseConverter):
    """``<channel:channel>``: a channel's URL name (``whatsapp``, ``viber-bm``); others are 404."""

    regex = channels.URL_PATTERN


class State:
    """What the views share: settings and the Redis client, made once per process, and the
    status store (``DLRHOOK_STATUS_STORE``), opened on first use."""

    def __init__(self, settings: Settings, conn: redis.Redis) -> None:
        self.settings = settings
        self.conn = conn
        self._statuses: status.StatusStore | None = None

    @property
    def statuses(self) -> status.StatusStore:
        """The status store every read of the API uses (a SQL one connects on its first read)."""
        if self._statuses is None:
            self._statuses = status.open_store(self.settings, self.conn)
        return self._statuses


def state() -> State:
    """The running app's :class:`State`."""
    return current_app.extensions["dlrhook"]  # type: ignore[no-any-return]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app. *settings* default to the environment (a bad value raises SettingsError)."""
    settings = settings or load_settings()
    logs.configure(settings.log_level, settings.secrets)
    # Named after this module (its root is the package, not the working directory), and no
    # /static route: the app serves no files.
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    # Bounded: a burst against a slow Redis waits for a connection rather than opening one per push.
    conn = store.connect(settings, bounded=True)
    # Logs the level in force (a warning when auto fell to memory); a level the server cannot
    # give raises DurabilityUnsupported, naming it and the server's version.
    durability.check_start(conn, settings)
    app.extensions["dlrhook"] = State(settings, conn)
    if settings.trusted_proxies:
        # X-Forwarded-For is trusted only as far as the configured number of proxies, and so is
        # X-Forwarded-Proto (the console's cookie is Secure when the client came over https).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    problems.init_app(app)
    app.url_map.converters["channel"] = ChannelConverter
    app.add_url_rule("/notify", view_func=notify, methods=["POST"])
    app.add_url_rule("/notify/<channel:channel>", view_func=notify, methods=["POST"])
    app.add_url_rule("/healthz", view_func=healthz, methods=["GET"])
    app.add_url_rule("/readyz", view_func=readyz, methods=["GET"])
    app.add_url_rule("/metrics", view_func=metrics_view, methods=["GET"])
    app.add_url_rule("/openapi.json", view_func=openapi_view, methods=["GET"])
    api.init_app(app)
    console.init_app(app)
    app.after_request(_log_refusal)
    if settings.auth_mode == "open":
        log.warning(
            "NO AUTHENTICATION: POST /notify accepts anyone's reports. Set DLRHOOK_TOKEN or DLRHOOK_BASIC_AUTH."
        )
    elif not settings.tokens and not settings.basic_auth:
        log.warning(
            "ALLOWLIST ONLY (DLRHOOK_ALLOWLIST_ONLY): POST /notify admits any push from DLRHOOK_ALLOWED_IPS, "
            "including other Infobip customers' reports. Set DLRHOOK_TOKEN or DLRHOOK_BASIC_AUTH."
        )
    else:
        log.info("push authentication: %s", settings.auth_mode)
    return app


def notify(channel: str | None = None) -> tuple[Response, int]:
    """Take one push: authenticate, parse, then ingest (validate, dedup, store, queue).

    ``/notify/<channel>`` sets the channel of reports whose body names none (``whatsapp`` ->
    ``WHATSAPP``; ``messages``: none, each report must name its own); plain ``/notify`` is SMS.
    """
    st = state()
    auth.check_push(
        st.settings,
        client_ip=request.remote_addr,
        query_token=request.args.get("token"),
        authorization=request.headers.get("Authorization"),
    )
    # 413 past DLRHOOK_MAX_BODY (on the Content-Length alone when there is one), 408 past DLRHOOK_BODY_TIMEOUT.
    body = read_body(request, limit=st.settings.max_body, seconds=st.settings.body_timeout)
    reports = parse_body(body, request.headers.get("Content-Type"), st.settings.max_reports)
    default = channels.from_url_name(channel) if channel is not None else channels.DEFAULT_CHANNEL
    activity.tally.pushed(channels.metric_label(default))
    result = ingest(st.conn, reports, source="push", settings=st.settings, channel=default)
    answer = result.as_dict()
    if result.quarantined:
        log.warning(
            "quarantined %d of %d reports", result.quarantined, len(reports), extra={"errors": answer["errors"]}
        )
    return jsonify(answer), 200


def _log_refusal(response: Response) -> Response:
    """A push answered anything but 200 (or a 500, logged already) gets its WARNING line, and
    every refused push is counted in the console's per-minute tally."""
    if request.endpoint == "notify" and response.status_code != 200:
        field = activity.refused_field(response.status_code)
        if field is not None:
            activity.tally.add(field)
    if request.endpoint == "notify" and response.status_code != 200 and response.status_code != 500:
        problem = response.get_json(silent=True) or {}
        refusals.refused(
            response.status_code,
            str(problem.get("title") or response.status),
            str(problem.get("detail") or ""),
            request.remote_addr,
        )
    return response


def healthz() -> tuple[Response, int]:
    """200 while the process lives."""
    return jsonify({"status": "ok"}), 200


def readyz() -> tuple[Response, int]:
    """200 when Redis answers, else 503. Only ``status`` for anyone; with
    ``Authorization: Bearer <DLRHOOK_API_TOKEN>`` also the queue depths, the auth mode and Redis's state.

    ``stream`` counts the reports kept in the report stream; ``inbox`` is its deprecated duplicate;
    ``durability`` is the DLRHOOK_DURABILITY level in force; ``dead_letters`` and ``handlers``
    (per handler: reports waiting, the age of the oldest undelivered one, dead letters) are
    :func:`dlrhook.backlog.per_handler`'s.
    """
    st = state()
    code, body = _readiness(st)
    if not _may_read(st.settings):
        # A load balancer needs only ready or not; the rest tells a stranger how the service is guarded.
        body = {"status": body["status"]}
    elif code == 200:
        body["status_store"] = _status_store_state(st)
    return jsonify(body), code


def _status_store_state(st: State) -> dict[str, str]:
    """The status store's kind and whether it answers (for the authorized body only: a database
    round trip a probe). Readiness does not depend on it: pushes are stored in Redis whatever it
    does, and the status handler's reports are retried while it is down."""
    statuses = st.statuses
    try:
        statuses.ping()
    except StatusUnavailable as exc:
        return {"kind": statuses.kind, "state": str(exc)}
    return {"kind": statuses.kind, "state": "ok"}


def _may_read(settings: Settings) -> bool:
    try:
        auth.check_api(settings, authorization=request.headers.get("Authorization"))
    except ApiRejected:
        return False
    return True


def _readiness(st: State) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"auth": st.settings.auth_mode}
    try:
        with st.conn.pipeline(transaction=False) as pipe:
            pipe.ping()
            pipe.xlen(keys.REPORTS)
            pipe.llen(store.queue(st.conn, st.settings).key)
            pipe.hlen(keys.QUARANTINE)
            _, stream, jobs, quarantined = pipe.execute()
        jobs += backlog.parked_jobs(st.conn, store.queue(st.conn, st.settings))
    except redis.RedisError as exc:
        # Not ready: a load balancer should send pushes elsewhere until Redis is back.
        body.update(status="unavailable", redis=type(exc).__name__)
        return 503, body
    # ``inbox`` is the deprecated name of ``stream``, kept (same value) for dashboards and alerts that read it.
    body.update(status="ok", redis="ok", stream=stream, inbox=stream, queued_jobs=jobs, quarantined=quarantined)
    try:
        body["dead_letters"], body["handlers"] = backlog.per_handler(st.conn, store.queue(st.conn, st.settings))
    except redis.RedisError as exc:  # Redis answered the ping: report what is known, stay ready
        body["handlers"] = {"error": type(exc).__name__}
    plan = durability.of(st.conn, st.settings).current  # as the last write saw it; not read here
    body["durability"] = plan.level if plan is not None else "unknown"
    return 200, body


def metrics_view() -> Response:
    """Prometheus text format: every gunicorn worker's counts (multiprocess mode), queue depths."""
    st = state()
    body, content_type = metrics.render(st.conn, st.settings)
    return Response(body, status=200, content_type=content_type)


def openapi_view() -> tuple[Response, int]:
    """The OpenAPI 3 document of these routes."""
    return jsonify(openapi.document()), 200
