"""Redis: the connection, the key names, and the RQ queue every process shares.

Every key dlrhook writes starts with ``dlrhook:`` (RQ's own keys start with ``rq:``).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.commands.core import Script
from rq import Queue
from rq.serializers import JSONSerializer

from dlrhook.settings import Settings

PREFIX = "dlrhook:"
#: List of wire reports (JSON) accepted and waiting for a worker.
INBOX = PREFIX + "inbox"
#: Set (with expiry) while a drain job is queued: ingest enqueues one only when it is absent.
DRAIN_PENDING = PREFIX + "drain:pending"
#: Hash: quarantine id -> JSON {raw, errors, source, received_at}.
QUARANTINE = PREFIX + "quarantine"
#: Unix time of the last push received (the poller's fallback mode reads it).
LAST_PUSH = PREFIX + "last-push"
#: Prefix of the dedup keys: ``dlrhook:s:`` + the first 12 bytes of the report key, raw. Short on
#: purpose: Redis spends ~71 bytes a key plus its name, and there is one key per report for 48 h.
SEEN_PREFIX = (PREFIX + "s:").encode()


def seen_key(report_key: str) -> bytes:
    """The dedup key of a report (96 bits of its identity: no collision in any real volume)."""
    return SEEN_PREFIX + bytes.fromhex(report_key)[:12]


#: Prefix of a running drain job's claimed batch: ``dlrhook:claimed:<job id>``.
CLAIMED_PREFIX = PREFIX + "claimed:"
#: Hash: page id -> raw body of an Infobip pull page not yet ingested.
PULL_PAGES = PREFIX + "pull:pages"
#: Hash: page id -> JSON {id, error, body or body_b64, rejected_at}: fetched pages that could
#: not be parsed. Kept for an operator to inspect; the poller never deletes them.
PULL_REJECTED = PREFIX + "pull:rejected"
#: Prefix of the poller locks: ``dlrhook:pull:lock:<hash of base URL and credential identity>``.
PULL_LOCK_PREFIX = PREFIX + "pull:lock:"

DRAIN_FUNC = "dlrhook.workers.dispatch.drain"
#: The retry job: ``deliver(handler_name, wires, attempt)`` for one handler and some reports.
DELIVER_FUNC = "dlrhook.workers.dispatch.deliver"


def connect(settings: Settings) -> redis.Redis:
    """A client for ``settings.redis_url`` (bytes responses, as RQ needs).

    Short timeouts: a push must get its 503 within seconds when Redis is gone, not hang.
    ``DLRHOOK_REDIS_TLS_VERIFY=false`` keeps a ``rediss://`` connection encrypted but accepts
    a self-signed certificate.
    """
    options: dict[str, Any] = {}
    if settings.redis_url.startswith("rediss://") and not settings.redis_tls_verify:
        # Encrypted but unverified: for providers with self-signed certificates (Heroku).
        options["ssl_cert_reqs"] = "none"
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
        retry_on_timeout=False,
        **options,
    )


_SCRIPTS: dict[str, Script] = {}


def script(conn: redis.Redis, source: str) -> Script:
    """The Script object for a Lua *source*, made once per process (it hashes the source).

    One object serves every connection, so callers always pass ``client=``: called without it,
    a Script runs on the connection it was first registered with, whatever Redis that is.
    """
    found = _SCRIPTS.get(source)
    if found is None:
        found = _SCRIPTS[source] = conn.register_script(source)
    return found


def queue(conn: redis.Redis, settings: Settings) -> Queue:
    """The RQ queue the drain and retry jobs go through (plain JSON jobs, never pickles)."""
    return Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)
