"""Redis: the connection, the RQ queue every process shares, and the Lua scripts' loader.

Every key name dlrhook writes is in :mod:`dlrhook.store.keys`; what may be stored above the
high-water mark is decided in :func:`over_high_water`.
"""

from __future__ import annotations

import functools
import time
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script
from rq import Queue
from rq.serializers import JSONSerializer

from dlrhook import defaults
from dlrhook.settings import Settings
from dlrhook.store import durability, keys


def connect(settings: Settings, *, bounded: bool = False) -> redis.Redis:
    """A client for ``settings.redis_url`` (bytes responses, as RQ needs).

    Short timeouts: a push must get its 503 within seconds when Redis is gone, not hang.
    ``DLRHOOK_REDIS_TLS_VERIFY=false`` keeps a ``rediss://`` connection encrypted but accepts
    a self-signed certificate.

    *bounded* (the web's client): at most ``DLRHOOK_REDIS_MAX_CONNECTIONS`` connections, a
    caller beyond them waiting up to :data:`~dlrhook.defaults.REDIS_POOL_WAIT` seconds for one
    (then redis-py raises ConnectionError, which a push answers 503). The other processes use a
    connection or two each and keep redis-py's unbounded pool.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
        "health_check_interval": 30,
        "retry_on_timeout": False,
        # Every new connection makes the next write re-read the server's replication state.
        "redis_connect_func": durability.connected,
    }
    if settings.redis_url.startswith("rediss://") and not settings.redis_tls_verify:
        # Encrypted but unverified: for providers with self-signed certificates (Heroku).
        options["ssl_cert_reqs"] = "none"
    if not bounded:
        return redis.Redis.from_url(settings.redis_url, **options)
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=defaults.REDIS_POOL_WAIT,
        **options,
    )
    return redis.Redis(connection_pool=pool)


_SCRIPTS: dict[str, Script] = {}


@functools.cache
def lua(name: str) -> str:
    """The source of the Lua script ``dlrhook/store/lua/<name>.lua`` (read once per process).

    Every script dlrhook runs in Redis lives in that folder, one file each, with a header
    saying its KEYS and ARGV; run one with ``script(conn, lua(name))(keys=..., args=..., client=conn)``.
    """
    return (resources.files("dlrhook.store") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


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
    would stop the very processes that empty it. This reading, at most a second old, only spares
    a push's parsing while Redis is plainly full: the mark itself is held by the store script,
    which checks it where the write happens (``ingest_store.lua``; :func:`full_reason`).
    """
    room = _room.setdefault(id(conn), _Room())
    now = time.monotonic()
    if now - room.checked_at >= 1.0:
        used, limit = memory(conn)
        room.checked_at = now
        room.full = None
        if limit and used >= settings.redis_high_water * limit:
            room.full = _full(used, limit, settings)
    return room.full


def memory(conn: redis.Redis) -> tuple[int, int]:
    """(used_memory, maxmemory) in bytes, as INFO says now; maxmemory 0 means none."""
    info = conn.info("memory")
    return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))


def above_high_water(conn: redis.Redis, settings: Settings) -> bool:
    """True when Redis holds more than ``DLRHOOK_REDIS_HIGH_WATER`` of its maxmemory right now."""
    used, limit = memory(conn)
    return bool(limit) and used >= settings.redis_high_water * limit


def full_reason(exc: redis.ResponseError, settings: Settings) -> str | None:
    """The push's 503 reason when *exc* is the store script's ``FULL <used> <maxmemory>``
    refusal (the batch would have taken Redis past the mark), else None."""
    words = str(exc).split()
    if len(words) >= 3 and words[0] == "FULL" and words[1].isdigit() and words[2].isdigit():
        return _full(int(words[1]), int(words[2]), settings)
    return None


def _full(used: int, limit: int, settings: Settings) -> str:
    return (
        f"Redis holds {used / limit:.0%} of its maxmemory (DLRHOOK_REDIS_HIGH_WATER is "
        f"{settings.redis_high_water:.0%}): pushes wait while the workers take reports out"
    )


def report_groups(conn: redis.Redis) -> list[dict[str, Any]]:
    """Every handler's consumer group of the report stream (XINFO GROUPS), none when the
    stream does not exist yet."""
    try:
        return list(conn.xinfo_groups(keys.REPORTS))
    except redis.ResponseError as exc:
        if "no such key" in str(exc).lower():
            return []
        raise


def entry_id(value: bytes | str) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``, bytes or text) as a pair that orders as Redis does."""
    ms, _, seq = text(value).partition("-")
    return int(ms or 0), int(seq or 0)


def text(value: Any) -> str:
    """A Redis reply as text: replies are bytes here (the connection does not decode, as RQ
    needs); None is empty."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def queue(conn: redis.Redis, settings: Settings) -> Queue:
    """The RQ queue the drain and retry jobs go through (plain JSON jobs, never pickles)."""
    return Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)
