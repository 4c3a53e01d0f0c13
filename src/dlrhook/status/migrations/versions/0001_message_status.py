"""Message status: dlrhook_message, dlrhook_message_history, dlrhook_message_event (0.3).

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dlrhook.status.schema import KEY, Price, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dlrhook_message",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("bulk_id", sa.Text),
        sa.Column("channel", sa.Text),
        sa.Column("destination", sa.Text, comment="the report's to: a phone number or an email address"),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("callback_data", sa.Text),
        sa.Column("price_per_message", Price),
        sa.Column("price_currency", sa.Text),
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
        sa.Column(
            "final_bucket", sa.SmallInteger, comment="secondsToFinal bucket of the first final report (0: <= 1 s)"
        ),
        sa.Column("updated_at", UtcDateTime, nullable=False, comment="the row's last change (DLRHOOK_STATUS_TTL)"),
    )
    # As the queries write them (dlrhook.status.schema), so that the planner matches them.
    bulked = sa.and_(sa.column("bulk_id").is_not(None), sa.column("status_group").is_not(None))
    intermediate = sa.and_(sa.column("final") == sa.false(), sa.column("status_group").is_not(None))
    op.create_index(
        "dlrhook_message_bulk",
        "dlrhook_message",
        ["bulk_id", "status_group", "final", "final_bucket"],
        postgresql_where=bulked,
        sqlite_where=bulked,
    )
    op.create_index(
        "dlrhook_message_intermediate",
        "dlrhook_message",
        ["changed_at"],
        postgresql_where=intermediate,
        sqlite_where=intermediate,
    )
    op.create_index("dlrhook_message_updated", "dlrhook_message", ["updated_at"])
    op.create_table(
        "dlrhook_message_history",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("report_key", KEY, primary_key=True),
        sa.Column("status_name", sa.Text),
        sa.Column("status_group", sa.Text),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("done_at", UtcDateTime),
        sa.Column("source", sa.Text, nullable=False, comment="push, pull or logs"),
        sa.Column("received_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "dlrhook_message_event",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("event", sa.Text, primary_key=True, comment="OPENED, CLICKED, UNSUBSCRIBED, COMPLAINED, ..."),
        sa.Column("first_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dlrhook_message_event")
    op.drop_table("dlrhook_message_history")
    op.drop_index("dlrhook_message_updated", "dlrhook_message")
    op.drop_index("dlrhook_message_intermediate", "dlrhook_message")
    op.drop_index("dlrhook_message_bulk", "dlrhook_message")
    op.drop_table("dlrhook_message")
