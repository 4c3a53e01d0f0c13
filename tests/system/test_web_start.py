"""A web process started with a bad setting refuses to start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_web_process_refuses_to_start_naming_the_variable(redis_url: str) -> None:
    environ = {**os.environ, "REDIS_URL": redis_url, "DLRHOOK_MAX_BODY": "big"}

    done = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "web"], env=environ, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2
    assert "DLRHOOK_MAX_BODY" in done.stderr
    assert "Traceback" not in done.stderr
