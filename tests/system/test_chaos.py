"""The chaos run: reports pushed continuously through real gunicorn while workers and gunicorn
worker processes are SIGKILLed every 1-3 s. Every report answered 200 must reach the handler;
duplicates (at-least-once) are counted and must stay under 10%.

Bounded: 30 s of pushing and killing, then at most 120 s for the survivors to catch up.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from tests.support import sample, wait_until
from tests.support.supervisor import Supervised, recorded
from tests.support.web import Web

pytestmark = pytest.mark.slow

DURATION = 30.0


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_nothing_answered_200_is_lost_while_workers_and_web_processes_are_killed(
    conn: redis_lib.Redis,
    start_web: Callable[..., Web],
    supervise: Callable[..., Supervised],
) -> None:
    web = start_web()
    slots = [supervise(1, DLRHOOK_HANDLERS="test-record-too") for _ in range(2)]
    template = json.loads(sample("v3-one-delivered.json"))["results"][0]
    accepted: set[str] = set()
    stop = threading.Event()
    kills = Counter[str]()
    answers = Counter[str]()
    rng = random.Random(7)

    def push(n: int) -> None:
        while not stop.is_set():
            ids = [f"c-{n + i}" for i in range(10)]
            body = json.dumps({"results": [{**template, "messageId": m} for m in ids]}).encode()
            while not stop.is_set():  # as Infobip does: the same batch again until it gets a 200
                try:
                    status, _ = web.request("POST", "/notify", body, "application/json")
                except (OSError, http.client.HTTPException):  # the web process died mid-answer
                    status = 0
                answers[str(status)] += 1
                if status == 200:
                    accepted.update(ids)
                    break
                time.sleep(0.05)
            n += 10

    def kill() -> None:
        while not stop.wait(rng.uniform(1, 3)):
            if rng.random() < 0.5:
                slot = rng.choice(slots)
                slot.kill()
                kills["worker"] += 1
            else:
                pids = children(web.process.pid)
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills["web"] += 1

    # Two pushers, each with ids of its own, and the killer.
    threads = [threading.Thread(target=push, args=(b,)) for b in (0, 10**7)] + [threading.Thread(target=kill)]
    for t in threads:
        t.start()
    time.sleep(DURATION)
    stop.set()
    for t in threads:
        t.join(30)
    stopped = time.monotonic()

    wait_until(lambda: set(recorded(conn, "test:calls:test-record-too")) >= accepted, 120, "every accepted report")
    caught_up = time.monotonic() - stopped
    got = recorded(conn, "test:calls:test-record-too")
    duplicates = len(got) - len(set(got))
    print(
        f"chaos: {len(accepted)} reports answered 200, answers {dict(answers)}, kills {dict(kills)}, "
        f"{duplicates} duplicates ({duplicates / max(len(accepted), 1):.1%}), caught up {caught_up:.1f} s after"
    )
    assert kills["worker"] >= 3 and kills["web"] >= 3
    assert len(accepted) > 1000
    assert not accepted - set(got)  # nothing lost
    assert duplicates < 0.10 * len(accepted)
