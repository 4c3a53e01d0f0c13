"""What the tests share that is not a fixture: paths, sample payloads, waiting, helpers by side.

Fixtures live in ``tests/conftest.py`` (every test) and ``tests/system/conftest.py`` (real
processes); test modules import helpers from here, never from one another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLES = ROOT / "tests" / "samples"
#: A handler plugin installed as a real entry point (a dist-info folder on the path).
PLUGINS = ROOT / "tests" / "plugins"


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll *condition* every 50 ms; fail the test naming *what* if it is not true in *timeout* s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def sample(name: str) -> bytes:
    """The bytes of a sample payload in tests/samples/."""
    return (SAMPLES / name).read_bytes()
