"""``dlrhook plugin new NAME``: a handler plugin to start from, as a small installable package.

What it writes (:func:`write`), for NAME ``acme-dlr``::

    acme-dlr/
      pyproject.toml        the package, with its ``dlrhook.handlers`` entry point ``acme-dlr``
      README.md             how to install it (make run, a deploy, a private git URL) and test it
      src/acme_dlr/__init__.py   the handler: keeps every report in SQLite, idempotent on report.key
      tests/test_handler.py      its test, run with pytest

The handler uses the public plugin API only (``from dlrhook import ...``, README "Handlers"),
so it keeps working across dlrhook releases. Templates are Python strings here rather than
package data: nothing to forget in the wheel.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

#: A handler name: an entry point name, a consumer group, a label value: kept plain.
NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
NAME_MAX = 40

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "0.1.0"
description = "A dlrhook handler: keeps Infobip's delivery reports in SQLite"
requires-python = ">=3.11"
dependencies = ["dlrhook>=0.2"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The handler's name ($name): DLRHOOK_HANDLERS names it, its consumer group and metrics carry it.
[project.entry-points."dlrhook.handlers"]
$name = "$module:on_reports"

[tool.setuptools.packages.find]
where = ["src"]

[tool.ruff]
line-length = 120
src = ["src"]

[tool.mypy]
strict = true
mypy_path = "src"
"""

_README = """\
# $name

A dlrhook handler: every report Infobip sends is kept in a SQLite
database (`${env}_DB`, default `$module.sqlite3` in the worker's working directory), one row
per report, whatever the number of times it is delivered.

## Install

- Beside `make run` (dlrhook's checkout): `.venv/bin/pip install -e ./$name`, then restart
  `make run`. Every installed handler runs unless `DLRHOOK_HANDLERS` names others.
- In a deploy (Heroku, the Dockerfile, a venv): a line in dlrhook's `requirements.txt`:
  `$name @ git+https://github.com/you/$name.git@v0.1.0` (a private repository: a deploy
  key or a token in the URL, `git+https://$${TOKEN}@github.com/you/$name.git`), or a path
  (`./plugins/$name`) when it lives in the same repository.

## Test

    .venv/bin/pip install -e './$name[test]'
    .venv/bin/python -m pytest $name/tests
"""

_HANDLER = '''\
"""$name: a dlrhook handler that keeps every delivery report in SQLite.

dlrhook calls :func:`on_reports` in its worker with up to ``DLRHOOK_BATCH_SIZE`` reports at a
time. Returning means delivered. Raising fails the batch for this handler only: it is retried
after ``DLRHOOK_RETRY_DELAYS``, then dead-lettered (``dlrhook failed list``);
``PartialFailure(reports)`` fails only those. Delivery is at least once, so the row's key is
``report.key`` and a report delivered twice is stored once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from dlrhook import DeliveryReport, batch_handler

#: The database file: set it in the worker's environment (a path the worker may write).
DB_VARIABLE = "${env}_DB"

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT,
    final INTEGER NOT NULL,
    occurred_at TEXT NOT NULL
)
"""


def database() -> str:
    """The SQLite file reports go to."""
    return os.environ.get(DB_VARIABLE, "$module.sqlite3")


def row(report: DeliveryReport) -> tuple[object, ...]:
    """One report as a row: a delivery report's status group, a seen report's "SEEN", an
    email event's name (OPENED, CLICKED, ...)."""
    status: str | None
    if report.status is not None:
        status = report.status.group_name
    elif report.kind == "seen":
        status = "SEEN"
    else:
        status = report.event
    return (
        report.key,
        report.message_id,
        report.channel,
        report.kind,
        status,
        int(report.final),
        report.occurred_at.isoformat(),
    )


@batch_handler
def on_reports(reports: list[DeliveryReport]) -> None:
    """Store *reports*; one transaction, so a failure stores none of them (all retried)."""
    with contextlib.closing(sqlite3.connect(database(), timeout=10)) as db, db:
        db.execute(SCHEMA)
        db.executemany("INSERT OR IGNORE INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)", [row(r) for r in reports])
'''

_TEST = '''\
"""The handler against a real SQLite file, with reports built as dlrhook builds them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dlrhook import DeliveryReport, Status

from $module import DB_VARIABLE, on_reports


def report(message_id: str, group: str = "DELIVERED", key: str | None = None) -> DeliveryReport:
    now = datetime.now(UTC)
    return DeliveryReport(
        key=key or f"key-{message_id}",
        source="push",
        received_at=now,
        message_id=message_id,
        bulk_id=None,
        to="41793026727",
        sender=None,
        sent_at=now,
        done_at=now,
        message_count=1,
        mcc_mnc=None,
        price=None,
        callback_data=None,
        status=Status(group_id=3, group_name=group, id=5, name="DELIVERED_TO_HANDSET", description=None),
        error=None,
        entity_id=None,
        application_id=None,
        campaign_reference_id=None,
        channel="SMS",
        kind="delivery",
        seen_at=None,
        raw={},
    )


def test_reports_are_stored_once_each_however_often_they_are_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "reports.sqlite3"
    monkeypatch.setenv(DB_VARIABLE, str(db))
    on_reports([report("m-1"), report("m-2", "UNDELIVERABLE")])
    on_reports([report("m-1")])  # at least once: a retry delivers it again
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT message_id, status, final FROM reports ORDER BY message_id").fetchall()
    assert rows == [("m-1", "DELIVERED", 1), ("m-2", "UNDELIVERABLE", 1)]
'''


class PluginExists(Exception):
    """The folder the plugin would be written to exists already."""


def check_name(name: str) -> str | None:
    """Why *name* cannot name a plugin, or None when it can."""
    if len(name) > NAME_MAX or not NAME.match(name):
        return (
            f"{name!r} is not a plugin name: lowercase letters and digits, words joined by - or _, "
            f"starting with a letter, {NAME_MAX} characters at most (e.g. acme-dlr)"
        )
    return None


def write(name: str, parent: Path) -> list[Path]:
    """Write plugin *name* into ``parent/name``; returns the files written, in order.

    Raises :class:`ValueError` for a bad name (:func:`check_name`) and :class:`PluginExists`
    when the folder exists, so that nothing of the user's is overwritten.
    """
    problem = check_name(name)
    if problem:
        raise ValueError(problem)
    root = parent / name
    if root.exists():
        raise PluginExists(f"{root} exists already: nothing written")
    module = name.replace("-", "_")
    values = {"name": name, "module": module, "env": module.upper()}
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / "src" / module / "__init__.py": _HANDLER,
        root / "tests" / "test_handler.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
    return list(files)
