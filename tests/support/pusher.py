"""Pushes arriving continuously, as Infobip sends them: batches of new reports from a few threads,
each batch sent again until it is answered 200. Counts the answers and the reports answered 200."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter

import redis as redis_lib

from dlrhook.store import keys
from tests.support import sample
from tests.support.web import Web

BATCH = 10


class Pusher:
    def __init__(self, web: Web, threads: int = 4) -> None:
        self.web = web
        self.template = json.loads(sample("v3-one-delivered.json"))["results"][0]
        self.accepted: set[str] = set()
        self.answers = Counter[int]()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._push, args=(n * 10**7,)) for n in range(threads)]

    def __enter__(self) -> Pusher:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for t in self._threads:
            t.join(30)

    def _push(self, n: int) -> None:
        while not self.stopping.is_set():
            ids = [f"d-{n + i}" for i in range(BATCH)]
            body = json.dumps({"results": [{**self.template, "messageId": m} for m in ids]}).encode()
            while not self.stopping.is_set():
                try:
                    status, _ = self.web.request("POST", "/notify", body, "application/json")
                except (OSError, http.client.HTTPException):
                    status = 0
                with self._lock:
                    self.answers[status] += 1
                    if status == 200:
                        self.accepted.update(ids)
                if status == 200:
                    break
                time.sleep(0.02)
            n += BATCH

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Until *count* more reports were answered 200."""
        goal, deadline = len(self.accepted) + count, time.monotonic() + timeout
        while len(self.accepted) < goal:
            assert time.monotonic() < deadline, f"pushes stalled: answers {dict(self.answers)}"
            time.sleep(0.02)


def stored_ids(conn: redis_lib.Redis) -> set[str]:
    """The message ids of every report in the report stream of *conn*'s server."""
    return {str(json.loads(fields[b"w"])["raw"]["messageId"]) for _, fields in conn.xrange(keys.REPORTS)}
