"""``dlrhook pull`` as a process against a hostile Infobip URL (the fake, a real HTTP server):
a 150 MB answer and a 1 GB gzip bomb (1 MB of gzip) are given up at the byte cap and retried, the process's
memory stays bounded (it peaked at 1.1 GB and 2.1 GB before), and the real reports after them
arrive."""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.fake_infobip import Answer, FakeInfobip, make_reports
from tests.support import ROOT
from tests.support.pull import DLRHOOK

pytestmark = pytest.mark.slow


def gzip_of_spaces(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    mb = b" " * 1_000_000
    return b"".join(packer.compress(mb) for _ in range(size // 1_000_000)) + packer.flush()


def test_dlrhook_pull_survives_a_huge_answer_and_a_gzip_bomb_with_bounded_memory(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings], tmp_path: Path
) -> None:
    pull_env()  # the environment points at the fake
    bomb = gzip_of_spaces(1_000_000_000)
    assert len(bomb) < 1_100_000
    fake.add_reports(make_reports(20))
    fake.inject(Answer(size=150_000_000), Answer(body=bomb, headers={"Content-Encoding": "gzip"}))

    with open(tmp_path / "out", "wb") as out_file, open(tmp_path / "err", "wb") as err_file:
        proc = subprocess.Popen([DLRHOOK, "pull"], cwd=ROOT, env=dict(os.environ), stdout=out_file, stderr=err_file)
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage of this process alone
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = (tmp_path / "out").read_bytes(), (tmp_path / "err").read_bytes()

    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out.splitlines()[-1])["accepted"] == 20, out
    assert out.count(b"larger than") == 2  # both given up at the cap (logged), then retried
    assert conn.hlen(keys.PULL_PAGES) == 0 and conn.hlen(keys.PULL_REJECTED) == 0
    assert usage.ru_maxrss < 300_000, usage.ru_maxrss  # KiB
