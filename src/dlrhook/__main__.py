"""``python -m dlrhook``: the ``dlrhook`` command."""

from dlrhook.cli import main

main()
