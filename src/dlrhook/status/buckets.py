"""The ``secondsToFinal`` buckets of a bulk's summary (both stores; shared with the console).

A message counts once, in the bucket of the report that first made it final: that report's
``doneAt - sentAt`` (a message without either is not counted; a later final correction does not
move it). The buckets are counts, not cumulative; their keys are the upper bounds in seconds,
as text, and ``+Inf``.
"""

from __future__ import annotations

#: Upper bounds (seconds) of the buckets; the last bucket, ``+Inf``, has index ``len(FINAL_BOUNDS)``.
FINAL_BOUNDS = (1, 5, 15, 60, 300, 900, 3600, 21600, 86400)
#: The read API's names of the buckets, in order.
FINAL_BUCKETS = (*(str(b) for b in FINAL_BOUNDS), "+Inf")


def final_bucket(seconds: float) -> int:
    """The index in :data:`FINAL_BUCKETS` of *seconds* from sentAt to doneAt (negative: the first)."""
    for n, bound in enumerate(FINAL_BOUNDS):
        if seconds <= bound:
            return n
    return len(FINAL_BOUNDS)
