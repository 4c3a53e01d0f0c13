"""The SQL status stores the status benchmark folds into: a real PostgreSQL (from the pgserver
wheel, as the tests start it, but with fsync on: a production setting) and a SQLite file, each
with its schema upgraded by the migrations, as `dlrhook db upgrade` does."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dlrhook.status import migrations
from dlrhook.status.schema import metadata
from dlrhook.status.sql import create_engine
from tests.support.postgres import Postgres

Store = tuple[str, str, Callable[[], int] | None]


def upgraded(url: str) -> None:
    """Create the schema at *url*."""
    engine = create_engine(url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()


def postgres_bytes(url: str) -> int:
    """Bytes the status tables and their indexes take in PostgreSQL (pg_total_relation_size)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sum(
                int(conn.exec_driver_sql("SELECT pg_total_relation_size(%(t)s)", {"t": t.name}).scalar_one())
                for t in metadata.sorted_tables
            )
    finally:
        engine.dispose()


@contextmanager
def sql_stores() -> Iterator[list[Store]]:
    """``[(name, DLRHOOK_STATUS_STORE value, bytes-used function or None), ...]``, servers stopped after."""
    server = Postgres(fsync=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="dlrhook-bench-sqlite-") as folder:
            sqlite_url = f"sqlite:///{Path(folder) / 'status.db'}"
            for url in (server.url, sqlite_url):
                upgraded(url)
            yield [
                ("PostgreSQL", server.url, lambda: postgres_bytes(server.url)),
                ("SQLite", sqlite_url, None),
            ]
    finally:
        server.destroy()
