"""The fold into the SQL store: a batch of reports, pre-folded per message in Python, then one
statement per table (:mod:`dlrhook.status.schema`), all in one transaction.

Pre-folding is required: PostgreSQL refuses an ``ON CONFLICT DO UPDATE`` that touches a row
twice in one statement. The message statement is ``INSERT ... ON CONFLICT (message_id) DO
UPDATE``, each column's new value chosen by comparing the stored rank ``(final, done_at,
report_key)`` with the incoming one, in the database, under the row's lock; its ``WHERE`` lets
the update through only when something changes (a higher rank, a field to fill, an earlier
seen time). So concurrent workers never move a status backwards nor lose a report, and a
redelivered report writes nothing. Rows go in message-id order, so two workers folding the same
messages lock them in the same order (no deadlock). History is ``ON CONFLICT DO NOTHING`` on
(message id, report key); events keep the earliest time of each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dlrhook.report import DeliveryReport
from dlrhook.status.buckets import final_bucket
from dlrhook.status.fold import channel_of
from dlrhook.status.schema import Price, UtcDateTime, event, history, message

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The current status's columns: all replaced together when a report of higher rank comes.
STATUS = (
    "status_group_id",
    "status_group",
    "status_id",
    "status_name",
    "status_description",
    "error_group_id",
    "error_group",
    "error_id",
    "error_name",
    "error_description",
    "error_permanent",
    "final",
    "done_at",
    "report_key",
)
#: The message's details: taken from a report of higher rank when it has them, else only filled in.
DETAILS = ("bulk_id", "channel", "destination", "sent_at", "callback_data", "price_per_message", "price_currency")

Rank = tuple[int, int, str]


def _details(report: DeliveryReport) -> dict[str, Any]:
    price = report.price
    return {
        "bulk_id": report.bulk_id,
        "channel": channel_of(report),
        "destination": report.to,
        "sent_at": report.sent_at,
        "callback_data": report.callback_data,
        "price_per_message": None if price is None or price.price_per_message is None else str(price.price_per_message),
        "price_currency": None if price is None else price.currency,
    }


def _status(report: DeliveryReport) -> dict[str, Any]:
    status, error = report.status, report.error
    assert status is not None
    return {
        "status_group_id": status.group_id,
        "status_group": status.group_name,
        "status_id": status.id,
        "status_name": status.name,
        "status_description": status.description,
        "error_group_id": None if error is None else error.group_id,
        "error_group": None if error is None else error.group_name,
        "error_id": None if error is None else error.id,
        "error_name": None if error is None else error.name,
        "error_description": None if error is None else error.description,
        "error_permanent": None if error is None else error.permanent,
        "final": bool(report.final),
        "done_at": report.done_at,
        "report_key": report.key,
    }


def _rank(report: DeliveryReport) -> Rank:
    done = report.done_at
    return (1 if report.final else 0, int(done.timestamp() * 1000) if done is not None else 0, report.key)


class Batch:
    """One batch pre-folded: a row per message, per distinct report, per (message, event)."""

    def __init__(self, reports: Sequence[DeliveryReport], now: datetime) -> None:
        self.now = now
        self.rows: dict[str, dict[str, Any]] = {}
        self.ranks: dict[str, Rank] = {}
        self.history: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: dict[tuple[str, str], datetime] = {}
        #: Per message, the batch's first report of a final status (it makes the message final,
        #: if the stored row was not).
        self.first_final: dict[str, DeliveryReport] = {}
        for report in reports:
            self._add(report)

    def _row(self, message_id: str) -> dict[str, Any]:
        row = self.rows.get(message_id)
        if row is None:
            row = dict.fromkeys((*STATUS, *DETAILS, "seen_at", "changed_at", "finalized_at", "final_bucket"))
            row.update(message_id=message_id, final=False, updated_at=self.now)
            self.rows[message_id] = row
        return row

    def _add(self, r: DeliveryReport) -> None:
        row = self._row(r.message_id)
        details = _details(r)
        above = False
        if r.kind == "event":
            at = r.occurred_at
            key = (r.message_id, r.event or "")
            if key not in self.events or at < self.events[key]:
                self.events[key] = at
        elif r.status is None or r.kind == "seen":
            seen = r.seen_at or r.received_at
            if row["seen_at"] is None or seen < row["seen_at"]:
                row["seen_at"] = seen
        else:
            rank = _rank(r)
            old = self.ranks.get(r.message_id)
            above = old is None or rank > old
            if above:
                self.ranks[r.message_id] = rank
                row.update(_status(r), changed_at=self.now)
            if r.final and r.message_id not in self.first_final:
                self.first_final[r.message_id] = r
                row["finalized_at"] = self.now
                if r.sent_at is not None and r.done_at is not None:
                    row["final_bucket"] = final_bucket((r.done_at - r.sent_at).total_seconds())
            self.history.setdefault(
                (r.message_id, r.key),
                {
                    "message_id": r.message_id,
                    "report_key": r.key,
                    "status_name": r.status.name,
                    "status_group": r.status.group_name,
                    "final": bool(r.final),
                    "done_at": r.done_at,
                    "source": r.source,
                    "received_at": r.received_at,
                },
            )
        for name, value in details.items():
            if value is not None and (above or row[name] is None):
                row[name] = value


def _array_of(column: sa.Column[Any]) -> postgresql.ARRAY[Any]:
    """The PostgreSQL array type that carries *column*'s values of a whole batch."""
    kind = column.type
    item: Any = sa.Text()
    if isinstance(kind, UtcDateTime):
        item = sa.DateTime(timezone=True)
    elif isinstance(kind, Price):
        item = sa.Numeric()
    elif isinstance(kind, sa.Boolean | sa.Integer):
        item = type(kind)()
    return postgresql.ARRAY(item)


def _from_arrays(table: sa.Table) -> Any:
    """PostgreSQL: ``INSERT INTO table SELECT unnest(:a_col1), unnest(:a_col2), ...``: the batch
    as one array per column, so a batch is one statement and one round trip whatever its size
    (the arrays are unnested in step, in the order given)."""
    columns = list(table.columns)
    source = sa.select(*(sa.func.unnest(sa.bindparam(f"a_{c.name}", type_=_array_of(c))) for c in columns))
    return postgresql.insert(table).from_select([c.name for c in columns], source)


def _statements(insert: Callable[[sa.Table], Any]) -> tuple[Any, Any, Any]:
    """The three statements of a fold in one SQL dialect (built once, compiled once)."""
    t = message.c
    ins = insert(message)
    ex = ins.excluded
    epoch = sa.literal(EPOCH, UtcDateTime())
    stored_rank = sa.tuple_(t.final, sa.func.coalesce(t.done_at, epoch), t.report_key)
    new_rank = sa.tuple_(ex.final, sa.func.coalesce(ex.done_at, epoch), ex.report_key)
    above = sa.and_(ex.report_key.is_not(None), sa.or_(t.report_key.is_(None), stored_rank < new_rank))
    seen_earlier = sa.and_(ex.seen_at.is_not(None), sa.or_(t.seen_at.is_(None), ex.seen_at < t.seen_at))
    first_final = sa.and_(t.finalized_at.is_(None), ex.finalized_at.is_not(None))
    values: dict[str, Any] = {c: sa.case((above, ex[c]), else_=t[c]) for c in (*STATUS, "changed_at")}
    for c in DETAILS:
        values[c] = sa.case((above, sa.func.coalesce(ex[c], t[c])), else_=sa.func.coalesce(t[c], ex[c]))
    values["seen_at"] = sa.case((seen_earlier, ex.seen_at), else_=t.seen_at)
    values["finalized_at"] = sa.case((first_final, ex.finalized_at), else_=t.finalized_at)
    values["final_bucket"] = sa.case((first_final, ex.final_bucket), else_=t.final_bucket)
    values["updated_at"] = ex.updated_at
    changes = sa.or_(above, seen_earlier, *(sa.and_(t[c].is_(None), ex[c].is_not(None)) for c in DETAILS))
    # No RETURNING: with it SQLAlchemy sends one statement of every row's values, which psycopg
    # re-parses each time (it cost 3/4 of a fold); without, psycopg pipelines the rows.
    upsert = ins.on_conflict_do_update(index_elements=[t.message_id], set_=values, where=changes)
    hist = insert(history).on_conflict_do_nothing(index_elements=[history.c.message_id, history.c.report_key])
    ev_ins = insert(event)
    events = ev_ins.on_conflict_do_update(
        index_elements=[event.c.message_id, event.c.event],
        set_={"first_at": ev_ins.excluded.first_at},
        where=ev_ins.excluded.first_at < event.c.first_at,
    )
    return upsert, hist, events


def _firsts(dialect: str) -> Any:
    """Of the given message ids, those this fold made final (their ``finalized_at`` is its time)."""
    if dialect == "postgresql":
        ids: Any = message.c.message_id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Text)))
    else:
        ids = message.c.message_id.in_(sa.bindparam("ids", expanding=True))
    return sa.select(message.c.message_id).where(ids, message.c.finalized_at == sa.bindparam("now", type_=UtcDateTime))


STATEMENTS = {
    "postgresql": (*_statements(_from_arrays), _firsts("postgresql")),
    "sqlite": (*_statements(sqlite.insert), _firsts("sqlite")),
}


def _run(conn: sa.Connection, statement: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """*rows* into *statement*: as one array per column on PostgreSQL, as an executemany on SQLite."""
    if conn.dialect.name != "postgresql":
        conn.execute(statement, rows)
        return
    arrays: dict[str, list[Any]] = {}
    for column in table.columns:
        values = [row[column.name] for row in rows]
        if isinstance(column.type, Price):
            values = [None if v is None else Decimal(v) for v in values]
        arrays[f"a_{column.name}"] = values
    conn.execute(statement, arrays)


def fold(conn: sa.Connection, reports: Sequence[DeliveryReport], now: datetime) -> list[DeliveryReport]:
    """Fold *reports* on *conn* (inside the caller's transaction); return the reports that made
    their message final for the first time (the rows whose ``finalized_at`` is this fold's *now*,
    read back in the same transaction)."""
    batch = Batch(reports, now)
    upsert, hist, events, made_final = STATEMENTS[conn.dialect.name]
    firsts: list[DeliveryReport] = []
    if batch.rows:
        _run(conn, upsert, message, [batch.rows[m] for m in sorted(batch.rows)])
    if batch.first_final:
        found = conn.execute(made_final, {"ids": sorted(batch.first_final), "now": now}).scalars()
        firsts = [batch.first_final[m] for m in found]
    if batch.history:
        _run(conn, hist, history, [batch.history[k] for k in sorted(batch.history)])
    if batch.events:
        rows = [{"message_id": m, "event": e, "first_at": at} for (m, e), at in sorted(batch.events.items())]
        _run(conn, events, event, rows)
    return firsts
