"""Sending: the target URL, and threads each POSTing batches on one keep-alive connection."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from dlrhook.dev.simulate.summary import Summary
from dlrhook.errors import SimulateError


@dataclass
class Target:
    """Where to POST: connection details and the headers every request carries."""

    scheme: str
    host: str
    port: int
    path: str
    headers: dict[str, str]
    timeout: float

    @classmethod
    def from_options(
        cls, url: str, *, token: str | None, basic: str | None, content_type: str, timeout: float
    ) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulateError(f"--url must be an http(s):// URL, not {url!r}")
        query = parts.query
        if token:
            query = f"{query}&{urlencode({'token': token})}" if query else urlencode({"token": token})
        path = (parts.path or "/") + (f"?{query}" if query else "")
        headers = {"Content-Type": content_type, "Accept": "application/json", "User-Agent": "dlrhook-simulate"}
        if basic:
            if ":" not in basic:
                raise SimulateError("--basic must be user:password")
            headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, path, headers, timeout)

    @property
    def display(self) -> str:
        """The URL without its query string (which may hold the token)."""
        return f"{self.scheme}://{self.host}:{self.port}{self.path.split('?', 1)[0]}"

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)


# A kept-alive connection the server already closed fails at once on reuse; resending is safe
# (the receiver deduplicates) and is what every HTTP client library does.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest)


class _Sender(threading.Thread):
    def __init__(self, run: _Run) -> None:
        super().__init__(daemon=True)
        self.run_state = run
        self.conn: http.client.HTTPConnection | None = None

    def _post(self, body: bytes) -> tuple[int, bytes]:
        target = self.run_state.target
        for attempt in (1, 2):
            fresh = self.conn is None
            conn = self.conn = self.conn or target.connect()
            try:
                conn.request("POST", target.path, body=body, headers=target.headers)
                response = conn.getresponse()
                data = response.read()
            except _STALE:
                conn.close()
                self.conn = None
                if fresh or attempt == 2:
                    raise
                continue
            except BaseException:
                conn.close()
                self.conn = None
                raise
            if response.will_close:
                conn.close()
                self.conn = None
            return response.status, data
        raise AssertionError("unreachable")

    def run(self) -> None:
        state = self.run_state
        for due, body in state.jobs():
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                status, data = self._post(body)
            except Exception as exc:  # any failure is one failed request, reported in the summary
                state.record(None, b"", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
                continue
            failure = None if status == 200 else f"HTTP {status}: {data[:200].decode(errors='replace')}"
            state.record(status, data, time.perf_counter() - started, failure)
        if self.conn is not None:
            self.conn.close()


class _Run:
    def __init__(self, target: Target, bodies: list[tuple[int, bytes]], rate: float, summary: Summary) -> None:
        self.target = target
        self.bodies = bodies
        self.rate = rate
        self.summary = summary
        self.lock = threading.Lock()
        self.next = 0
        self.sent_reports = 0
        self.t0 = 0.0

    def jobs(self) -> Iterator[tuple[float, bytes]]:
        """Hand out batches in order, each with the time it is due (from ``--rate``)."""
        while True:
            with self.lock:
                if self.next >= len(self.bodies):
                    return
                n_reports, body = self.bodies[self.next]
                self.next += 1
                due = self.t0 + self.sent_reports / self.rate if self.rate > 0 else 0.0
                self.sent_reports += n_reports
            yield due, body

    def record(self, status: int | None, data: bytes, latency: float, failure: str | None) -> None:
        answer: dict[str, Any] = {}
        if status == 200:
            try:
                answer = json.loads(data)
            except ValueError:
                failure = "HTTP 200 with a body that is not JSON"
        with self.lock:
            s = self.summary
            s.requests += 1
            s.statuses[str(status) if status is not None else "error"] += 1
            s.latencies.append(latency)
            if failure:
                s.failures.append(failure)
            if isinstance(answer, dict):
                s.accepted += int(answer.get("accepted", 0))
                s.duplicates += int(answer.get("duplicates", 0))
                s.quarantined += int(answer.get("quarantined", 0))


def send(target: Target, bodies: list[tuple[int, bytes]], *, rate: float, concurrency: int, summary: Summary) -> None:
    """POST every body of *bodies* (each with its number of reports) to *target* from up to
    *concurrency* threads, *rate* reports a second (0: unpaced), counting into *summary*.

    Every failure is one failed request in *summary*; nothing is raised.
    """
    run = _Run(target, bodies, rate, summary)
    threads = [_Sender(run) for _ in range(min(concurrency, max(len(bodies), 1)))]
    run.t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary.elapsed = time.perf_counter() - run.t0
