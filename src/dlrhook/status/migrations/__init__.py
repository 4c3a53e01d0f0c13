"""The SQL status store's migrations (Alembic), run by ``dlrhook db upgrade`` and nothing else.

The scripts are package data (``versions/``), so an installed wheel can upgrade its database.
A worker or the web never changes the schema: a missing table makes their folds and reads fail
with :class:`~dlrhook.errors.StatusUnavailable` naming ``dlrhook db upgrade``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

#: Alembic's revision table, named so as not to meet an application's own Alembic in the same database.
VERSION_TABLE = "dlrhook_schema_version"
#: This folder: Alembic's script location.
HERE = Path(__file__).parent


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, without an ini file; *connection* is the one env.py migrates on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision the installed dlrhook knows."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None
    return found


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None when ``dlrhook db upgrade`` never ran on it."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to *revision* in one transaction; return (before, after)."""
    before = current(engine)
    with engine.begin() as conn:
        command.upgrade(config(conn), revision)
    return before, current(engine)
