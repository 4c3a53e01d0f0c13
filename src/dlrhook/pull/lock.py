"""The one-poller-per-account-and-path lock.

At most one poller (or ``dlrhook pull``) per account and path makes requests: a Redis lock
with an expiry, confirmed right before every request and renewed by a thread while held.
"""

from __future__ import annotations

import logging
import threading

import redis
from redis.exceptions import LockError
from redis.lock import Lock

log = logging.getLogger("dlrhook.poller")


class AccountLock:
    """The one-poller-per-account-and-path lock: ``SET NX PX`` with a token, released and renewed by Lua.

    redis-py's :class:`~redis.lock.Lock` does the atomic parts; this adds a thread that renews
    it every third of its TTL while held, so that a long request or wait never lets it lapse.
    *name* is the key (``keys.pull_lock_key``).
    """

    def __init__(self, conn: redis.Redis, name: str, ttl: int) -> None:
        self.name = name
        self.ttl = ttl
        # thread_local=False: the renewing thread must see the token the main thread got.
        self._lock = Lock(conn, self.name, timeout=ttl, blocking=False, thread_local=False)
        self._held = False
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()

    @property
    def held(self) -> bool:
        """True while this process believes it holds the lock (confirm with :meth:`hold`)."""
        return self._held

    def hold(self) -> bool:
        """Acquire the lock, or confirm it is still ours with a fresh expiry; False if another has it.

        Raises ``redis.RedisError`` when Redis does not answer.
        """
        if self._held:
            try:
                self._lock.reacquire()
                return True
            except LockError:
                self._held = False
                self._stop_renewer()
                log.warning("the poller lock expired while held; another poller may have taken over")
        if self._lock.acquire(blocking=False):
            self._held = True
            self._stop_renewing.clear()
            self._renewer = threading.Thread(target=self._renew, name="dlrhook-poller-lock", daemon=True)
            self._renewer.start()
            return True
        return False

    def release(self) -> None:
        """Give the lock up if held. Never raises: an unreachable Redis lets it expire instead."""
        self._stop_renewer()
        if self._held:
            self._held = False
            try:
                self._lock.release()
            except (LockError, redis.RedisError) as exc:
                log.debug("poller lock not released (%s); it expires on its own", type(exc).__name__)

    def _stop_renewer(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        self._renewer = None

    def _renew(self) -> None:
        while not self._stop_renewing.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except LockError:
                return  # lost it; the main thread finds out in hold() before its next request
            except redis.RedisError:
                continue  # Redis is down: so is everyone's lock; keep trying
