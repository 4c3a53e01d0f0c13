"""The status store a process uses: Redis, or a SQL database (``DLRHOOK_STATUS_STORE``).

:func:`open_store` is the one entry point every reader and the ``status`` handler use. Both
stores apply the same rule and answer the same shapes (:mod:`dlrhook.status`); both raise
:class:`~dlrhook.errors.StatusUnavailable` when they cannot answer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import redis

from dlrhook import defaults, store
from dlrhook.errors import StatusUnavailable
from dlrhook.report import DeliveryReport
from dlrhook.status import reads
from dlrhook.status.fold import fold as redis_fold

if TYPE_CHECKING:
    from dlrhook.settings import Settings
    from dlrhook.status.sql import SqlStatusStore


class StatusStore(Protocol):
    """What every status store does."""

    #: ``redis``, ``postgresql`` or ``sqlite``.
    kind: str

    def fold(self, reports: Sequence[DeliveryReport], *, ttl: int) -> list[DeliveryReport]:
        """Fold a batch; return the reports that made their message final for the first time."""

    def message(self, message_id: str) -> dict[str, Any] | None:
        """A message's record in the read API's shape, or None."""

    def bulk(self, bulk_id: str) -> dict[str, Any] | None:
        """A bulk's summary, or None."""

    def intermediate_ids(
        self, older_than: float, *, limit: int | None = None, newer_than: float | None = None
    ) -> list[str]:
        """Messages intermediate and unchanged for *older_than* seconds, longest-waiting first."""

    def count_intermediate(self, older_than: float) -> int:
        """How many such messages."""

    def ping(self) -> None:
        """Return when the store answers; raise :class:`StatusUnavailable` (its reason) when not."""

    def expire(
        self, ttl: int, *, batch: int = defaults.STATUS_EXPIRE_BATCH, rounds: int = defaults.STATUS_EXPIRE_ROUNDS
    ) -> int:
        """Delete what is older than *ttl*; return how many messages went."""


class RedisStatusStore:
    """Message status in Redis (:mod:`dlrhook.status.fold`, :mod:`dlrhook.status.reads`)."""

    kind = "redis"

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    def fold(self, reports: Sequence[DeliveryReport], *, ttl: int) -> list[DeliveryReport]:
        """One Lua call for the batch (raises ``redis.RedisError``: the worker's retry handles it)."""
        return redis_fold(self.conn, reports, ttl=ttl)

    def message(self, message_id: str) -> dict[str, Any] | None:
        """One HGETALL."""
        try:
            return reads.message(self.conn, message_id)
        except redis.RedisError as exc:
            raise StatusUnavailable(f"Redis did not answer the message read: {type(exc).__name__}") from exc

    def ping(self) -> None:
        """One PING."""
        try:
            self.conn.ping()
        except redis.RedisError as exc:
            raise StatusUnavailable(f"Redis did not answer: {type(exc).__name__}") from exc

    def bulk(self, bulk_id: str) -> dict[str, Any] | None:
        """One HGETALL of the bulk's counters."""
        try:
            return reads.bulk(self.conn, bulk_id)
        except redis.RedisError as exc:
            raise StatusUnavailable(f"Redis did not answer the bulk read: {type(exc).__name__}") from exc

    def intermediate_ids(
        self, older_than: float, *, limit: int | None = None, newer_than: float | None = None
    ) -> list[str]:
        """One ZRANGEBYSCORE of the intermediate index."""
        try:
            return reads.intermediate_ids(self.conn, older_than, limit=limit, newer_than=newer_than)
        except redis.RedisError as exc:
            raise StatusUnavailable(f"Redis did not answer the intermediate read: {type(exc).__name__}") from exc

    def count_intermediate(self, older_than: float) -> int:
        """One ZCOUNT."""
        try:
            return reads.count_intermediate(self.conn, older_than)
        except redis.RedisError as exc:
            raise StatusUnavailable(f"Redis did not answer the intermediate count: {type(exc).__name__}") from exc

    def expire(
        self, ttl: int, *, batch: int = defaults.STATUS_EXPIRE_BATCH, rounds: int = defaults.STATUS_EXPIRE_ROUNDS
    ) -> int:
        """Nothing to do: Redis expires each record by its TTL."""
        return 0


_sql_stores: dict[str, SqlStatusStore] = {}
_lock = threading.Lock()


def open_store(settings: Settings, conn: redis.Redis | None = None) -> StatusStore:
    """The store ``DLRHOOK_STATUS_STORE`` names: Redis (on *conn*, else a new client), or the SQL
    store of its URL (:func:`sql_store`)."""
    url = settings.status_url
    if url is None:
        return RedisStatusStore(conn if conn is not None else store.connect(settings))
    return sql_store(url)


def sql_store(url: str) -> SqlStatusStore:
    """The SQL store of *url*, made once per process and URL (its engine connects on first use)."""
    with _lock:
        found = _sql_stores.get(url)
        if found is None:
            from dlrhook.status.sql import SqlStatusStore  # SQLAlchemy only where a database is used

            found = _sql_stores[url] = SqlStatusStore(url)
    return found


def close_all() -> None:
    """Dispose of every SQL store this process opened (tests; a process about to exit)."""
    with _lock:
        for found in _sql_stores.values():
            found.close()
        _sql_stores.clear()
