"""The ``dlrhook`` command: every process and every operator task.

Each subcommand reads the settings once; a bad value stops it with the variable's name. The
commands live by kind: :mod:`~dlrhook.cli.service` (the processes), :mod:`~dlrhook.cli.pull`
(pull and reconcile), :mod:`~dlrhook.cli.failed` (dead letters), :mod:`~dlrhook.cli.operate`
(handlers, quarantine, status), :mod:`~dlrhook.cli.db` (the status database's schema),
:mod:`~dlrhook.cli.simulate` and :mod:`~dlrhook.cli.plugin` (a handler plugin to start from);
:mod:`~dlrhook.cli.common` holds what they share.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import redis

from dlrhook.cli import db, failed, operate, plugin, pull, service, simulate
from dlrhook.cli.common import redis_unreachable
from dlrhook.errors import StatusUnavailable


class _Main(click.Group):
    """The command group: a Redis that cannot be reached ends a command with one line naming
    REDIS_URL and exit code 1, not a traceback (the processes retry by themselves); so does a
    status store that cannot answer (DLRHOOK_STATUS_STORE)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            click.echo(redis_unreachable(exc), err=True)
            sys.exit(1)
        except StatusUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, redis.ConnectionError | redis.TimeoutError):  # status kept in Redis
                click.echo(redis_unreachable(cause), err=True)
            else:
                click.echo(f"dlrhook: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Main)
def main() -> None:
    """dlrhook: receive Infobip delivery reports and hand them to your handlers."""


main.add_command(service.web)
main.add_command(service.poller)
main.add_command(service.redis)
main.add_command(service.local)
main.add_command(service.worker)
main.add_command(pull.pull)
main.add_command(pull.reconcile)
main.add_command(failed.failed)
main.add_command(operate.handlers)
main.add_command(operate.quarantine)
main.add_command(operate.status_command)
main.add_command(simulate.simulate)
main.add_command(plugin.plugin)
main.add_command(db.db)
