"""Worker processes kept running under a small supervisor, as Heroku, systemd or honcho would:
a worker that exits is started again, and the test counts the restarts.

The ``supervise`` fixture (tests/system/conftest.py) starts them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_lib

#: What every supervised worker runs with: abandoned batches reclaimed fast, retries at once.
FAST = {"DLRHOOK_ABANDON_AFTER": "3", "DLRHOOK_MAINTENANCE_INTERVAL": "1", "DLRHOOK_RETRY_DELAYS": "0,0"}


def recorded(conn: redis_lib.Redis, key: str) -> list[str]:
    return [v.decode() for v in conn.lrange(key, 0, -1)]


@dataclass
class Supervised:
    """One worker slot kept running: restarted whenever its process exits."""

    env: dict[str, str]
    log_dir: Path
    starts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    stopping: bool = False
    exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        log = open(self.log_dir / f"worker-{id(self)}-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dlrhook.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    def watch(self) -> None:
        while not self.stopping:
            proc = self.proc
            if proc is not None and proc.poll() is not None:
                self.exits.append(proc.returncode)
                if not self.stopping:
                    self.start()
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob(f"worker-{id(self)}-*.log")))
