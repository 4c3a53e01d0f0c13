"""A worker start that cannot load a handler stops at once, exit status 2, naming the handler."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import PLUGINS


def test_a_handler_that_cannot_be_imported_stops_the_worker_start_naming_it(process_env: dict[str, str]) -> None:
    broken_plugin = str(PLUGINS.parent / "plugins-broken")
    env = {**process_env, "PYTHONPATH": broken_plugin + os.pathsep + process_env["PYTHONPATH"]}
    started = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "test-unimportable" in started.stderr and "dlrhook_brokenplugin_missing" in started.stderr

    env = {**process_env, "DLRHOOK_HANDLERS": "test-record,no_such_module:handler"}
    started = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2 and "no_such_module:handler" in started.stderr
