"""The operator's commands as an operator runs them: the ``dlrhook`` command in a subprocess,
dead letters made and replays delivered by ``dlrhook worker --burst`` processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.dev.embedded import free_port
from dlrhook.ingest import ingest
from dlrhook.settings import load_settings
from tests.support import sample

pytestmark = pytest.mark.slow

DLRHOOK = str(Path(sys.executable).parent / "dlrhook")
IDS = ["bcfb828b-7df9-4e7b-8715-f34f5c61271a", "12db39c3-7822-4e72-a3ec-c87442c0ffc5"]
FAILING = {"DLRHOOK_HANDLERS": "test-broken,test-batch", "DLRHOOK_RETRY_DELAYS": ""}


def run(env: dict[str, str], *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DLRHOOK, *args], env={**env, **values}, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def rows(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines()[1:]] if out.startswith("JOB ID") else []


def calls(conn: redis_lib.Redis, handler: str) -> list[str]:
    return [str(v, "utf-8") for v in conn.lrange(f"test:calls:{handler}", 0, -1)]  # type: ignore[arg-type]


def test_failed_list_show_replay_delete_by_handler_and_time(
    conn: redis_lib.Redis, process_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", process_env["REDIS_URL"])
    conn.set("test:broken", "1")
    conn.sadd("test:fail:test-batch", *IDS)
    ingest(conn, json.loads(sample("v1-two-delivered.json"))["results"], source="push", settings=load_settings())
    worker = run(process_env, "worker", "--burst", **FAILING)
    assert worker.returncode == 0, worker.stdout + worker.stderr

    everything = rows(run(process_env, "failed", "list").stdout)
    assert sorted(r[1] for r in everything) == ["test-batch", "test-broken"]
    [broken] = rows(run(process_env, "failed", "list", "--handler", "test-broken").stdout)
    assert (broken[1], broken[2], broken[3]) == ("test-broken", "2", ",".join(IDS))
    assert len(rows(run(process_env, "failed", "list", "--since", "10m").stdout)) == 2
    assert run(process_env, "failed", "list", "--since", "2099-01-01T00:00:00").stdout.strip() == "no failed jobs"
    bad = run(process_env, "failed", "list", "--since", "yesterday")
    assert bad.returncode == 2 and "neither a duration (90s, 30m, 2h, 7d) nor an ISO time" in bad.stderr

    shown = run(process_env, "failed", "show", broken[0])
    assert shown.returncode == 0, shown.stderr
    assert "handler   test-broken" in shown.stdout and "ConnectionError: receiver is down" in shown.stdout
    assert IDS[0] in shown.stdout and "41793026731" not in shown.stdout and "4179*****31" in shown.stdout
    assert "41793026731" in run(process_env, "failed", "show", broken[0], "--unmasked").stdout
    missing = run(process_env, "failed", "show", "dead-nope")
    assert missing.returncode == 1 and "no failed job 'dead-nope'" in missing.stderr
    assert run(process_env, "failed", "replay").returncode == 2  # nothing picked: a usage error

    # The receiver is back: replay test-broken's only; the worker delivers it, test-batch stays.
    conn.delete("test:broken")
    before = len(calls(conn, "test-broken"))
    replay = run(process_env, "failed", "replay", "--handler", "test-broken")
    assert replay.returncode == 0, replay.stderr
    assert "re-queued 1 job(s): 2 reports for test-broken" in replay.stdout
    worker = run(process_env, "worker", "--burst", **FAILING, DLRHOOK_LOG_LEVEL="INFO")
    assert f"replayed dead letter {broken[0]}: 2 reports handed to handler test-broken" in worker.stdout + worker.stderr
    assert len(calls(conn, "test-broken")) == before + 2
    assert [r[1] for r in rows(run(process_env, "failed", "list").stdout)] == ["test-batch"]

    refused = run(process_env, "failed", "delete", "--handler", "test-batch")  # asks; no answer on stdin
    assert refused.returncode != 0 and len(rows(run(process_env, "failed", "list").stdout)) == 1
    deleted = run(process_env, "failed", "delete", "--handler", "test-batch", "--yes")
    assert deleted.returncode == 0 and "deleted 1 job(s): 2 reports for test-batch" in deleted.stdout
    assert run(process_env, "failed", "list").stdout.strip() == "no failed jobs"


def test_quarantine_show_and_delete(
    conn: redis_lib.Redis, process_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", process_env["REDIS_URL"])
    report = json.loads(sample("v1-two-delivered.json"))["results"][0]
    del report["status"]  # a delivery report without its status: quarantined
    assert ingest(conn, [report], source="push", settings=load_settings()).quarantined == 1
    [row] = [line.split("\t") for line in run(process_env, "quarantine", "list").stdout.splitlines()[1:]]
    entry_id = row[0]

    shown = run(process_env, "quarantine", "show", entry_id)
    assert shown.returncode == 0, shown.stderr
    assert '"status"' in shown.stdout.split("raw report:")[0]  # the field error names it
    raw = json.loads(shown.stdout.split("raw report:\n", 1)[1])
    assert raw["messageId"] == IDS[0] and raw["to"] == "4179*****31"

    assert run(process_env, "quarantine", "delete", "q-nope").returncode == 1
    deleted = run(process_env, "quarantine", "delete", entry_id)
    assert deleted.returncode == 0 and "deleted 1 quarantined report(s)" in deleted.stdout
    assert run(process_env, "quarantine", "list").stdout.strip() == "quarantine is empty"
    assert run(process_env, "quarantine", "show", entry_id).returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ("quarantine", "list"),
        ("failed", "list"),
        ("handlers", "list"),
        ("status", "m-1"),
        ("failed", "replay", "--all"),
    ],
)
def test_a_command_that_cannot_reach_redis_says_so_in_one_line_naming_redis_url(
    process_env: dict[str, str], args: tuple[str, ...]
) -> None:
    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    result = run(process_env, *args, REDIS_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "hunter2secret" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"dlrhook: cannot reach Redis at REDIS_URL=redis://127.0.0.1:{url.rsplit(':', 1)[1]}")
