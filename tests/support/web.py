"""A running ``dlrhook web`` (gunicorn) seen from outside: requests on fresh connections and
/metrics scraped. The ``start_web`` fixture (tests/system/conftest.py) starts one.
"""

from __future__ import annotations

import http.client
import re
import subprocess
from pathlib import Path


class Web:
    def __init__(self, port: int, metrics_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.metrics_dir = metrics_dir
        self.process = process
        self.url = f"http://127.0.0.1:{port}/notify"

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
        """One request on a fresh connection (so the kernel may hand it to either worker)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Connection": "close"}
            if content_type:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def worker_pids_with_counters(self) -> set[str]:
        return {
            m.group(1) for p in self.metrics_dir.glob("counter_*.db") if (m := re.match(r"counter_(\d+)\.db", p.name))
        }

    def scrape(self) -> dict[str, float]:
        status, body = self.request("GET", "/metrics")
        assert status == 200
        samples = {}
        for line in body.decode().splitlines():
            if line.startswith("dlrhook_") and " " in line:
                name, _, number = line.rpartition(" ")
                samples[name] = float(number)
        return samples
