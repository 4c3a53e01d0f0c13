"""A per-report handler's pace, learnt in this process: how many reports one claim should hold.

Short claims are what lets a backlog spread over every worker and a slow handler's slice end on
time, so a per-report handler claims only what it does in ``CLAIM_SECONDS``; a batch handler
always claims a full batch. The pace is a moving average of seconds per report, kept in this
process only (a new worker starts from ``FIRST_CLAIM``).
"""

from __future__ import annotations

import time

from dlrhook.workers.handlers import Handler

#: Reports claimed at first by a per-report handler whose pace this process does not know yet.
FIRST_CLAIM = 16
#: Seconds of a per-report handler's work one claim holds: short claims are what lets a backlog
#: spread over every worker and a slow handler's slice end on time.
CLAIM_SECONDS = 1.0

_pace: dict[str, float] = {}


def claim_size(handler: Handler, batch_size: int, deadline: float) -> int:
    """Reports to claim: a batch handler takes a full batch; a per-report handler as many as
    its measured pace fits in ``CLAIM_SECONDS`` (and in the time left)."""
    if handler.batch:
        return batch_size
    pace = _pace.get(handler.name)
    if pace is None:
        return min(batch_size, FIRST_CLAIM)
    left = min(max(deadline - time.monotonic(), 0.0), CLAIM_SECONDS)
    return max(1, min(batch_size, int(left / max(pace, 1e-6))))


def learn(handler: str, seconds_per_report: float) -> None:
    """Fold one call's seconds per report into *handler*'s pace."""
    old = _pace.get(handler)
    _pace[handler] = seconds_per_report if old is None else 0.7 * old + 0.3 * seconds_per_report
