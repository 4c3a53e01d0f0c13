"""Hostile clients against a real ``dlrhook web``: hundreds of slow or half-open sockets, and
a legitimate push timed while they are open.

The attack, all from one asyncio loop on loopback:

- ``half_open``: sends a request line and one header of ``POST /notify?token=...``, then nothing;
- ``silent``: connects and sends nothing at all;
- ``trickle``: sends a whole header (valid token, ``Content-Length: 100000``), then its body one
  byte a second;
- ``anon_trickle``: the same without credentials;
- ``idle``: one ``GET /healthz`` answered on a keep-alive connection, then nothing.

While they are open, one legitimate push (one report, a new messageId each time) is sent every
half second on a fresh connection and timed to its answer. Each hostile socket records when the
server cut it off and the status line it was sent, if any.

    python -m bench.hostile [--half-open 200 --silent 100 --trickle 300 --anon-trickle 100 --idle 100]
        [--worker-class gthread]   # the 0.2 baseline: gunicorn gthread, 4 threads

The system test (tests/system/test_hostile_web.py) runs the same attack with fewer sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dlrhook.dev.embedded import EmbeddedRedis, free_port

TOKEN = "bench-hostile-token"  # noqa: S105  (the test service's own)
KINDS = ("half_open", "silent", "trickle", "anon_trickle", "idle")


@dataclass
class Socket:
    """One hostile connection: what it is, when it opened, when and how the server ended it."""

    kind: str
    opened: float = 0.0
    closed: float | None = None
    status: int | None = None
    answered: float | None = None
    error: str | None = None

    @property
    def held(self) -> float | None:
        """Seconds from connecting to the server closing the connection (None: still open)."""
        return None if self.closed is None else self.closed - self.opened


@dataclass
class Outcome:
    """What one attack measured."""

    sockets: list[Socket]
    push_seconds: list[float] = field(default_factory=list)
    push_statuses: list[int] = field(default_factory=list)
    attack_seconds: float = 0.0

    def of(self, kind: str) -> list[Socket]:
        return [s for s in self.sockets if s.kind == kind]

    def open_count(self) -> int:
        return sum(1 for s in self.sockets if s.closed is None)

    def longest(self, kind: str) -> float | None:
        held = [s.held for s in self.of(kind)]
        return None if not held or None in held else max(h for h in held if h is not None)

    def statuses(self, kind: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.of(kind):
            key = str(s.status) if s.status is not None else ("open" if s.closed is None else "closed, no answer")
            counts[key] = counts.get(key, 0) + 1
        return counts


def report_body() -> bytes:
    """One valid v1 delivery report with a new messageId."""
    report = {
        "messageId": f"hostile-{uuid.uuid4().hex}",
        "to": "41793026727",
        "sentAt": "2026-12-01T10:00:00.000+0000",
        "doneAt": "2026-12-01T10:00:05.000+0000",
        "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
    }
    return json.dumps({"results": [report]}).encode()


async def _watch(sock: Socket, reader: asyncio.StreamReader) -> None:
    """Read until the server closes; note the status line of an answer, if one comes."""
    head = b""
    try:
        while chunk := await reader.read(4096):
            head += chunk
            if sock.status is None and b"\r\n" in head:
                parts = head.split(b" ", 2)
                if len(parts) > 1 and parts[1].isdigit():
                    sock.status, sock.answered = int(parts[1]), time.monotonic()
    except OSError as exc:  # a reset is a cut too
        sock.error = type(exc).__name__
    sock.closed = time.monotonic()


async def _hostile(sock: Socket, port: int, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        sock.error, sock.closed = type(exc).__name__, time.monotonic()
        return
    sock.opened = time.monotonic()
    watcher = asyncio.create_task(_watch(sock, reader))
    try:
        if sock.kind == "half_open":
            writer.write(f"POST /notify?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        elif sock.kind == "idle":
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        elif sock.kind in ("trickle", "anon_trickle"):
            query = f"?token={TOKEN}" if sock.kind == "trickle" else ""
            writer.write(
                f"POST /notify{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n".encode()
            )
        await writer.drain()
        while sock.kind.endswith("trickle") and not watcher.done() and not stop.is_set():
            await asyncio.sleep(1)
            writer.write(b" ")
            await writer.drain()
        await asyncio.wait([watcher, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    except OSError as exc:
        sock.error = sock.error or type(exc).__name__
        sock.closed = sock.closed or time.monotonic()
    finally:
        writer.close()
        watcher.cancel()


def _push(port: int) -> tuple[int, float]:
    started = time.monotonic()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/notify",
        data=report_body(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  (loopback)
            status = answer.status
    except OSError:
        status = 0
    return status, time.monotonic() - started


async def attack(port: int, counts: dict[str, int], *, settle: float = 2.0, pushes: float = 8.0) -> Outcome:
    """Open the hostile sockets, push every 0.5 s for *pushes* seconds after *settle*, then wait
    (at most 60 s) until the server has cut every hostile socket off."""
    sockets = [Socket(kind) for kind in KINDS for _ in range(counts.get(kind, 0))]
    outcome = Outcome(sockets)
    stop = asyncio.Event()
    started = time.monotonic()
    tasks = [asyncio.create_task(_hostile(s, port, stop)) for s in sockets]
    await asyncio.sleep(settle)
    loop = asyncio.get_running_loop()
    end = time.monotonic() + pushes
    while time.monotonic() < end:
        status, seconds = await loop.run_in_executor(None, _push, port)
        outcome.push_statuses.append(status)
        outcome.push_seconds.append(seconds)
        await asyncio.sleep(max(0.0, 0.5 - seconds))
    deadline = time.monotonic() + 60
    while outcome.open_count() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    outcome.attack_seconds = time.monotonic() - started
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return outcome


@contextmanager
def web(redis_url: str, port: int, extra: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``dlrhook web`` on *port*, answering /healthz."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_", "PROMETHEUS_"))}
    env.update(REDIS_URL=redis_url, PORT=str(port), DLRHOOK_TOKEN=TOKEN, DLRHOOK_LOG_LEVEL="WARNING", **extra)
    dlrhook = str(Path(sys.executable).with_name("dlrhook"))
    with tempfile.TemporaryDirectory(prefix="dlrhook-hostile-") as metrics:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics
        process = subprocess.Popen([dlrhook, "web"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def summary(outcome: Outcome) -> list[str]:
    """The figures as text lines."""
    answered = [s for s, code in zip(outcome.push_seconds, outcome.push_statuses, strict=True) if code == 200]
    lines = [
        f"legitimate pushes: {len(answered)} of {len(outcome.push_seconds)} answered 200, "
        f"slowest {max(outcome.push_seconds, default=0):.3f} s",
    ]
    for kind in KINDS:
        if outcome.of(kind):
            longest = outcome.longest(kind)
            held = "still open after 60 s" if longest is None else f"all cut off within {longest:.1f} s"
            waits = [s.answered - s.opened for s in outcome.of(kind) if s.answered is not None]
            after = f" after {min(waits):.1f} to {max(waits):.1f} s" if waits else ""
            lines.append(f"{kind} x{len(outcome.of(kind))}: {held}; answers {outcome.statuses(kind)}{after}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for kind, default in zip(KINDS, (200, 100, 300, 100, 100), strict=True):
        parser.add_argument(f"--{kind.replace('_', '-')}", type=int, default=default)
    parser.add_argument("--worker-class", default="", help="override gunicorn's worker class (gthread: 0.2)")
    args = parser.parse_args()
    counts = {kind: getattr(args, kind) for kind in KINDS}
    extra = {}
    if args.worker_class:
        extra["GUNICORN_CMD_ARGS"] = f"--worker-class {args.worker_class} --threads 4"
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-") as data, EmbeddedRedis(data) as server:
        port = free_port()
        with web(server.url, port, extra):
            outcome = asyncio.run(attack(port, counts))
    print(f"command: python -m bench.hostile {' '.join(sys.argv[1:])}")
    print("\n".join(summary(outcome)))


if __name__ == "__main__":
    main()
