"""A fake Infobip reports API: a real HTTP server on 127.0.0.1, consume-once like the real one.

    with FakeInfobip(api_key="k", max_limit=1000) as fake:
        fake.add_reports(make_reports(2500))
        fake.inject(Answer(status=429, retry_after="1"), Answer(status=500))
        ... point INFOBIP_BASE_URL at fake.url ...
        fake.assert_well_behaved()

Each report is returned by exactly one request (``bulkId``/``messageId`` filter, ``limit``
honoured, 50 by default as Infobip does). It serves one reports path or several
(``paths=[...]``), each with its own reports (``add_reports(..., path=...)``); another path is
404. A wrong ``Authorization`` gets 401. A ``limit`` above
``max_limit`` is recorded as a violation (and answered 400): :meth:`FakeInfobip.assert_well_behaved`
fails the test on any violation or any two requests to one path in flight at once (requests
to different paths may overlap: each path has its own poller lock). Injected answers
(429 with or without Retry-After, 500, slow answers, garbage bodies) apply to the next
requests in order. Every request is logged with its start and end (``time.monotonic``).

It also serves Infobip's message logs, ``GET /sms/3/logs?messageId=..&messageId=..`` (not
consume-once): :meth:`FakeInfobip.add_logs` sets each message's log entry (v3 names:
``sender``, ``destination``, ``messageCount``, ``content``); injected answers apply to it too.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPORTS_PATH = "/sms/1/reports"
LOGS_PATH = "/sms/3/logs"
DEFAULT_LIMIT = 50  # Infobip's default when no limit is sent


@dataclass
class Answer:
    """An injected answer for one request: a status (with Retry-After), a delay, or a body.

    ``status=200`` with ``body=None`` and a ``delay`` is a slow but otherwise normal answer.
    A non-200 status or a ``body`` consumes no reports.
    """

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    body: bytes | None = None
    #: Hostile answers: extra headers (``Content-Encoding: gzip`` for a bomb), a body of *size*
    #: bytes of spaces streamed without being built, or the whole answer (status line, headers,
    #: body) sent one byte every *trickle* seconds.
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    trickle: float = 0.0


@dataclass
class Request:
    """One request as the fake saw it."""

    start: float
    end: float = 0.0
    path: str = ""
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)  # every value of repeated parameters
    authorized: bool = False
    accept: str | None = None
    status: int = 0
    returned: int = 0  # reports in the answer
    size: int = 0  # a hostile answer's streamed body size
    trickle: float = 0.0  # a hostile answer's seconds per byte
    sent: int = 0  # bytes of the answer sent (hostile answers)

    @property
    def limit(self) -> int | None:
        return int(self.params["limit"]) if "limit" in self.params else None


def make_report(n: int, *, bulk_id: str = "BULK-0001", status: str = "delivered") -> dict[str, Any]:
    """A realistic v1 report (as in tests/samples/v1-two-delivered.json), unique by *n*."""
    delivered = status == "delivered"
    return {
        "bulkId": bulk_id,
        "messageId": f"msg-{n:06d}-{uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex[:12]}",
        "to": f"4179{3000000 + n:07d}",
        "sentAt": "2026-11-28T04:51:43.123+0100",
        "doneAt": "2026-11-28T04:51:45.127+0100",
        "smsCount": 1,
        "mccMnc": "22801",
        "price": {"pricePerMessage": 0.01, "currency": "EUR"},
        "callbackData": f"order-{n}",
        "status": {
            "groupId": 3 if delivered else 2,
            "groupName": "DELIVERED" if delivered else "UNDELIVERABLE",
            "id": 5 if delivered else 9,
            "name": "DELIVERED_TO_HANDSET" if delivered else "UNDELIVERABLE_NOT_DELIVERED",
            "description": "Message delivered to handset" if delivered else "Message sent not delivered",
        },
        "error": {
            "groupId": 0,
            "groupName": "Ok",
            "id": 0,
            "name": "NO_ERROR",
            "description": "No Error",
            "permanent": False,
        },
    }


def make_reports(count: int, *, start: int = 0, bulk_id: str = "BULK-0001") -> list[dict[str, Any]]:
    """*count* distinct reports numbered from *start*."""
    return [make_report(n, bulk_id=bulk_id) for n in range(start, start + count)]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up on a hostile answer (the byte cap, the deadline)
        super().handle_error(request, client_address)


class FakeInfobip:
    """The fake server; see the module docstring. Thread-safe; start with ``with`` or :meth:`start`."""

    def __init__(
        self,
        *,
        api_key: str | None = "test-api-key",
        username: str | None = None,
        password: str | None = None,
        max_limit: int = 1000,
        path: str = REPORTS_PATH,
        paths: Iterable[str] = (),
        delay: float = 0.0,
    ) -> None:
        if api_key:
            self.expected_auth = f"App {api_key}"
        else:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.expected_auth = f"Basic {token}"
        self.max_limit = max_limit
        self.paths = tuple(paths) or (path,)
        self.path = self.paths[0]
        self.delay = delay  # added to every answer
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight = 0  # most requests to one path in flight at once
        self._reports: dict[str, list[dict[str, Any]]] = {p: [] for p in self.paths}
        self._logs: dict[str, dict[str, Any]] = {}
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-infobip", daemon=True)

    @property
    def url(self) -> str:
        """The base URL to use as INFOBIP_BASE_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeInfobip:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeInfobip:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -------------------------------------------------------------------------

    def add_reports(self, reports: Iterable[dict[str, Any]], path: str | None = None) -> None:
        """Queue reports to be returned from *path* (default: the first), each exactly once, in order."""
        with self._lock:
            self._reports[path or self.path].extend(reports)

    def add_logs(self, entries: Iterable[dict[str, Any]]) -> None:
        """Set the log entry of each entry's message (kept: logs can be read again)."""
        with self._lock:
            for entry in entries:
                self._logs[entry["messageId"]] = entry

    def inject(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; then behave normally again."""
        with self._lock:
            self._answers.extend(answers)

    @property
    def remaining(self) -> int:
        """Reports not yet returned, from every path."""
        with self._lock:
            return sum(map(len, self._reports.values()))

    def log(self) -> list[Request]:
        """A copy of the request log (finished requests only), in start order."""
        with self._lock:
            return sorted((r for r in self.requests if r.end), key=lambda r: r.start)

    def overlaps(self) -> list[tuple[Request, Request]]:
        """Pairs of requests to one path that were in flight at the same time."""
        out = []
        for path in {r.path for r in self.log()}:
            log = [r for r in self.log() if r.path == path]
            out.extend((a, b) for a, b in itertools.pairwise(log) if b.start < a.end)
        return out

    def assert_well_behaved(self) -> None:
        """Fail unless every limit was within max_limit and no two requests overlapped."""
        assert self.violations == [], self.violations
        assert self.max_in_flight <= 1, f"{self.max_in_flight} requests in flight at once"
        assert self.overlaps() == []

    # -- the server ----------------------------------------------------------------------------

    def _answer(self, request: Request, authorization: str | None) -> tuple[int, dict[str, str], bytes, float]:
        with self._lock:
            request.authorized = authorization == self.expected_auth
            if not request.authorized:
                body = {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login"}}}
                return 401, {}, json.dumps(body).encode(), self.delay
            if request.path == LOGS_PATH:
                return self._logs_answer(request)
            if request.path not in self._reports:
                return 404, {}, b'{"requestError":{"serviceException":{"messageId":"NOT_FOUND"}}}', self.delay
            limit = request.limit if request.limit is not None else DEFAULT_LIMIT
            if not 1 <= limit <= self.max_limit:
                self.violations.append(f"limit={limit} exceeds the configured maximum {self.max_limit}")
                return 400, {}, b'{"requestError":{"serviceException":{"messageId":"BAD_REQUEST"}}}', self.delay
            answer = self._answers.pop(0) if self._answers else Answer()
            delay = self.delay + answer.delay
            if answer.status != 200:
                headers = {"Retry-After": answer.retry_after} if answer.retry_after is not None else {}
                return answer.status, headers, b'{"requestError":{}}', delay
            request.size, request.trickle = answer.size, answer.trickle
            if answer.body is not None or answer.size:
                return 200, answer.headers, answer.body or b"", delay
            bulk_id, message_id = request.params.get("bulkId"), request.params.get("messageId")
            picked, kept = [], []
            for report in self._reports[request.path]:
                matches = (not bulk_id or report.get("bulkId") == bulk_id) and (
                    not message_id or report.get("messageId") == message_id
                )
                (picked if matches and len(picked) < limit else kept).append(report)
            # Consume-once: what this answer carries is gone from the server.
            self._reports[request.path] = kept
            request.returned = len(picked)
            return 200, {}, json.dumps({"results": picked}).encode(), delay

    def _logs_answer(self, request: Request) -> tuple[int, dict[str, str], bytes, float]:
        """A logs request (the lock is held): the entries of the messages asked about."""
        limit = request.limit if request.limit is not None else DEFAULT_LIMIT
        if not 1 <= limit <= 1000:
            self.violations.append(f"logs limit={limit} is outside 1..1000")
            return 400, {}, b'{"requestError":{"serviceException":{"messageId":"BAD_REQUEST"}}}', self.delay
        answer = self._answers.pop(0) if self._answers else Answer()
        delay = self.delay + answer.delay
        if answer.status != 200:
            headers = {"Retry-After": answer.retry_after} if answer.retry_after is not None else {}
            return answer.status, headers, b'{"requestError":{}}', delay
        if answer.body is not None:
            return 200, {}, answer.body, delay
        wanted = request.query.get("messageId", [])
        picked = [self._logs[m] for m in wanted if m in self._logs][:limit]
        request.returned = len(picked)
        return 200, {}, json.dumps({"results": picked}).encode(), delay

    def _finish(self, request: Request) -> None:
        with self._lock:
            if not request.end:
                self.in_flight[request.path] -= 1
                request.end = time.monotonic()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # http.server names it so
                split = urlsplit(self.path)
                request = Request(start=time.monotonic(), path=split.path)
                with fake._lock:
                    fake.in_flight[request.path] = fake.in_flight.get(request.path, 0) + 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight[request.path])
                    fake.requests.append(request)
                try:
                    request.query = parse_qs(split.query)
                    request.params = {k: v[-1] for k, v in request.query.items()}
                    request.accept = self.headers.get("Accept")
                    status, headers, body, delay = fake._answer(request, self.headers.get("Authorization"))
                    if delay:
                        time.sleep(delay)
                    request.status = status
                    # The request ends when the answer is committed, before its bytes go out:
                    # the client cannot start its next request earlier than that, so any
                    # recorded overlap is a real one.
                    fake._finish(request)
                    if request.trickle:
                        self._trickle(request, status, headers, body)
                        return
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(request.size or len(body)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if request.size:
                        self._stream(request)
                        return
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up on a hostile answer
                finally:
                    fake._finish(request)

            def _stream(self, request: Request) -> None:
                chunk = b" " * 65536
                while request.sent < request.size:
                    part = chunk[: request.size - request.sent]
                    self.wfile.write(part)
                    request.sent += len(part)
                self.wfile.flush()

            def _trickle(self, request: Request, status: int, headers: dict[str, str], body: bytes) -> None:
                head = f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(body)}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
                self.close_connection = True
                for byte in head.encode() + body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    request.sent += 1
                    time.sleep(request.trickle)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the request log is the record

        return Handler


def make_log_entry(report: dict[str, Any]) -> dict[str, Any]:
    """The v3 message log entry Infobip keeps for the message of a v1 *report*: ``sender``,
    ``destination``, ``messageCount``, ``platform{}`` and the message's ``content``."""
    entry = {
        "sender": report.get("from", "InfoSMS"),
        "destination": report["to"],
        "bulkId": report.get("bulkId"),
        "messageId": report["messageId"],
        "sentAt": report.get("sentAt"),
        "doneAt": report.get("doneAt"),
        "messageCount": report.get("smsCount", 1),
        "price": report.get("price"),
        "status": report["status"],
        "error": report.get("error"),
        "platform": {"entityId": "e", "applicationId": "a"},
        "content": {"text": "Your code is 1234"},
    }
    return {k: v for k, v in entry.items() if v is not None}
