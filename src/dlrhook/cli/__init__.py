"""The ``dlrhook`` command: every process and every operator task.

Each subcommand reads the settings once; a bad value stops it with the variable's name. The
commands live by kind: :mod:`~dlrhook.cli.service` (the processes), :mod:`~dlrhook.cli.pull`
(pull and reconcile), :mod:`~dlrhook.cli.operate` (failed, handlers, quarantine, status) and
:mod:`~dlrhook.cli.simulate`; :mod:`~dlrhook.cli.common` holds what they share.
"""

from __future__ import annotations

import click

from dlrhook.cli import operate, pull, service, simulate


@click.group()
def main() -> None:
    """dlrhook: receive Infobip delivery reports and hand them to your handlers."""


main.add_command(service.web)
main.add_command(service.poller)
main.add_command(service.redis)
main.add_command(service.local)
main.add_command(service.worker)
main.add_command(pull.pull)
main.add_command(pull.reconcile)
main.add_command(operate.failed)
main.add_command(operate.handlers)
main.add_command(operate.quarantine)
main.add_command(operate.status_command)
main.add_command(simulate.simulate)
