"""``dlrhook db upgrade``: create or upgrade the SQL status store's schema (the Procfile's
release phase runs it on every deploy; with status in Redis it says so and does nothing)."""

from __future__ import annotations

import sys

import click

from dlrhook.cli.common import settings_or_exit


@click.group("db")
def db() -> None:
    """The SQL status store's schema (DLRHOOK_STATUS_STORE=postgresql://... or sqlite:///...)."""


@db.command("upgrade")
def upgrade() -> None:
    """Bring the status database's tables to this version's schema (idempotent: run it on every
    deploy). Exit code 0 also when DLRHOOK_STATUS_STORE is redis (nothing to do), 1 when the
    database cannot be reached or refuses."""
    settings = settings_or_exit()
    url = settings.status_url
    if url is None:
        click.echo("dlrhook: DLRHOOK_STATUS_STORE is redis: there is no status database to upgrade")
        return
    import sqlalchemy as sa

    from dlrhook.status import migrations
    from dlrhook.status.sql import create_engine

    engine = create_engine(url)
    try:
        before, after = migrations.upgrade(engine)
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
        click.echo(f"dlrhook: the status database refused the upgrade: {reason[0] if reason else exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    backend = engine.dialect.name
    if before == after:
        click.echo(f"dlrhook: the status database ({backend}) is at revision {after}, the newest: nothing to do")
    else:
        click.echo(f"dlrhook: upgraded the status database ({backend}) from {before or 'empty'} to revision {after}")
