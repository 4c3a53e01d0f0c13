"""Alembic's environment: migrations run on the connection :func:`dlrhook.status.migrations.upgrade`
hands over (never a URL from a file), comparing against :mod:`dlrhook.status.schema`."""

from __future__ import annotations

from alembic import context

from dlrhook.status.migrations import VERSION_TABLE
from dlrhook.status.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations with `dlrhook db upgrade` (dlrhook.status.migrations.upgrade)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
