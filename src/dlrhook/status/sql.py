"""The SQL status store: PostgreSQL (psycopg 3) or SQLite, through SQLAlchemy Core (no ORM).

Same rule and same read shapes as the Redis store (:mod:`dlrhook.status`); the schema is
:mod:`dlrhook.status.schema`, the fold :mod:`dlrhook.status.sqlfold`. The engine connects on
first use. Every database error becomes :class:`~dlrhook.errors.StatusUnavailable`, whose text
names what failed but never the URL (it may hold a password) nor a statement's values (they
hold phone numbers). A PostgreSQL connection attempt gives up after
``STATUS_CONNECT_TIMEOUT`` s and a statement after ``STATUS_STATEMENT_TIMEOUT`` s (server side),
both under ``DLRHOOK_HANDLER_TIMEOUT``, so a database that is down or slow fails the fold
(retried per report, then dead-lettered) and never holds a worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dlrhook import defaults
from dlrhook.errors import StatusUnavailable
from dlrhook.report import DeliveryReport
from dlrhook.status import sqlfold
from dlrhook.status.buckets import FINAL_BUCKETS
from dlrhook.status.schema import INTERMEDIATE, event, history, message

log = logging.getLogger("dlrhook.status")


def engine_url(url: str) -> sa.URL:
    """*url* for SQLAlchemy: ``postgres://`` (Heroku's spelling) and ``postgresql://`` use psycopg 3."""
    parsed = sa.make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str) -> Engine:
    """An engine for *url* (see :func:`engine_url`) with the store's timeouts; it connects on first use."""
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            parsed,
            # The busy timeout: a writer waits this long for another process's write to end.
            connect_args={"timeout": defaults.STATUS_STATEMENT_TIMEOUT, "check_same_thread": False},
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL: readers never wait for the writer, and several workers' writes queue briefly.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    statement_ms = int(defaults.STATUS_STATEMENT_TIMEOUT * 1000)
    engine = sa.create_engine(
        parsed,
        pool_pre_ping=True,  # a connection the server closed (restart, failover) is replaced, not failed on
        pool_timeout=defaults.STATUS_CONNECT_TIMEOUT,
        connect_args={
            "connect_timeout": defaults.STATUS_CONNECT_TIMEOUT,
            "application_name": "dlrhook",
            "options": f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}",
        },
    )

    @sa.event.listens_for(engine, "connect")
    def _binary_arrays(dbapi_connection: Any, _record: Any) -> None:
        # The fold sends a batch as one array per column: psycopg's binary array format, not its
        # text one (which escapes every element with regular expressions: half of a fold's time).
        from psycopg.types.array import ListBinaryDumper

        dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)

    return engine


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    """What went wrong, in one line without the statement or its values."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else type(exc).__name__).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError):
        first = ""  # such messages may quote a value (a phone number)
    return f"{type(orig or exc).__name__}{': ' + first[:200] if first else ''}"


class SqlStatusStore:
    """Message status in a SQL database (see the module's docstring)."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.engine = engine if engine is not None else create_engine(url)
        self.kind = self.engine.dialect.name

    def __repr__(self) -> str:
        return f"SqlStatusStore({self.kind})"

    @contextmanager
    def _connection(self, what: str, *, write: bool = False) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except (sa.exc.ProgrammingError, sa.exc.OperationalError) as exc:
            if isinstance(exc, sa.exc.OperationalError) and "no such table" not in str(exc.orig):
                raise StatusUnavailable(f"the status database could not {what}: {_reason(exc)}") from exc
            raise StatusUnavailable(
                f"the status database could not {what} ({_reason(exc)}): has `dlrhook db upgrade` run?"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StatusUnavailable(f"the status database could not {what}: {_reason(exc)}") from exc

    def fold(self, reports: Sequence[DeliveryReport], *, ttl: int) -> list[DeliveryReport]:
        """Fold *reports* in one transaction (all or nothing); return the reports that made their
        message final for the first time. *ttl* is not used here: old rows are deleted by
        :meth:`expire`. Raises :class:`StatusUnavailable` when the database does not take it."""
        if not reports:
            return []
        with self._connection("fold a batch", write=True) as conn:
            firsts = sqlfold.fold(conn, reports, datetime.now(UTC))
        order = {id(r): n for n, r in enumerate(reports)}
        return sorted(firsts, key=lambda r: order[id(r)])

    def ping(self) -> None:
        """One ``SELECT 1`` (a pooled connection, or a new one within the connect timeout)."""
        with self._connection("answer") as conn:
            conn.execute(sa.text("SELECT 1"))

    def message(self, message_id: str) -> dict[str, Any] | None:
        """The read API's shape of *message_id* (as :func:`dlrhook.status.message`), or None."""
        with self._connection("read a message") as conn:
            row = conn.execute(sa.select(message).where(message.c.message_id == message_id)).mappings().first()
            if row is None:
                return None
            entries = conn.execute(sa.select(history).where(history.c.message_id == message_id)).mappings().all()
            events = conn.execute(
                sa.select(event.c.event, event.c.first_at).where(event.c.message_id == message_id)
            ).all()
        return _record(row, entries, {name: at.isoformat() for name, at in sorted(events)})

    def bulk(self, bulk_id: str) -> dict[str, Any] | None:
        """``{"bulkId", "messages", "final", "byStatusGroup", "secondsToFinal"}``, from one
        GROUP BY over the bulk's index (index-only), or None when none of its messages has a status."""
        t = message.c
        query = (
            sa.select(t.status_group, t.final, t.final_bucket, sa.func.count())
            .where(t.bulk_id == bulk_id, t.status_group.is_not(None))
            .group_by(t.status_group, t.final, t.final_bucket)
        )
        with self._connection("read a bulk") as conn:
            rows = conn.execute(query).all()
        if not rows:
            return None
        groups: dict[str, int] = {}
        buckets = dict.fromkeys(FINAL_BUCKETS, 0)
        final = 0
        for group, is_final, bucket, count in rows:
            groups[group] = groups.get(group, 0) + count
            if is_final:
                final += count
            if bucket is not None:
                buckets[FINAL_BUCKETS[bucket]] += count
        return {
            "bulkId": bulk_id,
            "messages": sum(groups.values()),
            "final": final,
            "byStatusGroup": dict(sorted(groups.items())),
            "secondsToFinal": buckets,
        }

    def intermediate_ids(
        self, older_than: float, *, limit: int | None = None, newer_than: float | None = None
    ) -> list[str]:
        """As :func:`dlrhook.status.intermediate_ids`, from the partial index of intermediate messages."""
        now = datetime.now(UTC)
        query = sa.select(message.c.message_id).where(
            INTERMEDIATE, message.c.changed_at <= now - timedelta(seconds=older_than)
        )
        if newer_than is not None:
            query = query.where(message.c.changed_at >= now - timedelta(seconds=newer_than))
        query = query.order_by(message.c.changed_at, message.c.message_id).limit(limit)
        with self._connection("read the intermediate messages") as conn:
            return list(conn.execute(query).scalars())

    def count_intermediate(self, older_than: float) -> int:
        """As :func:`dlrhook.status.count_intermediate` (one COUNT over the partial index)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        query = sa.select(sa.func.count()).where(INTERMEDIATE, message.c.changed_at <= cutoff)
        with self._connection("count the intermediate messages") as conn:
            return int(conn.execute(query).scalar_one())

    def expire(
        self, ttl: int, *, batch: int = defaults.STATUS_EXPIRE_BATCH, rounds: int = defaults.STATUS_EXPIRE_ROUNDS
    ) -> int:
        """Delete the messages unchanged for *ttl* seconds, with their history and events: at most
        *batch* messages a transaction, at most *rounds* transactions; returns how many went."""
        cutoff = datetime.now(UTC) - timedelta(seconds=ttl)
        old = sa.select(message.c.message_id).where(message.c.updated_at < cutoff).limit(batch).scalar_subquery()
        deleted = 0
        started = time.monotonic()
        for _ in range(rounds):
            with self._connection("delete old messages", write=True) as conn:
                ids = list(
                    conn.execute(
                        sa.delete(message)
                        .where(message.c.message_id.in_(old), message.c.updated_at < cutoff)
                        .returning(message.c.message_id)
                    ).scalars()
                )
                if ids:
                    # A message folded again since is a new row: its history stays.
                    live = sa.select(message.c.message_id).where(message.c.message_id.in_(ids))
                    for table in (history, event):
                        conn.execute(
                            sa.delete(table).where(table.c.message_id.in_(ids), table.c.message_id.not_in(live))
                        )
            deleted += len(ids)
            if len(ids) < batch or time.monotonic() - started > defaults.STATUS_STATEMENT_TIMEOUT:
                break
        return deleted

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(row: Any, entries: Sequence[Any], events: dict[str, str]) -> dict[str, Any]:
    """A message row, its history rows and events in the read API's shape."""
    status = None
    if row["status_group"] is not None:
        status = {
            "groupId": row["status_group_id"],
            "groupName": row["status_group"],
            "id": row["status_id"],
            "name": row["status_name"],
            "description": row["status_description"],
        }
    error = None
    if any(row[c] is not None for c in ("error_group_id", "error_group", "error_id", "error_name")):
        error = {
            "groupId": row["error_group_id"],
            "groupName": row["error_group"],
            "id": row["error_id"],
            "name": row["error_name"],
            "description": row["error_description"],
            "permanent": row["error_permanent"],
        }
    price = None
    if row["price_per_message"] is not None or row["price_currency"] is not None:
        price = {"pricePerMessage": row["price_per_message"], "currency": row["price_currency"]}

    def order(e: Any) -> tuple[Any, ...]:  # as the Redis store sorts its history entries
        done = e["done_at"]
        ms = int(done.timestamp() * 1000) if done is not None else 0
        return (ms, e["status_name"], e["status_group"], e["final"], _iso(done), e["source"], e["report_key"])

    return {
        "messageId": row["message_id"],
        "bulkId": row["bulk_id"],
        "channel": row["channel"],
        "to": row["destination"],
        "status": status,
        "error": error,
        "final": bool(row["final"]),
        "sentAt": _iso(row["sent_at"]),
        "doneAt": _iso(row["done_at"]) if status is not None else None,
        "seenAt": _iso(row["seen_at"]),
        "openedAt": events.get("OPENED"),
        "clickedAt": events.get("CLICKED"),
        "unsubscribedAt": events.get("UNSUBSCRIBED"),
        "events": events,
        "callbackData": row["callback_data"],
        "price": price,
        "history": [
            {
                "status": e["status_name"],
                "group": e["status_group"],
                "final": bool(e["final"]),
                "doneAt": _iso(e["done_at"]),
                "source": e["source"],
                "receivedAt": _iso(e["received_at"]),
            }
            for e in sorted(entries, key=order)
        ],
    }
