"""One WARNING line per refused push, at most one a second per reason, so a flood cannot fill
the log: the line after a quiet second says how many like it were left out.

A refused push is any answer but 200 to ``POST /notify`` (a 500 is logged with its traceback
already). The line names the status, the reason (the problem's title and detail, which never
hold a credential) and the client address; the log's Redact filter masks the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("dlrhook.web")


class Limiter:
    """At most one line per *interval* seconds for each reason; counts those it held back."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, reason: str) -> int | None:
        """None: hold this line back; else how many lines of *reason* were held back before it."""
        now = self.clock()
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self.interval:
                self._held[reason] = self._held.get(reason, 0) + 1
                return None
            self._last[reason] = now
            return self._held.pop(reason, 0)


limiter = Limiter()


def refused(status: int, title: str, detail: str, client: str | None) -> None:
    """Log a refused push (rate-limited per status and title)."""
    reason = f"{status} {title}"
    held = limiter.allow(reason)
    if held is None:
        return
    more = f" ({held} more refused like it in the last seconds, not logged)" if held else ""
    log.warning(
        "refused push: %s from %s: %s%s",
        reason,
        client or "-",
        detail,
        more,
        extra={"status": status, "reason": title, "client": client, "suppressed": held},
    )
