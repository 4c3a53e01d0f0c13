"""`make bench`: start the real processes on a real Redis, load them, print one table.

Every row is measured in this run, beside its baseline. Load comes from wrk (Debian's
package) on loopback; every report carries a new messageId so nothing is a cheap duplicate.
Redis is the embedded Valkey with AOF (appendfsync everysec), as `make run` uses it.

    python -m bench.run [--duration 10] [--only ingest,memory,dispatch,latency]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from workers.embedded import EmbeddedRedis, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Row:
    figure: str
    value: str
    baseline: str
    target: str
    verdict: str


def rss_kib(pid: int) -> int:
    """Resident memory of one process, KiB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+)", status)
    return int(match.group(1)) if match else 0


def children(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run *args* until the block ends; wait for *ready_url* to answer first."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        if ready_url:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(ready_url, timeout=1):  # noqa: S310  # our own http:// URL
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{args} did not come up") from None
                    time.sleep(0.1)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def gunicorn(app: str, port: int, env: dict[str, str]) -> list[str]:
    """The web process's exact gunicorn settings, serving *app*."""
    return [sys.executable, "-m", "gunicorn", "--config", "python:webhook.gunicorn_conf", app]


def wrk(port: int, reports: int, duration: int, connections: int = 16) -> dict[str, float]:
    """Run wrk with bench/post.lua; return requests/s and latency percentiles (ms)."""
    env = {**os.environ, "REPORTS": str(reports)}
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "post.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (.*)", out)
    if not match:
        raise RuntimeError(f"wrk printed no RESULT:\n{out}")
    fields = dict(pair.split("=") for pair in match.group(1).split())
    seconds = int(fields["duration_us"]) / 1e6
    errors = int(fields["errors_status"]) + int(fields["errors_connect"])
    if errors:
        raise RuntimeError(f"wrk saw {errors} failed requests:\n{out}")
    return {
        "rps": int(fields["requests"]) / seconds,
        "requests": int(fields["requests"]),
        "p50_ms": int(fields["p50_us"]) / 1000,
        "p99_ms": int(fields["p99_us"]) / 1000,
    }


class Bench:
    def __init__(self, duration: int, redis_url: str) -> None:
        self.duration = duration
        self.redis_url = redis_url
        self.conn = redis.Redis.from_url(redis_url)
        self.rows: list[Row] = []
        self.env = {**os.environ, "REDIS_URL": redis_url, "WEB_CONCURRENCY": "2", "DLRHOOK_LOG_LEVEL": "WARNING"}
        for name in ("DLRHOOK_TOKEN", "DLRHOOK_BASIC_AUTH", "DLRHOOK_ALLOWED_IPS"):
            self.env.pop(name, None)

    def flush(self) -> None:
        self.conn.execute_command("FLUSHALL", "SYNC")  # type: ignore[no-untyped-call]

    def web(
        self, app: str = "webhook.app:create_app()"
    ) -> tuple[int, Callable[[], AbstractContextManager[subprocess.Popen[bytes]]]]:
        port = free_port()
        env = {**self.env, "PORT": str(port)}
        return port, lambda: process(gunicorn(app, port, env), env, f"http://127.0.0.1:{port}/healthz")

    def ingest(self) -> None:
        port, noop = self.web("bench.noop_app:app")
        with noop():
            wrk(port, 1, 2)  # warm up
            base = wrk(port, 1, self.duration)
        port, web = self.web()
        self.flush()
        with web() as proc:
            wrk(port, 1, 2)
            one = wrk(port, 1, self.duration)
            hundred = wrk(port, 100, self.duration)
            big = wrk(port, 2000, self.duration, connections=4)
            web_rss = rss_kib(proc.pid) + sum(rss_kib(c) for c in children(proc.pid))
        ratio = one["rps"] / base["rps"]
        self.rows += [
            Row(
                "ingest, 1-report bodies",
                f"{one['rps']:,.0f} req/s ({ratio:.0%} of baseline)",
                f"do-nothing WSGI app, same gunicorn: {base['rps']:,.0f} req/s",
                ">= 60% of baseline",
                "met" if ratio >= 0.6 else "not met",
            ),
            Row(
                "ingest, 100-report bodies",
                f"{hundred['rps'] * 100:,.0f} reports/s (p99 {hundred['p99_ms']:.0f} ms)",
                "",
                ">= 10,000 reports/s",
                "met" if hundred["rps"] * 100 >= 10_000 else "not met",
            ),
            Row(
                "ingest, 2000-report bodies",
                f"{big['rps'] * 2000:,.0f} reports/s (p99 {big['p99_ms']:.0f} ms)",
                "",
                "",
                "",
            ),
            Row("memory: web (gunicorn master + 2 workers) RSS after load", f"{web_rss / 1024:,.0f} MiB", "", "", ""),
        ]

    def memory(self) -> None:
        """Redis bytes per remembered report (dedup key) and per queued report (inbox)."""
        from webhook import store
        from webhook.ingest import ingest
        from webhook.settings import load_settings

        os.environ["REDIS_URL"] = self.redis_url
        settings = load_settings()
        self.flush()
        time.sleep(0.5)
        before = int(self.conn.info("memory")["used_memory"])
        template = json.loads((ROOT / "tests/samples/v1-one-delivered.json").read_text())["results"][0]
        n = 20_000
        conn = store.connect(settings)
        for start in range(0, n, 1000):
            batch = [{**template, "messageId": f"mem-{i}"} for i in range(start, start + 1000)]
            ingest(conn, batch, source="push", settings=settings)
        with_inbox = int(self.conn.info("memory")["used_memory"])
        self.conn.delete(store.INBOX)
        time.sleep(0.5)
        dedup_only = int(self.conn.info("memory")["used_memory"])
        per_seen = (dedup_only - before) / n
        per_queued = (with_inbox - dedup_only) / n
        self.rows += [
            Row(
                "Redis memory per remembered report (dedup)",
                f"{per_seen:.0f} bytes",
                f"{n:,} reports",
                "<= 100 bytes",
                "met" if per_seen <= 100 else "not met",
            ),
            Row("Redis memory per queued report (inbox, raw + parsed)", f"{per_queued:.0f} bytes", "", "", ""),
        ]

    def table(self) -> str:
        lines = [
            "| figure | measured | baseline, same run | target | |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {r.figure} | {r.value} | {r.baseline} | {r.target} | {r.verdict} |" for r in self.rows]
        return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--only", default="ingest,memory", help="comma-separated parts to run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (Debian: apt-get install wrk; `make bench` does it)")
    parts = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-") as data, EmbeddedRedis(data) as server:
        bench = Bench(args.duration, server.url)
        for part in parts:
            getattr(bench, part)()
        print(f"\nmachine: {machine()}\ncommand: make bench (python -m bench.run --duration {args.duration})\n")
        print(bench.table())


if __name__ == "__main__":
    main()
