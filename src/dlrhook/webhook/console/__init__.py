"""The operators' console: server-rendered pages at ``/console`` (Flask blueprint, Jinja templates
shipped in the package, SVG charts drawn on the server, no front-end build).

Off unless ``DLRHOOK_CONSOLE_PASSWORD`` is set: then no route exists and ``/console`` is a 404
like any unknown path. On, every page but the login form needs the session a right password
opens (:mod:`.guard` says how it is signed and how logins are rate-limited); every POST carries
Flask-WTF's CSRF token (``CSRFProtect``, checked here for the console's forms only: a push to
``/notify`` has no session and no token). A refused token is a 403. Every action is logged with
what it touched; phone numbers and email addresses are masked as in the logs.

Pages: :mod:`.views` (overview, a message, a bulk), :mod:`.lists` (dead letters and
quarantine, with their actions); what they read: :mod:`.reads`; charts: :mod:`.charts`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from dlrhook.errors import StatusUnavailable
from dlrhook.webhook.console import guard

log = logging.getLogger("dlrhook.console")

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
csrf = CSRFProtect()
#: How long a login lasts (the signed cookie's age is checked on every request).
SESSION_HOURS = 12


def init_app(app: Flask) -> None:
    """Mount the console when ``DLRHOOK_CONSOLE_PASSWORD`` is set; otherwise leave no trace."""
    settings = state_of(app).settings
    if settings.console_password is None:
        return
    app.session_interface = guard.ConsoleSessions(state_of(app).conn, settings.console_password)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=SESSION_HOURS)
    # CSRFProtect checks only where the console asks (before_request below), never /notify.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = SESSION_HOURS * 3600
    csrf.init_app(app)
    app.register_blueprint(bp)
    app.register_error_handler(CSRFError, _csrf_refused)


def state_of(app: Flask) -> Any:
    """The app's shared state (settings, Redis)."""
    return app.extensions["dlrhook"]


def st() -> Any:
    """The running app's shared state."""
    return state_of(current_app)


@bp.before_request
def _guard() -> BaseResponse | tuple[str, int] | None:
    if request.environ.get("dlrhook.console.down"):
        # The session key lives in Redis: without it nobody can be told apart from anybody.
        return render_template("console/down.html"), 503
    if request.method == "POST":
        csrf.protect()  # CSRFError (403) when the token is missing or wrong
    if request.endpoint in ("console.login", "console.logout"):
        return None
    if not session.get("in"):
        return redirect(url_for("console.login", next=request.full_path if request.method == "GET" else None))
    return None


def _csrf_refused(exc: CSRFError) -> tuple[str, int]:
    # 403, not flask_wtf's 400: the request was understood and is refused (no valid form token).
    log.warning("console: refused %s %s from %s: %s", request.method, request.path, guard.client_of(request), exc)
    return render_template("console/refused.html", reason=exc.description), 403


@bp.errorhandler(redis.RedisError)
def _redis_down(exc: redis.RedisError) -> tuple[str, int]:
    # Redis stopped answering mid-page: say so (the pushes get their 503s meanwhile).
    log.warning("console: Redis did not answer %s %s: %s", request.method, request.path, type(exc).__name__)
    return render_template("console/down.html"), 503


@bp.errorhandler(StatusUnavailable)
def _status_down(exc: StatusUnavailable) -> tuple[str, int]:
    # The status store (a database, with DLRHOOK_STATUS_STORE) did not answer: say so, as the API does.
    log.warning("console: the status store did not answer %s %s: %s", request.method, request.path, exc)
    return render_template("console/status_down.html", reason=str(exc)), 503


@bp.after_request
def _no_store(response: Response) -> Response:
    # Pages hold report data: no cache keeps them, no other site frames them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int]:
    """The login form; a right password opens a session for :data:`SESSION_HOURS` hours."""
    conn, settings = st().conn, st().settings
    client = guard.client_of(request)
    if request.method == "GET":
        return render_template("console/login.html", error=None), 200
    wait = guard.attempt(conn, client)
    if wait:
        log.warning("console: login refused from %s: too many failed attempts (%d s left)", client, wait)
        page = render_template("console/login.html", error=f"Too many failed attempts: try again in {wait} s.")
        return page, 429, {"Retry-After": str(wait)}  # type: ignore[return-value]
    if not guard.password_ok(request.form.get("password", ""), settings.console_password):
        log.warning("console: wrong password from %s", client)
        return render_template("console/login.html", error="Wrong password."), 401
    guard.succeeded(conn, client)
    session.clear()
    session.permanent = True
    session["in"] = True
    log.info("console: login from %s", client)
    target = request.args.get("next") or ""
    # Only a path of the console itself: never an open redirect elsewhere.
    return redirect(target if target.startswith("/console") and "//" not in target else url_for("console.overview"))


@bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    """End the session."""
    session.clear()
    log.info("console: logout from %s", guard.client_of(request))
    return redirect(url_for("console.login"))


# The pages register their routes on bp (imported last: they import bp from here).
from dlrhook.webhook.console import lists, views  # noqa: E402, F401
