"""The built-in handlers, registered as ``dlrhook.handlers`` entry points like any plugin.

- ``log``: one JSON line per report through logging, the phone number or email address masked.
- ``forward``: POSTs each report as JSON to ``DLRHOOK_FORWARD_URL``, signed the Standard Webhooks
  way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) under
  ``DLRHOOK_FORWARD_SECRET``; a non-2xx answer or a network error fails the report, which is then
  retried like any handler's.
- ``status``: folds every report into one record per message (``dlrhook.status``, in Redis or a
  SQL database), read by ``GET /messages/<id>``, ``GET /bulks/<id>`` and ``dlrhook status``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import requests

from dlrhook import metrics, store
from dlrhook import status as message_status
from dlrhook.errors import ForwardError
from dlrhook.logs import mask_phone
from dlrhook.plugin import batch_handler
from dlrhook.report import DeliveryReport
from dlrhook.settings import Settings
from dlrhook.workers import runtime

report_log = logging.getLogger("dlrhook.reports")


def log(report: DeliveryReport) -> None:
    """Write one JSON log line for *report* (``to`` masked, a phone number or an email
    address alike; no callback data or clicked url: they may be personal). A seen report logs
    ``seen_at`` and no status; an Email user event its ``event`` (OPENED, CLICKED, ...)."""
    report_log.info(
        {"seen": "seen report", "event": "user event"}.get(report.kind, "delivery report"),
        extra={
            "key": report.key,
            "message_id": report.message_id,
            "bulk_id": report.bulk_id,
            "channel": report.channel,
            "kind": report.kind,
            "to": mask_phone(report.to),
            "status": report.status.name if report.status else None,
            "status_group": report.status.group_name if report.status else None,
            "error": report.error.name if report.error else None,
            "final": report.final,
            "done_at": report.done_at.isoformat() if report.done_at else None,
            "seen_at": report.seen_at.isoformat() if report.seen_at else None,
            "event": report.event,
            "source": report.source,
        },
    )


def forward(report: DeliveryReport) -> None:
    """POST *report* to ``DLRHOOK_FORWARD_URL``; raise :class:`ForwardError` unless it answers 2xx.

    Redirects are not followed: a 3xx fails the call (retried, then dead-lettered) and the body
    goes nowhere else.

    The webhook id is the report's key, stable across retries and duplicates, so that receivers
    can deduplicate.
    """
    settings = runtime.settings()
    if not settings.forward_url or not settings.forward_secret:
        raise ForwardError("DLRHOOK_FORWARD_URL and DLRHOOK_FORWARD_SECRET must be set")
    body = json.dumps({**report.to_wire(), "final": report.final}, separators=(",", ":"), ensure_ascii=False)
    headers = sign(settings.forward_secret, report.key, int(time.time()), body)
    headers["Content-Type"] = "application/json"
    where = _redacted(settings.forward_url)
    try:
        answer = _session().post(
            settings.forward_url,
            data=body.encode(),
            headers=headers,
            timeout=settings.forward_timeout,
            # A redirect would re-post the signed body to wherever the receiver (or whoever
            # answers for it) points; a 3xx is an answer that did not take the report.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        # requests' messages repeat the URL, query string (maybe a token) included: say less.
        raise ForwardError(f"{where}: {type(exc).__name__} for report {report.key}") from None
    if not 200 <= answer.status_code < 300:
        raise ForwardError(f"{where} answered {answer.status_code} for report {report.key}")


def _redacted(url: str) -> str:
    """*url* without credentials, query or fragment: safe for logs and dead letters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _forward_unconfigured(settings: Settings) -> str | None:
    if not settings.forward_url:
        return "DLRHOOK_FORWARD_URL is not set"
    if not settings.forward_secret:
        return "DLRHOOK_FORWARD_SECRET is not set (whsec_<base64>)"
    return None


forward.dlrhook_unconfigured = _forward_unconfigured  # type: ignore[attr-defined]


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Standard Webhooks headers for *body*: HMAC-SHA256 of ``id.timestamp.body`` under the key
    that *secret* (``whsec_<base64>``) encodes."""
    key = base64.b64decode(secret.partition("_")[2])
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


_sessions: dict[str, Any] = {}


def _session() -> requests.Session:
    """One HTTP session per process: connections to the receiver are reused across reports."""
    if "s" not in _sessions:
        _sessions["s"] = requests.Session()
    return _sessions["s"]  # type: ignore[no-any-return]


@batch_handler
def status(reports: list[DeliveryReport]) -> None:
    """Fold the batch into each message's status record in the store ``DLRHOOK_STATUS_STORE``
    names (``dlrhook.status``): one atomic Lua call for the whole batch in Redis, one
    transaction of one statement per table in a SQL database.

    Idempotent, so a retried batch is harmless; raises ``redis.RedisError`` or
    ``StatusUnavailable`` when the store does not take it (nothing of the batch was folded; it
    is retried for this handler alone, then dead-lettered). Times the messages that became
    final for the first time (``dlrhook_time_to_final_seconds``).
    """
    settings = runtime.settings()
    statuses = message_status.open_store(settings, None if settings.status_url else _redis(settings))
    firsts = statuses.fold(reports, ttl=settings.status_ttl)
    metrics.observe_first_final(
        (message_status.channel_of(r), r.status.group_name, (r.done_at - r.sent_at).total_seconds())
        for r in firsts
        if r.status is not None and r.sent_at is not None and r.done_at is not None
    )


_connections: dict[str, redis.Redis] = {}


def _redis(settings: Settings) -> redis.Redis:
    """One Redis client per process for the status handler (its pool is thread-safe)."""
    conn = _connections.get(settings.redis_url)
    if conn is None:
        conn = _connections[settings.redis_url] = store.connect(settings)
    return conn
