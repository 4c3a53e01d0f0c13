"""``dlrhook plugin new``: the plugin it writes installs with pip, passes its own test, and a real
worker finds it by its entry point and delivers pushed reports to it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.workers import stream
from tests.support import sample, wait_until
from tests.support.web import Web

pytestmark = pytest.mark.slow


def dlrhook(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def venv_beside_this_one(path: Path) -> Path:
    """A new venv that also sees this interpreter's packages (dlrhook, setuptools, pytest), so
    that pip installs the plugin into it without fetching anything; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    # addsitedir, not a bare path: it runs the .pth files there (an editable dlrhook's finder).
    (Path(purelib) / "dlrhook-under-test.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def test_a_generated_plugin_installs_with_pip_and_a_real_worker_delivers_reports_to_it(
    tmp_path: Path,
    conn: redis_lib.Redis,
    start_web: Callable[..., Web],
    process_env: dict[str, str],
) -> None:
    made = dlrhook("plugin", "new", "acme-dlr", "--dir", str(tmp_path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "pip install -e" in made.stdout
    root = tmp_path / "acme-dlr"
    assert (root / "pyproject.toml").is_file() and (root / "src" / "acme_dlr" / "__init__.py").is_file()
    again = dlrhook("plugin", "new", "acme-dlr", "--dir", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr
    bad = dlrhook("plugin", "new", "Acme DLR", cwd=tmp_path)
    assert bad.returncode == 2 and "not a plugin name" in bad.stderr

    # It passes the checks dlrhook itself passes, with the settings its pyproject carries.
    for check in (["ruff", "check", "--select", "E,F,I,UP,B", "src", "tests"], ["mypy", "src", "tests"]):
        checked = subprocess.run([sys.executable, "-m", *check], cwd=root, capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    python = venv_beside_this_one(tmp_path / "venv")
    # The README's command (`.venv/bin/pip install -e ./NAME`); no build isolation: offline.
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-build-isolation", "-e", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    own_test = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr

    db = tmp_path / "reports.sqlite3"
    # No DLRHOOK_HANDLERS (process_env has none): every installed handler, found by its entry point.
    env = {**process_env, "PYTHONPATH": "", "ACME_DLR_DB": str(db)}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(python), "-m", "dlrhook.cli", "worker"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: "acme-dlr" in stream.registered(conn), 60, "the worker to register acme-dlr")
        web = start_web()
        template = json.loads(sample("v3-one-delivered.json"))["results"][0]
        body = json.dumps({"results": [{**template, "messageId": f"plug-{i}"} for i in range(25)]}).encode()
        assert web.request("POST", "/notify", body, "application/json")[0] == 200

        def stored() -> list[tuple[str, str]]:
            if not db.exists():
                return []
            with sqlite3.connect(db) as c:
                return c.execute("SELECT message_id, status FROM reports ORDER BY message_id").fetchall()

        wait_until(lambda: len(stored()) == 25, 60, "the plugin to store 25 reports")
        assert {m for m, _ in stored()} == {f"plug-{i}" for i in range(25)}
        assert {s for _, s in stored()} == {template["status"]["groupName"]}
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
