"""The Procfile's three processes, as honcho (and Heroku) run them, its release phase, and the
README's run command."""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis

from dlrhook.dev.embedded import answers as redis_answers
from dlrhook.dev.embedded import free_port
from tests.support import ROOT, sample, wait_until


def post(url: str, body: bytes) -> dict[str, int]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> str:
    """Ctrl-C as a terminal sends it (to the whole process group); return what it printed."""
    os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    return out.decode(errors="replace")


def handled(conn: redis.Redis) -> list[str]:
    return [json.loads(c)["message_id"].strip("'") for c in conn.lrange("test:calls:test-record", 0, -1)]


def test_the_procfile_under_honcho_handles_a_posted_batch(process_env: dict[str, str], conn: redis.Redis) -> None:
    port = free_port()
    env = {**process_env, "PORT": str(port), "DLRHOOK_HANDLERS": "test-record", "DLRHOOK_TOKEN": "tok"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    honcho = subprocess.Popen(
        # The three processes; the release phase is Heroku's, run once before them (below).
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT), *PROCESSES],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "the web process")

        answer = post(f"http://127.0.0.1:{port}/notify?token=tok", sample("v1-two-delivered.json"))

        assert answer == {"accepted": 2, "duplicates": 0, "quarantined": 0}
        wait_until(lambda: len(handled(conn)) == 2, 30, "the worker to hand both reports to the handler")
        assert sorted(handled(conn)) == ["12db39c3-7822-4e72-a3ec-c87442c0ffc5", "bcfb828b-7df9-4e7b-8715-f34f5c61271a"]
    finally:
        out = stop(honcho)
    assert all(f"{name}.1 started" in out for name in ("web", "worker", "poller"))
    assert "Traceback" not in out


PROCESSES = ("web", "worker", "poller")


def procfile() -> dict[str, str]:
    from honcho.environ import parse_procfile

    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def test_the_procfile_has_the_three_processes_and_the_schema_upgrade_as_its_release_phase() -> None:
    assert set(procfile()) == {"release", *PROCESSES}
    assert procfile()["release"] == "dlrhook db upgrade"


@pytest.mark.parametrize("store", ["redis", "sqlite"])
def test_the_release_phase_succeeds_with_status_in_redis_and_upgrades_a_status_database(
    process_env: dict[str, str], tmp_path: Path, store: str
) -> None:
    url = "redis" if store == "redis" else f"sqlite:///{tmp_path / 'status.db'}"
    env = {**process_env, "DLRHOOK_STATUS_STORE": url}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]

    command = shlex.split(procfile()["release"])
    runs = [subprocess.run(command, env=env, capture_output=True, text=True, timeout=120) for _ in range(2)]

    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    if store == "redis":
        assert "DLRHOOK_STATUS_STORE is redis" in runs[0].stdout
        assert not (tmp_path / "status.db").exists()
    else:
        assert "upgraded the status database (sqlite) from empty to revision 0001" in runs[0].stdout
        assert "nothing to do" in runs[1].stdout  # every deploy runs it again: harmless


def test_the_run_command_starts_everything_on_the_embedded_redis_and_ctrl_c_stops_it_all(
    process_env: dict[str, str], tmp_path: Path
) -> None:
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in process_env.items() if k != "REDIS_URL"}
    env.update(PORT=str(port), DLRHOOK_HANDLERS="test-record", DLRHOOK_TOKEN="local-secret-token")
    local = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlrhook.cli",
            "local",
            "--procfile",
            str(ROOT / "Procfile"),
            "--data-dir",
            str(tmp_path / "redis"),
            "--redis-port",
            str(redis_port),
            "--console-password-dir",
            str(tmp_path / "console"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    data = tmp_path / "redis"
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "the web process")
        password = (data / "password").read_text().strip()
        conn = redis.Redis(port=redis_port, password=password)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=redis_port).ping()  # nobody else on the machine gets in
        post(f"http://127.0.0.1:{port}/notify?token=local-secret-token", sample("v1-one-delivered.json"))
        wait_until(lambda: len(handled(conn)) == 1, 30, "the report to be handled")
        console = urllib.request.urlopen(f"http://127.0.0.1:{port}/console/", timeout=10)  # follows to the login
        assert console.status == 200 and "/console/login" in console.url and "password" in console.read().decode()
    finally:
        out = stop(local)

    assert f"http://127.0.0.1:{port}" in out and "/notify" in out  # the URL to register is printed
    assert f"Listening at: http://127.0.0.1:{port}" in out  # this machine only, as the banner says
    assert "local-secret-token" not in out and "lo****" in out  # the token shown masked
    console_password = (tmp_path / "console" / "password").read_text().strip()
    assert f"console:  http://127.0.0.1:{port}/console/" in out and "simulate" in out and "dlrhook plugin new" in out
    assert console_password not in out  # the banner names the file, never the password
    assert stat.S_IMODE((tmp_path / "console" / "password").stat().st_mode) == 0o600
    assert "Traceback" not in out
    assert local.returncode == 0, out[-2000:]  # Ctrl-C is a clean stop (`make run`: no "Error 130")
    assert (data / "appendonlydir").is_dir()  # AOF on: a restart loses nothing
    assert password not in out  # the banner shows it masked
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "password").stat().st_mode) == 0o600
    written = [p for p in data.rglob("*") if p.is_file()]
    assert any("aof" in p.name for p in written)
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in written), [oct(p.stat().st_mode) for p in written]
    assert not answers(f"http://127.0.0.1:{port}/healthz"), "the web process outlived Ctrl-C"
    assert not redis_answers(f"redis://:{password}@127.0.0.1:{redis_port}/0"), "the embedded Redis outlived Ctrl-C"
    assert subprocess.run(["pgrep", "-f", f"valkey-server 127.0.0.1:{redis_port}"]).returncode == 1
