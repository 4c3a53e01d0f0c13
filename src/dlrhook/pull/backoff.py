"""The one backoff of the pull side: how long to wait after failures in a row.

The poller, ``dlrhook pull`` and reconcile passes all wait with it after a 429, a 5xx or a
network error (never sooner than a ``Retry-After``, which they add themselves).
"""

from __future__ import annotations

from redis.backoff import EqualJitterBackoff


class Backoff:
    """Exponential backoff with "equal jitter": the n-th wait is in [d/2, d], d = base * 2**n, capped.

    The lower half is fixed so that a wait is never near zero; the upper half is random so that
    many pollers restarted together do not retry in step. The delays are redis-py's
    :class:`~redis.backoff.EqualJitterBackoff`; this only counts the failures in a row.
    """

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._delays = EqualJitterBackoff(cap=cap, base=base)

    def next(self) -> float:
        """The next wait, in seconds; each call doubles the following one (up to ``cap``)."""
        # The exponent stops growing once base * 2**n passes any cap (and before a float overflows).
        wait = self._delays.compute(min(self.failures, 62))
        self.failures += 1
        return wait

    def reset(self) -> None:
        """After a success: the next failure waits ``base`` again."""
        self.failures = 0
