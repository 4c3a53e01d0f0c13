"""The SQL status store beyond the rule (which tests/unit/test_status.py runs on every store):
its schema and migrations, its settings, retention, and the readers that go through it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from flask import Flask

from dlrhook.cli import main
from dlrhook.errors import SettingsError
from dlrhook.pull.infobip import InfobipClient
from dlrhook.pull.reconcile import LOGS_KEPT, reconcile
from dlrhook.settings import Settings
from dlrhook.status import StatusStore, migrations
from dlrhook.status.schema import event, history, message, metadata
from dlrhook.status.sql import create_engine, engine_url
from dlrhook.status.stores import sql_store
from tests.fake_infobip import FakeInfobip
from tests.statuses import SENT, report

TTL = 3600


@pytest.fixture(params=["postgresql", "sqlite"])
def sql_url(request: pytest.FixtureRequest) -> str:
    """Each SQL store in turn, emptied (the ``status_url`` fixture without Redis)."""
    from tests.conftest import clear_sql

    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "sqlite_url")
    clear_sql(url)
    return url


def _backdate(url: str, table: sa.Table, column: str, seconds: float) -> None:
    with sql_store(url).engine.begin() as c:
        c.execute(table.update().values({column: datetime.now(UTC) - timedelta(seconds=seconds)}))


def test_the_migrations_build_exactly_the_schema_the_code_uses(sql_url: str) -> None:
    with sql_store(sql_url).engine.connect() as c:
        differences = compare_metadata(MigrationContext.configure(c), metadata)

    # Alembic's own revision table is the only table the code does not declare.
    assert [d for d in differences if not (d[0] == "remove_table" and d[1].name == migrations.VERSION_TABLE)] == []
    assert migrations.current(sql_store(sql_url).engine) == migrations.head()


def test_db_upgrade_creates_the_schema_once_and_then_has_nothing_to_do(
    env: Callable[..., Settings], tmp_path: Path
) -> None:
    env(DLRHOOK_STATUS_STORE=f"sqlite:///{tmp_path / 'new.db'}")

    first = CliRunner().invoke(main, ["db", "upgrade"])
    second = CliRunner().invoke(main, ["db", "upgrade"])

    assert first.exit_code == 0 and "from empty to revision 0001" in first.output
    assert second.exit_code == 0 and "nothing to do" in second.output
    names = sa.inspect(create_engine(f"sqlite:///{tmp_path / 'new.db'}")).get_table_names()
    assert {"dlrhook_message", "dlrhook_message_history", "dlrhook_message_event"} <= set(names)
    assert "alembic_version" not in names  # its own revision table: an application's Alembic is left alone


def test_db_upgrade_against_a_database_that_is_down_exits_1_in_one_line_without_the_password(
    env: Callable[..., Settings],
) -> None:
    from dlrhook.dev.embedded import free_port

    env(DLRHOOK_STATUS_STORE=f"postgresql://dlrhook:hunter2-secret@127.0.0.1:{free_port()}/x")

    result = CliRunner().invoke(main, ["db", "upgrade"])

    assert result.exit_code == 1
    assert "the status database refused the upgrade" in result.output
    assert "hunter2-secret" not in result.output


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mysql://u@h/db", "DLRHOOK_STATUS_STORE: must be redis, DATABASE_URL, or a postgresql://"),
        ("postgresql-but-no-url", "DLRHOOK_STATUS_STORE: must be"),
        ("DATABASE_URL", "DLRHOOK_STATUS_STORE is DATABASE_URL but DATABASE_URL is not set"),
    ],
)
def test_a_status_store_that_is_no_store_stops_the_start_naming_the_variable(
    env: Callable[..., Settings], value: str, problem: str
) -> None:
    with pytest.raises(SettingsError, match=problem.replace("(", r"\(")):
        env(DLRHOOK_STATUS_STORE=value)


def test_database_url_is_heroku_s_postgres_add_on_and_its_password_is_a_secret(env: Callable[..., Settings]) -> None:
    settings = env(DLRHOOK_STATUS_STORE="DATABASE_URL", DATABASE_URL="postgres://u:add-on-password@host:5432/d1")

    assert settings.status_url == "postgres://u:add-on-password@host:5432/d1"
    assert "add-on-password" in settings.secrets
    assert "add-on-password" not in repr(settings)
    assert engine_url(settings.status_url).drivername == "postgresql+psycopg"  # psycopg 3, not psycopg2


def test_rows_unchanged_for_the_ttl_are_deleted_in_bounded_batches_with_their_history(sql_url: str) -> None:
    statuses = sql_store(sql_url)
    old = [report(f"old-{n}", "DELIVERED_TO_HANDSET", 5) for n in range(25)]
    statuses.fold([*old, dataclasses.replace(old[0], kind="event", status=None, event="OPENED")], ttl=TTL)
    _backdate(sql_url, message, "updated_at", TTL + 60)
    statuses.fold([report("fresh", "PENDING_ENROUTE", 1)], ttl=TTL)

    first = statuses.expire(TTL, batch=10, rounds=2)  # at most 2 transactions of 10
    rest = statuses.expire(TTL, batch=10, rounds=2)

    assert (first, rest) == (20, 5)
    assert statuses.expire(TTL) == 0
    assert statuses.message("old-3") is None and statuses.message("fresh") is not None
    with statuses.engine.connect() as c:
        assert c.execute(sa.select(history.c.message_id)).scalars().all() == ["fresh"]
        assert c.execute(sa.select(sa.func.count()).select_from(event)).scalar_one() == 0


def test_a_worker_s_maintenance_deletes_old_statuses(sql_url: str, worker_env: Callable[..., Settings]) -> None:
    from dlrhook import store
    from dlrhook.workers.worker import DispatchWorker

    settings = worker_env(DLRHOOK_STATUS_STORE=sql_url, DLRHOOK_STATUS_TTL="60", DLRHOOK_HANDLERS="status")
    sql_store(sql_url).fold([report("old", "DELIVERED_TO_HANDSET", 5)], ttl=60)
    _backdate(sql_url, message, "updated_at", 120)
    conn = store.connect(settings)
    worker = DispatchWorker([store.queue(conn, settings)], connection=conn, settings=settings)  # type: ignore[call-arg]

    worker.run_maintenance_tasks()

    assert sql_store(sql_url).message("old") is None


def test_the_intermediate_gauge_counts_in_the_database(sql_url: str, make_app: Callable[..., Flask]) -> None:
    sql_store(sql_url).fold([report("a", "PENDING_ENROUTE", 1), report("b", "PENDING_ENROUTE", 1)], ttl=TTL)
    _backdate(sql_url, message, "changed_at", 2 * 3600)
    sql_store(sql_url).fold([report("c", "PENDING_ENROUTE", 1), report("d", "DELIVERED_TO_HANDSET", 1)], ttl=TTL)

    text = make_app(DLRHOOK_STATUS_STORE=sql_url).test_client().get("/metrics").get_data(as_text=True)

    assert 'dlrhook_messages_intermediate{older_than="1h"} 2.0' in text
    assert 'dlrhook_messages_intermediate{older_than="6h"} 0.0' in text


def test_reconcile_asks_about_the_messages_stuck_in_the_database(
    sql_url: str, fake: FakeInfobip, account: Callable[..., Settings]
) -> None:
    from dlrhook import store
    from tests.unit.pull.test_reconcile import logs_requests

    settings = account(DLRHOOK_STATUS_STORE=sql_url)
    statuses = sql_store(sql_url)
    statuses.fold([report("stuck", "PENDING_ENROUTE", 1)], ttl=TTL)
    _backdate(sql_url, message, "changed_at", 7200)
    statuses.fold([report("gone-from-logs", "PENDING_ENROUTE", 1)], ttl=TTL)
    with statuses.engine.begin() as c:
        c.execute(
            message.update()
            .where(message.c.message_id == "gone-from-logs")
            .values(changed_at=datetime.now(UTC) - timedelta(seconds=LOGS_KEPT + 60))
        )
    statuses.fold([report("fresh", "PENDING_ENROUTE", 1), report("done", "DELIVERED_TO_HANDSET", 2)], ttl=TTL)

    reconcile(store.connect(settings), settings, InfobipClient.from_settings(settings), 3600)

    (request,) = logs_requests(fake)
    assert request.query["messageId"] == ["stuck"]


def test_times_come_back_in_utc_and_a_price_keeps_the_digits_infobip_wrote(sql_url: str) -> None:
    from decimal import Decimal

    from dlrhook.report import Price

    r = report("m", "DELIVERED_TO_HANDSET", 5)
    r = dataclasses.replace(
        r,
        done_at=(SENT + timedelta(seconds=5)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Zagreb")),
        price=Price(price_per_message=Decimal("0.0100"), currency="EUR"),
    )
    sql_store(sql_url).fold([r], ttl=TTL)

    record = sql_store(sql_url).message("m")
    assert record is not None
    assert record["doneAt"] == "2026-11-28T09:00:05+00:00"
    assert record["price"] == {"pricePerMessage": "0.0100", "currency": "EUR"}


def test_a_bulk_counts_seconds_to_final_once_per_message_from_its_first_final_report(statuses: StatusStore) -> None:
    """On every store, Redis included."""
    statuses.fold([report("a", "PENDING_ENROUTE", 1), report("a", "DELIVERED_TO_HANDSET", 40)], ttl=TTL)
    statuses.fold([report("a", "UNDELIVERABLE_NOT_DELIVERED", 5000)], ttl=TTL)  # a later correction
    statuses.fold([report("b", "EXPIRED_EXPIRED", 200_000), report("c", "PENDING_ENROUTE", 1)], ttl=TTL)

    found = statuses.bulk("BULK-1")

    assert found is not None
    assert {k: v for k, v in found["secondsToFinal"].items() if v} == {"60": 1, "+Inf": 1}


def test_a_locked_sqlite_database_fails_the_fold_which_is_dead_lettered_and_replayed_when_it_is_free(
    conn: object,
    tmp_path: Path,
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite's "database down": another process holds its write lock past the busy timeout."""
    import sqlite3

    from dlrhook import defaults
    from dlrhook.ingest import ingest
    from tests.statuses import raw_report

    monkeypatch.setattr(defaults, "STATUS_STATEMENT_TIMEOUT", 0.2)  # the busy timeout, short for the test
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    migrations.upgrade(create_engine(url))
    settings = worker_env(DLRHOOK_HANDLERS="status", DLRHOOK_STATUS_STORE=url)
    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        ingest(conn, [raw_report("l-1", "DELIVERED_TO_HANDSET", 5)], source="push", settings=settings)  # type: ignore[arg-type]
        run_jobs(settings)  # every attempt meets the lock: dead-lettered
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sql_store(url).message("l-1") is None

    replayed = CliRunner().invoke(main, ["failed", "replay", "--all", "--handler", "status"])
    run_jobs(settings)

    assert replayed.exit_code == 0, replayed.output
    record = sql_store(url).message("l-1")
    assert record is not None and record["status"]["name"] == "DELIVERED_TO_HANDSET"
