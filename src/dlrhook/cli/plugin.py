"""``dlrhook plugin new NAME``: write a handler plugin to start from (:mod:`dlrhook.dev.plugin_template`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def plugin() -> None:
    """Handler plugins: packages with a dlrhook.handlers entry point."""


@plugin.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder to write the plugin's folder NAME into",
)
def plugin_new(name: str, parent: Path) -> None:
    """Write NAME/, an installable handler package: pyproject.toml with its entry point, a
    handler that keeps reports in SQLite, its test. Writes nothing if NAME/ exists."""
    from dlrhook.dev.plugin_template import PluginExists, write

    try:
        files = write(name, parent)
    except (ValueError, PluginExists) as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(2)
    root = parent / name
    for path in files:
        click.echo(f"wrote {path}")
    click.echo(
        f"""
next:
  install it beside `make run`:  .venv/bin/pip install -e {root}   (then restart make run)
  in a deploy, a line in requirements.txt:  {name} @ git+https://github.com/you/{name}.git
  its test:  .venv/bin/pip install -e '{root}[test]' && .venv/bin/python -m pytest {root / "tests"}
  the handler is called {name!r}: every installed handler runs unless DLRHOOK_HANDLERS names others"""
    )
