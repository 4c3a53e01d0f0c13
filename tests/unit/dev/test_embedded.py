"""The embedded server is its owner's only (password kept 0600, folder 0700, files under umask
077, the password never on its command line) and has a maxmemory, so the high-water 503 engages."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.dev.embedded import MAXMEMORY, EmbeddedRedis


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_server_asks_for_its_generated_password_and_keeps_its_files_private(tmp_path: Path) -> None:
    data = tmp_path / ".dlrhook" / "redis"
    data.mkdir(parents=True)
    (data.parent).chmod(0o755)
    old_aof = data / "appendonlydir"
    old_aof.mkdir()
    (old_aof / "left.aof").write_text("")
    (old_aof / "left.aof").chmod(0o644)  # as 0.2 left it

    with EmbeddedRedis(data, appendonly=True) as server:
        password = (data / "password").read_text().strip()
        assert len(password) >= 32 and password in server.url and password not in server.masked_url
        with pytest.raises(redis_lib.AuthenticationError):
            redis_lib.Redis(port=server.port).ping()
        conn = redis_lib.Redis.from_url(server.url)
        conn.set("k", "v")
        assert conn.config_get("maxmemory")["maxmemory"] == str(512 * 1024 * 1024)
        assert MAXMEMORY == "512mb"
        assert conn.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert server.process is not None
        assert password.encode() not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        conn.close()

    assert mode(data) == 0o700 and mode(data.parent) == 0o700
    assert mode(data / "password") == 0o600
    files = [p for p in data.rglob("*") if p.is_file()]
    assert all(mode(p) & 0o077 == 0 for p in files), {p.name: oct(mode(p)) for p in files}

    again = EmbeddedRedis(data)  # the same folder: the same password
    assert again.password == password
