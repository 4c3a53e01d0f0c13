"""``python -m dlrhook.cli``: the ``dlrhook`` command."""

from dlrhook.cli import main

main()
