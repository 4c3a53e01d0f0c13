"""The heartbeat of a running drain: its slot and its claimed entries kept from looking abandoned.

A drain whose worker dies stops renewing; ``DLRHOOK_ABANDON_AFTER`` seconds later another drain
takes its slot and reclaims its entries (:mod:`dlrhook.workers.lane`). Renewal failures are
logged and never raised: the drain carries on, and at worst its batch is delivered twice.
"""

from __future__ import annotations

import logging
import threading

import redis

from dlrhook.workers.lane import Lane

log = logging.getLogger("dlrhook.dispatch")


class Heartbeat:
    """While a drain runs: renew its slot and its claimed entries every third of the abandon time."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dlrhook-lease", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(max(1.0, self.lane.settings.abandon_after / 3)):
            try:
                self.lane.renew()
            except redis.RedisError as exc:
                log.warning("drain heartbeat for %s failed: %s", self.lane.handler.name, exc)
