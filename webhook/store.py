"""Redis: the connection, the key names, and the RQ queue every process shares.

Every key dlrhook writes starts with ``dlrhook:`` (RQ's own keys start with ``rq:``).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.commands.core import Script
from rq import Queue
from rq.serializers import JSONSerializer

from dlrhook.settings import Settings

PREFIX = "dlrhook:"
#: Stream of accepted reports, one entry ``{w: <wire JSON>}`` each. Every handler reads it through
#: a consumer group of its own name, so each handler progresses (and fails) alone; an entry is
#: trimmed once every group has acknowledged it (see :mod:`dlrhook.workers.dispatch`).
REPORTS = PREFIX + "reports"
#: Hash: handler name -> unix time a worker last registered it. Ingest wakes these handlers.
HANDLERS = PREFIX + "handlers"
#: ``dlrhook:drain:pending:<handler>`` = id of a queued drain job for that handler; ingest queues
#: one only when it is absent (with an expiry, as a safety net).
DRAIN_PENDING_PREFIX = PREFIX + "drain:pending:"
#: ``dlrhook:active:<handler>``: sorted set of that handler's running drain jobs (score: lease end).
ACTIVE_PREFIX = PREFIX + "active:"
#: ``dlrhook:crashes:<handler>``: hash report key -> calls of it during which the worker died.
CRASHES_PREFIX = PREFIX + "crashes:"
#: Before 0.2: the list of accepted reports and the drain jobs' claims. A worker moves what it
#: finds there into :data:`REPORTS` at start.
LEGACY_INBOX = PREFIX + "inbox"
LEGACY_CLAIMED_PREFIX = PREFIX + "claimed:"
#: Hash: quarantine id -> JSON {raw, errors, source, received_at}.
QUARANTINE = PREFIX + "quarantine"
#: Sorted set: quarantine id -> ms since epoch when quarantined. Worker maintenance deletes
#: entries older than ``DLRHOOK_QUARANTINE_TTL`` through it, reading only the expired ones.
QUARANTINE_TIMES = PREFIX + "quarantine:times"
#: Unix time of the last push received (the poller's fallback mode reads it).
LAST_PUSH = PREFIX + "last-push"
#: Prefix of the dedup keys: ``dlrhook:s:`` + the first 12 bytes of the report key, raw. Short on
#: purpose: Redis spends ~71 bytes a key plus its name, and there is one key per report for 48 h.
SEEN_PREFIX = (PREFIX + "s:").encode()


def seen_key(report_key: str) -> bytes:
    """The dedup key of a report (96 bits of its identity: no collision in any real volume)."""
    return SEEN_PREFIX + bytes.fromhex(report_key)[:12]


#: Hash: page id -> raw body of an Infobip pull page not yet ingested, for the primary reports
#: path (``Settings.primary_pull_path``); every other path has its own, :func:`pull_pages_key`.
PULL_PAGES = PREFIX + "pull:pages"
#: Hash: page id -> JSON {id, error, body or body_b64, rejected_at}: fetched pages that could
#: not be parsed. Kept for an operator to inspect; the poller never deletes them.
PULL_REJECTED = PREFIX + "pull:rejected"
#: Prefix of the poller locks: ``dlrhook:pull:lock:<hash of base URL and credential identity>``,
#: followed by ``:<path>`` for every path but the primary one (:func:`pull_lock_key`).
PULL_LOCK_PREFIX = PREFIX + "pull:lock:"


def pull_pages_key(path: str, *, primary: bool) -> str:
    """The page store of reports *path*: :data:`PULL_PAGES` for the primary path (its name
    before several paths were polled), ``dlrhook:pull:pages:<path>`` for the others."""
    return PULL_PAGES if primary else f"{PULL_PAGES}:{path}"


def pull_lock_key(account_id: str, path: str, *, primary: bool) -> str:
    """The one-poller lock of (account, *path*); the primary path keeps the account's own."""
    return PULL_LOCK_PREFIX + account_id if primary else f"{PULL_LOCK_PREFIX}{account_id}:{path}"


#: The drain job: ``drain(handler_name)`` delivers that handler's share of :data:`REPORTS`.
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


class _Room:
    """Whether Redis has room for more reports, read at most once a second per process."""

    def __init__(self) -> None:
        self.checked_at = 0.0
        self.full: str | None = None


_room: dict[int, _Room] = {}


def over_high_water(conn: redis.Redis, settings: Settings) -> str | None:
    """A reason when Redis's memory is above ``DLRHOOK_REDIS_HIGH_WATER`` of its maxmemory, else None.

    Pushes are refused above it (503, Infobip retries) so that Redis keeps room for what workers
    write while they deliver (acknowledgements, retry jobs, RQ's bookkeeping): a full Redis
    would stop the very processes that empty it. Read from INFO at most once a second.
    """
    room = _room.setdefault(id(conn), _Room())
    now = time.monotonic()
    if now - room.checked_at >= 1.0:
        info = conn.info("memory")
        used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        room.checked_at = now
        room.full = None
        if limit and used >= settings.redis_high_water * limit:
            room.full = (
                f"Redis holds {used / limit:.0%} of its maxmemory (DLRHOOK_REDIS_HIGH_WATER is "
                f"{settings.redis_high_water:.0%}): pushes wait while the workers take reports out"
            )
    return room.full


def text(value: Any) -> str:
    """A Redis reply as text: replies are bytes here (the connection does not decode, as RQ
    needs); None is empty."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def pending_key(handler: str) -> str:
    """The key naming the queued drain job of *handler*."""
    return DRAIN_PENDING_PREFIX + handler


def queue(conn: redis.Redis, settings: Settings) -> Queue:
    """The RQ queue the drain and retry jobs go through (plain JSON jobs, never pickles)."""
    return Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)
