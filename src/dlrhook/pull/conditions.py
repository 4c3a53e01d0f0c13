"""Conditions logged once: a poller says "Redis is unavailable" when it begins, not on every retry.

A poller retries every few seconds through an outage; one line when a condition begins (and,
where it helps, one when it ends) tells an operator all there is, without flooding the log.
"""

from __future__ import annotations

import logging


class Conditions:
    """The conditions (by key) logged to *log* since each was last forgotten."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._said: set[str] = set()

    def once(self, key: str, level: int, message: str) -> bool:
        """Log *message* unless *key* was said since it was last forgotten; True if logged."""
        if key in self._said:
            return False
        self._said.add(key)
        self.log.log(level, message)
        return True

    def forget(self, key: str) -> bool:
        """Allow *key*'s message again; True if it had been said (a condition just ended)."""
        if key in self._said:
            self._said.discard(key)
            return True
        return False
