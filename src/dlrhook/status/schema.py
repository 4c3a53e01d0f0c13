"""The SQL status store's schema (public: users query and join it; README, "Message status").

Three tables, created and upgraded only by ``dlrhook db upgrade`` (the migrations in
``status/migrations``, which must build exactly this; a test compares them):

- ``dlrhook_message``: one row per message, its current status and details;
- ``dlrhook_message_history``: one row per distinct report of a message (by ``report.key``);
- ``dlrhook_message_event``: the first time of each Email user event of a message.

Times are UTC (``timestamptz`` on PostgreSQL; ISO text in UTC on SQLite). A price is
``numeric`` on PostgreSQL, as Infobip wrote it (``0.0100`` keeps its scale), text on SQLite.
Rows are related by ``message_id``, without foreign keys: a key would cost a lookup per
history row in the fold, and the retention deletes a message with its rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime kept in UTC: ``timestamptz`` on PostgreSQL; on SQLite, whose DATETIME
    is text, the UTC time without offset (so text order is time order), read back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Price(TypeDecorator[str]):
    """A price as the text Infobip wrote: ``numeric`` on PostgreSQL (it keeps the scale), text on SQLite."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return Decimal(value) if dialect.name == "postgresql" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)


#: Report keys compare byte by byte (they break ties in the rank): PostgreSQL's "C" collation.
KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

metadata = sa.MetaData()

message = sa.Table(
    "dlrhook_message",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("bulk_id", sa.Text),
    sa.Column("channel", sa.Text),
    sa.Column("destination", sa.Text, comment="the report's to: a phone number or an email address"),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("callback_data", sa.Text),
    sa.Column("price_per_message", Price),
    sa.Column("price_currency", sa.Text),
    # The current status: the report of greatest rank (final, done_at, report_key).
    sa.Column("status_group_id", sa.Integer),
    sa.Column("status_group", sa.Text, comment="NULL: no delivery report yet (seen reports or events only)"),
    sa.Column("status_id", sa.Integer),
    sa.Column("status_name", sa.Text),
    sa.Column("status_description", sa.Text),
    sa.Column("error_group_id", sa.Integer),
    sa.Column("error_group", sa.Text),
    sa.Column("error_id", sa.Integer),
    sa.Column("error_name", sa.Text),
    sa.Column("error_description", sa.Text),
    sa.Column("error_permanent", sa.Boolean),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("done_at", UtcDateTime),
    sa.Column("report_key", KEY, comment="the current report's key (dlrhook_message_history.report_key)"),
    sa.Column("seen_at", UtcDateTime, comment="the earliest seen report's time"),
    sa.Column("changed_at", UtcDateTime, comment="when dlrhook last changed the current status"),
    sa.Column("finalized_at", UtcDateTime, comment="when dlrhook first folded a final status"),
    sa.Column("final_bucket", sa.SmallInteger, comment="secondsToFinal bucket of the first final report (0: <= 1 s)"),
    sa.Column("updated_at", UtcDateTime, nullable=False, comment="the row's last change (DLRHOOK_STATUS_TTL)"),
)

_BULKED = sa.and_(message.c.bulk_id.is_not(None), message.c.status_group.is_not(None))
#: Of the messages with a status, those still intermediate (reconcile, the gauge).
INTERMEDIATE = sa.and_(message.c.final == sa.false(), message.c.status_group.is_not(None))

sa.Index(
    "dlrhook_message_bulk",
    message.c.bulk_id,
    message.c.status_group,
    message.c.final,
    message.c.final_bucket,
    postgresql_where=_BULKED,
    sqlite_where=_BULKED,
)
sa.Index(
    "dlrhook_message_intermediate",
    message.c.changed_at,
    postgresql_where=INTERMEDIATE,
    sqlite_where=INTERMEDIATE,
)
sa.Index("dlrhook_message_updated", message.c.updated_at)

history = sa.Table(
    "dlrhook_message_history",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("report_key", KEY, primary_key=True),
    sa.Column("status_name", sa.Text),
    sa.Column("status_group", sa.Text),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("done_at", UtcDateTime),
    sa.Column("source", sa.Text, nullable=False, comment="push, pull or logs"),
    sa.Column("received_at", UtcDateTime, nullable=False),
)

event = sa.Table(
    "dlrhook_message_event",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("event", sa.Text, primary_key=True, comment="OPENED, CLICKED, UNSUBSCRIBED, COMPLAINED, ..."),
    sa.Column("first_at", UtcDateTime, nullable=False),
)
