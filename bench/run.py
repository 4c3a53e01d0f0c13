"""`make bench`: start the real processes on a real Redis, load them, print one table.

Every row is measured in this run, beside its baseline. Load comes from wrk (Debian's
package) on loopback; every report carries a new messageId so nothing is a cheap duplicate.
Redis is the embedded Valkey with AOF (appendfsync everysec), as `make run` uses it.

    python -m bench.run [--duration 10] [--only ingest,memory,dispatch,scaling,status,latency,durability]
"""

from __future__ import annotations

import argparse
import contextlib
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
from typing import TYPE_CHECKING, Any

import redis

from dlrhook.dev.embedded import EmbeddedRedis, free_port
from dlrhook.store import keys

if TYPE_CHECKING:
    from dlrhook.settings import Settings

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
    return [sys.executable, "-m", "gunicorn", "--config", "python:dlrhook.webhook.gunicorn_conf", app]


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


def sample_report() -> dict[str, Any]:
    """Infobip's own example report (tests/samples), as a dict."""
    from dlrhook.parsing import parse_json

    report: dict[str, Any] = parse_json((ROOT / "tests/samples/v1-one-delivered.json").read_bytes())["results"][0]
    return report


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted *values*."""
    return values[min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))]


def paced(port: int, rps: float, seconds: float, per_request: int, tag: str) -> dict[str, float]:
    """POST *rps* requests a second of *per_request* new reports each for *seconds*, on a pool
    of keep-alive connections; return messageId -> time.time() its 200 arrived."""
    import http.client
    import threading

    template = sample_report()
    total = int(rps * seconds)
    answered: dict[str, float] = {}
    lock = threading.Lock()
    start = time.monotonic() + 0.1
    counter = iter(range(total))
    failures: list[str] = []

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in counter:  # next() on a shared range iterator is atomic under the GIL
            delay = start + i / rps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ids = [f"{tag}-{i}-{j}" for j in range(per_request)]
            body = json.dumps({"results": [{**template, "messageId": mid} for mid in ids]}, default=float)
            conn.request("POST", "/notify", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            at = time.time()
            if response.status != 200:
                failures.append(f"{response.status}")
                continue
            with lock:
                for mid in ids:
                    answered[mid] = at
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} pushes failed: {failures[:5]}")
    late = time.monotonic() - start - seconds
    if late > 1:
        raise RuntimeError(f"the sender fell {late:.1f} s behind its pace")
    return answered


class Bench:
    def __init__(self, duration: int, redis_url: str) -> None:
        self.duration = duration
        self.redis_url = redis_url
        self.conn = redis.Redis.from_url(redis_url)
        self.rows: list[Row] = []
        self.latency_batch = 10
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "WEB_CONCURRENCY": "2",
            "DLRHOOK_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),  # bench.handlers, for `dlrhook worker`
        }
        for name in ("DLRHOOK_TOKEN", "DLRHOOK_BASIC_AUTH", "DLRHOOK_ALLOWED_IPS"):
            self.env.pop(name, None)

    def flush(self) -> None:
        self.conn.execute_command("FLUSHALL", "SYNC")  # type: ignore[no-untyped-call]

    def web(
        self, app: str = "dlrhook.webhook.app:create_app()"
    ) -> tuple[int, Callable[[], AbstractContextManager[subprocess.Popen[bytes]]]]:
        port = free_port()
        env = {**self.env, "PORT": str(port)}
        return port, lambda: process(gunicorn(app, port, env), env, f"http://127.0.0.1:{port}/healthz")

    def ingest(self) -> None:
        # The three apps run side by side (idle ones cost nothing) and take turns, twice, so that
        # the ratio is not skewed by what else the machine did in one stretch.
        noop_port, noop = self.web("bench.noop_app:app")
        flask_port, noop_flask = self.web("bench.noop_app:flask_app")
        port, web = self.web()
        self.flush()
        runs: dict[str, list[float]] = {"base": [], "flask": [], "one": []}
        with noop(), noop_flask(), web() as proc:
            for p in (noop_port, flask_port, port):
                wrk(p, 1, 2)  # warm up
            for _ in range(2):
                runs["base"].append(wrk(noop_port, 1, self.duration)["rps"])
                runs["flask"].append(wrk(flask_port, 1, self.duration)["rps"])
                runs["one"].append(wrk(port, 1, self.duration)["rps"])
            hundred = wrk(port, 100, self.duration)
            big = wrk(port, 2000, self.duration, connections=8)
            web_rss = rss_kib(proc.pid) + sum(rss_kib(c) for c in children(proc.pid))
        base = {"rps": sum(runs["base"]) / 2}
        flask = {"rps": sum(runs["flask"]) / 2}
        one = {"rps": sum(runs["one"]) / 2}
        ratio = one["rps"] / base["rps"]
        self.rows += [
            Row(
                "ingest, 1-report bodies",
                f"{one['rps']:,.0f} req/s ({ratio:.0%} of baseline)",
                f"do-nothing WSGI app, same gunicorn: {base['rps']:,.0f} req/s (mean of 2 turns each)",
                ">= 60% of baseline",
                "met" if ratio >= 0.6 else "not met",
            ),
            Row(
                "(for scale) do-nothing Flask view, 1-report bodies",
                f"{flask['rps']:,.0f} req/s ({flask['rps'] / base['rps']:.0%} of baseline)",
                "same do-nothing WSGI app as above",
                "",
                "",
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

    def durability(self) -> None:
        """The cost of DLRHOOK_DURABILITY: the same web at each level, on the AOF primary with one
        replica (another embedded Valkey), taking turns twice, 1-report and 100-report bodies."""
        with tempfile.TemporaryDirectory(prefix="dlrhook-bench-replica-") as data, EmbeddedRedis(data) as replica:
            replica_conn = redis.Redis.from_url(replica.url)
            replica_conn.execute_command(
                "REPLICAOF", "127.0.0.1", str(self.conn.connection_pool.connection_kwargs["port"])
            )  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + 30
            while replica_conn.info("replication").get("master_link_status") != "up":
                if time.monotonic() > deadline:
                    raise RuntimeError("the bench replica did not sync")
                time.sleep(0.1)
            levels = ("memory", "disk", "replica")
            webs = {}
            for level in levels:
                port = free_port()
                env = {**self.env, "PORT": str(port), "DLRHOOK_DURABILITY": level}
                webs[level] = (
                    port,
                    process(
                        gunicorn("dlrhook.webhook.app:create_app()", port, env), env, f"http://127.0.0.1:{port}/healthz"
                    ),
                )
            runs: dict[tuple[str, int], list[float]] = {(lv, n): [] for lv in levels for n in (1, 100)}
            p50: dict[str, list[float]] = {lv: [] for lv in levels}
            with contextlib.ExitStack() as stack:
                for _, web in webs.values():
                    stack.enter_context(web)
                self.flush()
                for port, _ in webs.values():
                    wrk(port, 1, 2)  # warm up
                for turn in range(2):
                    for level in levels if turn == 0 else levels[::-1]:  # each level first once
                        for n in (1, 100):
                            got = wrk(webs[level][0], n, self.duration)
                            runs[level, n].append(got["rps"] * n)
                            if n == 1:
                                p50[level].append(got["p50_ms"])
                    self.flush()
            # The wait itself, without HTTP: one thread calling ingest() back to back (each call
            # waits for its level, so calls/s is 1 / the latency of one ingest).
            direct = {(lv, n): self.ingest_calls(lv, n, min(self.duration, 5)) for lv in levels for n in (1, 100)}
        mean = {k: sum(v) / len(v) for k, v in runs.items()}
        for level in levels:
            one, hundred = direct[level, 1], direct[level, 100]
            self.rows.append(
                Row(
                    f"ingest() in one thread, no HTTP, at DLRHOOK_DURABILITY={level}",
                    f"1 report: {one:,.0f} calls/s ({1000 / one:.2f} ms each); "
                    f"100 reports: {hundred * 100:,.0f} reports/s ({1000 / hundred:.2f} ms each)",
                    "same server, same run",
                    "",
                    "",
                )
            )
        for level in levels:
            one, hundred = mean[level, 1], mean[level, 100]
            self.rows.append(
                Row(
                    f"ingest at DLRHOOK_DURABILITY={level} (AOF primary + 1 replica)",
                    f"1-report bodies {one:,.0f} req/s ({one / mean['memory', 1]:.0%}, "
                    f"p50 {sum(p50[level]) / 2:.1f} ms); "
                    f"100-report bodies {hundred:,.0f} reports/s ({hundred / mean['memory', 100]:.0%})",
                    "memory, same run (mean of 2 turns each)" if level != "memory" else "",
                    "",
                    "",
                )
            )

    def ingest_calls(self, level: str, per_call: int, seconds: float) -> float:
        """Calls of ingest() a second at *level*, *per_call* new reports each, one thread."""
        from dlrhook import store
        from dlrhook.ingest import ingest

        os.environ["DLRHOOK_DURABILITY"] = level
        try:
            settings = self.settings()
        finally:
            del os.environ["DLRHOOK_DURABILITY"]
        conn = store.connect(settings)
        report, calls = sample_report(), 0
        end = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < end:
            batch = [{**report, "messageId": f"direct-{level}-{per_call}-{calls}-{i}"} for i in range(per_call)]
            got = ingest(conn, batch, source="push", settings=settings)
            assert got.accepted == per_call, got.as_dict()
            calls += 1
        return calls / (time.monotonic() - started)

    def memory(self) -> None:
        """Redis bytes per remembered report (dedup key) and per queued report (inbox)."""
        from dlrhook import store
        from dlrhook.ingest import ingest

        settings = self.settings()
        self.flush()
        time.sleep(0.5)
        before = int(self.conn.info("memory")["used_memory"])
        template = sample_report()
        n = 20_000
        conn = store.connect(settings)
        for start in range(0, n, 1000):
            batch = [{**template, "messageId": f"mem-{i}"} for i in range(start, start + 1000)]
            ingest(conn, batch, source="push", settings=settings)
        with_inbox = int(self.conn.info("memory")["used_memory"])
        self.conn.delete(keys.REPORTS)
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
            Row("Redis memory per queued report (stream entry, raw + parsed)", f"{per_queued:.0f} bytes", "", "", ""),
        ]

    # --- dispatch: one real `dlrhook worker`, inbox pre-filled through the real ingest -------

    def prefill(self, n: int, per_request: int) -> bytes:
        """Ingest *n* new reports, *per_request* to a call, with no handler registered (so no
        drain job is queued); return the report stream (DUMP)."""
        from concurrent.futures import ThreadPoolExecutor

        from dlrhook import store
        from dlrhook.ingest import ingest

        settings = self.settings()
        conn = store.connect(settings)
        self.flush()
        template = sample_report()
        tag = f"d{per_request}-{time.time_ns()}"

        def push(start: int) -> None:
            batch = [{**template, "messageId": f"{tag}-{i}"} for i in range(start, min(n, start + per_request))]
            ingest(conn, batch, source="push", settings=settings)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(push, range(0, n, per_request)))
        if conn.xlen(keys.REPORTS) != n:
            raise RuntimeError(f"pre-fill stored {conn.xlen(keys.REPORTS)} of {n} reports")
        dumped = conn.dump(keys.REPORTS)
        assert isinstance(dumped, bytes)
        return dumped

    def drain_through_worker(
        self,
        inbox: bytes,
        n: int,
        handler: str,
        workers: int = 1,
        spec: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[float, int]:
        """Start *workers* `dlrhook worker` processes, then restore the stream; seconds until
        the handler has every report. *handler* names a function of bench.handlers, unless
        *spec* names the handler (DLRHOOK_HANDLERS) itself; *extra_env* adds to the workers' environment."""
        from bench import handlers
        from dlrhook import drains, store
        from dlrhook.workers import stream

        settings = self.settings()
        conn = store.connect(settings)
        self.flush()
        name = spec or f"bench.handlers:{handler}"
        env = {**self.env, "DLRHOOK_HANDLERS": name, **(extra_env or {})}
        worker = [str(Path(sys.executable).with_name("dlrhook")), "worker"]
        peak_rss = 0
        with contextlib.ExitStack() as stack:
            procs = [stack.enter_context(process(worker, env)) for _ in range(workers)]
            deadline = time.monotonic() + 30
            while conn.scard("rq:workers") < workers:
                if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError("the workers did not come up")
                time.sleep(0.05)
            while not conn.hexists(keys.HANDLERS, name):
                time.sleep(0.05)
            # The workers are up and idle: the backlog appears at once, with the handler's group.
            q = store.queue(conn, settings)
            start = time.monotonic()
            with conn.pipeline(transaction=True) as pipe:
                pipe.restore(keys.REPORTS, 0, inbox, replace=True)
                pipe.xgroup_create(keys.REPORTS, name, id="0")
                pipe.execute()
            drains.wake(conn, q, [name])
            while True:
                time.sleep(0.002)
                if stream.backlog(conn).get(name, 0) or q.count:
                    peak_rss = max(peak_rss, *(rss_kib(p.pid) for p in procs))
                    if time.monotonic() - start > 300:
                        raise RuntimeError("the workers did not deliver the backlog within 300 s")
                    continue
                break
            seconds = time.monotonic() - start
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker died")
        if handler == "noop_batch" and int(conn.get(handlers.COUNT_KEY) or 0) != n:
            raise RuntimeError(f"the batch handler saw {conn.get(handlers.COUNT_KEY)!r} of {n} reports")
        return seconds, peak_rss

    def scaling(self) -> None:
        """A 5 ms handler (a database upsert's cost) on 1, 2 and 4 workers: a backlog of 3,000
        reports with no new pushes must spread over every worker."""
        n = 3000
        backlog = self.prefill(n, 100)
        one = 0.0
        for workers in (1, 2, 3, 4):
            seconds, _ = self.drain_through_worker(backlog, n, "sleep5", workers)
            one = one or seconds
            speedup = one / seconds
            target = ">= 2.4x one worker" if workers == 3 else ""
            self.rows.append(
                Row(
                    f"dispatch, 5 ms handler, {workers} worker{'s' if workers > 1 else ''}",
                    f"{n / seconds:,.0f} reports/s ({speedup:.1f}x one worker)",
                    f"{n:,} reports queued, no pushes",
                    target,
                    ("met" if speedup >= 0.8 * workers else "not met") if workers > 1 else "",
                )
            )

    def dispatch(self) -> None:
        n = 30_000
        peak = 0
        for per_request in (1, 100):
            inbox = self.prefill(n, per_request)
            for handler, kind in (("noop", "no-op per-report handler"), ("noop_batch", "no-op batch handler")):
                seconds, rss = self.drain_through_worker(inbox, n, handler)
                peak = max(peak, rss)
                rate = n / seconds
                per_report = handler == "noop"
                self.rows.append(
                    Row(
                        f"dispatch, one worker, {kind}, pushed {per_request}/request",
                        f"{rate:,.0f} reports/s",
                        f"{n:,} reports pre-filled through ingest",
                        ">= 10,000 reports/s" if per_report else "",
                        ("met" if rate >= 10_000 else "not met") if per_report else "",
                    )
                )
        self.rows.append(Row("memory: worker RSS while draining", f"{peak / 1024:,.0f} MiB", "", "", ""))

    def status(self) -> None:
        """Dispatch with the built-in status handler into each store (Redis, PostgreSQL, SQLite):
        the same backlog, every report a new message, one bulk; then PostgreSQL's bytes a message."""
        from bench.sqlstores import sql_stores
        from dlrhook import status
        from dlrhook.status.stores import sql_store

        n = 30_000
        inbox = self.prefill(n, 100)
        seconds, _ = self.drain_through_worker(inbox, n, "status", spec="status")
        summary = status.bulk(self.conn, sample_report()["bulkId"])
        if summary is None or summary["messages"] != n:
            raise RuntimeError(f"the status handler folded {summary} of {n} messages")
        self.rows.append(self._status_row("one Lua fold a batch", n, seconds))
        with sql_stores() as stores:
            for kind, store_url, footprint in stores:
                seconds, _ = self.drain_through_worker(
                    inbox, n, "status", spec="status", extra_env={"DLRHOOK_STATUS_STORE": store_url}
                )
                found = sql_store(store_url).bulk(sample_report()["bulkId"])
                if found is None or found["messages"] != n:
                    raise RuntimeError(f"the status handler folded {found} of {n} messages into {kind}")
                # The 10,000 reports/s bar is PostgreSQL's; SQLite is the laptop's store.
                self.rows.append(self._status_row(f"{kind}, one transaction a batch", n, seconds, kind != "SQLite"))
                if footprint is not None:
                    self.rows.append(
                        Row(
                            f"status in {kind}: bytes a message",
                            f"{footprint() / n:,.0f} B",
                            "tables + indexes",
                            "",
                            "",
                        )
                    )

    @staticmethod
    def _status_row(store_kind: str, n: int, seconds: float, target: bool = True) -> Row:
        rate = n / seconds
        return Row(
            f"dispatch, one worker, the status handler ({store_kind}), pushed 100/request",
            f"{rate:,.0f} reports/s",
            f"{n:,} reports pre-filled through ingest, each a new message",
            ">= 10,000 reports/s" if target else "",
            ("met" if rate >= 10_000 else "not met") if target else "",
        )

    # --- end to end: paced pushes through the web, a worker, a handler recording the time ------

    def latency(self, rate: int = 1000) -> None:
        """Push *rate* reports/s (--latency-batch a request) for --duration s; the worker's `record`
        handler stores when it got each report. Latency: handler call minus the 200's arrival."""
        per_request = self.latency_batch
        from bench import handlers

        port, web = self.web()
        env = {**self.env, "DLRHOOK_HANDLERS": "bench.handlers:record"}
        worker = [str(Path(sys.executable).with_name("dlrhook")), "worker"]
        self.flush()
        with web() as web_proc, process(worker, env) as worker_proc:
            while not self.conn.scard("rq:workers"):
                if worker_proc.poll() is not None:
                    raise RuntimeError("the worker did not come up")
                time.sleep(0.05)
            paced(port, rate / per_request / 10, 2, per_request, "warm")  # warm up, not counted
            answered = paced(port, rate / per_request, self.duration, per_request, "lat")
            web_rss = rss_kib(web_proc.pid) + sum(rss_kib(c) for c in children(web_proc.pid))
            worker_rss = rss_kib(worker_proc.pid)
            deadline = time.monotonic() + 60
            while self.conn.hlen(handlers.TIMES_KEY) < len(answered) + (rate // 10) * 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("not every pushed report reached the handler within 60 s")
                time.sleep(0.05)
        raw_times = self.conn.hgetall(handlers.TIMES_KEY)
        handled = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw_times.items()}
        waits = sorted((handled[mid] - at) * 1000 for mid, at in answered.items())
        p50, p99 = percentile(waits, 50), percentile(waits, 99)
        sent_rate = len(answered) / self.duration
        self.rows += [
            Row(
                f"end to end at {rate:,} reports/s ({per_request}/request): 200 answer -> handler call",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                f"{len(answered):,} reports, {sent_rate:,.0f}/s sent",
                "p50 <= 20 ms, p99 <= 100 ms",
                "met" if p50 <= 20 and p99 <= 100 else "not met",
            ),
            Row("memory: web RSS at 1,000 reports/s", f"{web_rss / 1024:,.0f} MiB", "", "", ""),
            Row("memory: worker RSS at 1,000 reports/s", f"{worker_rss / 1024:,.0f} MiB", "", "", ""),
        ]

    def settings(self) -> Settings:
        from dlrhook.settings import load_settings

        os.environ["REDIS_URL"] = self.redis_url
        return load_settings()

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
    parser.add_argument(
        "--latency-batch", type=int, default=10, help="reports per push in the 1,000 reports/s latency run"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (Debian: apt-get install wrk; `make bench` does it)")
    parts = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-") as data, EmbeddedRedis(data) as server:
        bench = Bench(args.duration, server.url)
        bench.latency_batch = args.latency_batch
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        for part in parts:
            getattr(bench, part)()
        print(f"\nmachine: {machine()}")
        print(
            f"load average (1 min) before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}; "
            f"took {time.monotonic() - started:.0f} s"
        )
        print(f"command: python -m bench.run {' '.join(sys.argv[1:])}\n")
        print(bench.table())


if __name__ == "__main__":
    main()
