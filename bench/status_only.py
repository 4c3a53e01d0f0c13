"""The dispatch rows (no-op handlers, the baseline) and the status-handler row of bench/run.py,
without wrk (which only the ingest rows need)::

    .venv/bin/python -m bench.status_only
"""

from __future__ import annotations

import os
import tempfile
import time

from bench.run import Bench, machine
from dlrhook.dev.embedded import EmbeddedRedis


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-") as data, EmbeddedRedis(data) as server:
        bench = Bench(10, server.url)
        load = os.getloadavg()[0]
        started = time.monotonic()
        bench.dispatch()
        bench.status()
        print(f"machine: {machine()}")
        print(f"load average (1 min) before/after: {load:.2f}/{os.getloadavg()[0]:.2f}")
        print(f"took {time.monotonic() - started:.0f} s\n")
        print(bench.table())


if __name__ == "__main__":
    main()
