"""A real PostgreSQL server for the tests and the benchmarks, started with nothing but Python.

The binaries come from the ``pgserver`` wheel (PostgreSQL 16, in the ``test`` extra); this
runs ``initdb`` and ``pg_ctl`` from them directly, on 127.0.0.1 and a free port, so that a test
can stop the server and start it again (``pgserver``'s own wrapper listens on a socket only).
PostgreSQL refuses to run as root, and CI runs as root: then the server runs as ``nobody``,
its data folder owned by that user.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from dlrhook.dev.embedded import free_port


def binaries() -> Path:
    """The folder of the PostgreSQL programs the ``pgserver`` wheel ships (found without importing
    pgserver, whose import sets up a runtime folder of its own)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver package is not installed (it is in dlrhook's test extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _usable_by(folder: Path, user: dict[str, Any]) -> bool:
    try:
        done = subprocess.run([str(folder / "pg_ctl"), "--version"], capture_output=True, timeout=30, **user)
    except OSError:
        return False
    return done.returncode == 0


def binaries_for(user: dict[str, Any]) -> Path:
    """:func:`binaries`, or, when *user* cannot reach them (a checkout under a folder only root
    may enter, such as /root), a copy of the installation in the temporary folder that it can."""
    found = binaries()
    if not user or _usable_by(found, user):
        return found
    tag = hashlib.sha256(str(found).encode()).hexdigest()[:12]
    copy = Path(tempfile.gettempdir()) / f"dlrhook-pginstall-{tag}"
    # The same layout: the programs find their libraries at $ORIGIN/../../../pgserver.libs.
    install = copy / "pgserver" / "pginstall"
    if not _usable_by(install / "bin", user):
        for part in ("bin", "lib", "share"):
            shutil.copytree(found.parent / part, install / part, dirs_exist_ok=True, symlinks=True)
        libs = found.parent.parent.parent / "pgserver.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / "pgserver.libs", dirs_exist_ok=True, symlinks=True)
        for path in (copy, *copy.rglob("*")):
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o055 if path.is_dir() else path.stat().st_mode | 0o044)
    return install / "bin"


class Postgres:
    """One server: ``start()``, ``url``, ``stop()``, ``start()`` again on the same data."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dlrhook-test-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.fsync = fsync
        self.user: dict[str, Any] = {}
        if os.geteuid() == 0:
            self.user = {"user": "nobody", "group": "nogroup" if _group_exists("nogroup") else "nobody"}
            shutil.chown(self.folder, self.user["user"], self.user["group"])
        self.folder.chmod(0o700)
        self.bin = binaries_for(self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")

    @property
    def url(self) -> str:
        """``postgresql://`` URL of its ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, text=True, timeout=timeout, **self.user
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}{self._log()}")

    def _log(self) -> str:
        log = self.folder / "log"
        return "\n" + log.read_text()[-2000:] if log.exists() else ""

    def start(self) -> Postgres:
        """Start the server and wait until it takes connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync={'on' if self.fsync else 'off'}"
        self._run(
            "pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.folder / "log"), "-o", options, "start"
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: connections are closed; ``immediate``: as if it crashed)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def running(self) -> bool:
        """True while the server's postmaster runs."""
        done = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True, **self.user
        )
        return done.returncode == 0

    def destroy(self) -> None:
        """Stop it if it runs, and delete its data."""
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
