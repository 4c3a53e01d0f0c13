"""Redis-protocol servers a test starts for itself: Valkey (the embedded binary, with WAITAOF)
or Debian's redis-server 7.0 (without), as a primary or a replica, each with its own folder."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.dev.embedded import answers, free_port, server_binary

KINDS = ("valkey", "redis")


def binary(kind: str) -> str:
    """The server binary of *kind*; skips the test when Debian's redis-server is not installed
    (``make test`` installs it)."""
    if kind == "valkey":
        return server_binary()
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server (Debian's, 7.0) is not installed: `make test` installs it")
    return found


class Server:
    """One server process on 127.0.0.1 with its data in *data_dir* (AOF ``everysec`` when
    *appendonly*); the same folder and port again after :meth:`kill` with :meth:`start`."""

    def __init__(self, kind: str, data_dir: Path, *, appendonly: bool = True) -> None:
        self.kind = kind
        self.binary = binary(kind)
        self.data_dir = data_dir
        self.port = free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.port, socket_timeout=10)

    def start(self, replica_of: Server | None = None) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--repl-diskless-sync-delay", "0",
            "--enable-debug-command", "local",  # DEBUG SLEEP: a replica that stops reading
            "--logfile", str(self.data_dir / "server.log"),
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of.port)]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not answers(self.url):
            assert self.process.poll() is None, (self.data_dir / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"{self.kind} did not answer on {self.port}"
            time.sleep(0.05)
        if replica_of is not None:
            replica_of.wait_replicas(1)
        return self

    def wait_replicas(self, count: int, timeout: float = 15) -> None:
        """Until *count* replicas are online (synced) on this server."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.client().info("replication")
            online = sum(1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online")
            if online >= count:
                return
            assert time.monotonic() < deadline, f"{count} replicas not online: {info}"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last AOF flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """The end of the test: SIGKILL too (a replica refuses SIGTERM while it writes its first
        AOF, for as long as that takes)."""
        if self.process is not None and self.process.poll() is None:
            self.kill()
