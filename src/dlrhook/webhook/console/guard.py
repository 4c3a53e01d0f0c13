"""Who may use the console: the password, the session's signing key, the login rate limit.

- The password (``DLRHOOK_CONSOLE_PASSWORD``) is compared in constant time (HMAC digests of
  both sides, so not even its length shows) and never logged.
- The session cookie is Flask's signed cookie. Its signing key is HMAC-SHA256 of the password,
  keyed with a random per-deployment secret kept in Redis (``dlrhook:console:secret``, made by
  the first web process that needs it): every gunicorn worker and every restart derive the same
  key, a new password ends every session, and the key is in no setting or file.
- Login attempts are counted per client address in Redis (``dlrhook:console:login:<address>``),
  before the password is compared, so the limit holds across gunicorn workers and web processes
  and for attempts sent all at once: :data:`MAX_FAILURES` failures in :data:`WINDOW` seconds,
  then 429 until the window ends (a right password included); a right password resets the count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import redis
from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface

from dlrhook.store import keys

#: Failed logins a client address may make in :data:`WINDOW` seconds.
MAX_FAILURES = 5
WINDOW = 300
#: Seconds a process keeps the derived signing key before reading the secret again.
KEY_CACHE = 60.0
#: The session cookie's name and path (the browser sends it to /console only).
COOKIE = "dlrhook_console"
PATH = "/console"


def password_ok(given: str, password: str) -> bool:
    """True when *given* is the console password, compared in constant time."""
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(password.encode()).digest())


def signing_key(conn: redis.Redis, password: str) -> bytes:
    """The session signing key: HMAC-SHA256(the deployment's secret, the password)."""
    secret = conn.get(keys.CONSOLE_SECRET)
    if secret is None:
        conn.set(keys.CONSOLE_SECRET, secrets.token_hex(32), nx=True)  # the first process's wins
        secret = conn.get(keys.CONSOLE_SECRET)
    if secret is None:
        raise redis.RedisError("the console secret could not be kept")
    key = secret if isinstance(secret, bytes) else str(secret).encode()
    return hmac.new(key, b"dlrhook-console\n" + password.encode(), hashlib.sha256).digest()


def attempt(conn: redis.Redis, client: str) -> int:
    """Count one login attempt of *client*; the seconds it must wait (0: it may try now).

    Counted before the password is looked at, in one transaction (SET NX EX starts the window,
    INCR counts): a check first and a count after would let many attempts sent at once all pass
    the check before any was counted (the web's gevent workers take a thousand at a time). A
    right password forgets the count (:func:`succeeded`), so only failures add up."""
    key = keys.CONSOLE_LOGIN_PREFIX + client
    with conn.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=WINDOW, nx=True)  # not EXPIRE NX: Redis 6 has no NX there
        pipe.incr(key)
        pipe.ttl(key)
        _, attempts, ttl = pipe.execute()
    if int(attempts) <= MAX_FAILURES:
        return 0
    return max(int(ttl), 1)


def succeeded(conn: redis.Redis, client: str) -> None:
    """A right password: *client*'s failures are forgotten."""
    conn.delete(keys.CONSOLE_LOGIN_PREFIX + client)


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, for /console only: signed with :func:`signing_key`,
    Secure when the request came over https (directly, or as a trusted proxy says), no session
    at all on any other path (a push never opens one, nor reads Redis for it)."""

    def __init__(self, conn: redis.Redis, password: str) -> None:
        self.conn = conn
        self.password = password
        self._key: tuple[float, bytes] | None = None

    def key(self) -> bytes:
        """The signing key, derived again every :data:`KEY_CACHE` seconds. Raises RedisError."""
        if self._key is None or time.monotonic() - self._key[0] > KEY_CACHE:
            self._key = (time.monotonic(), signing_key(self.conn, self.password))
        return self._key[1]

    def open_session(self, app: Flask, request: Request) -> Any:
        if not request.path.startswith(PATH):
            return self.null_session_class()
        try:
            app.secret_key = self.key()  # what flask_wtf signs its CSRF tokens with, too
        except redis.RedisError:
            request.environ["dlrhook.console.down"] = True
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        from flask import request

        return bool(request.is_secure)

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE

    def get_cookie_path(self, app: Flask) -> str:
        return PATH

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Strict"

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True


def client_of(request: Request) -> str:
    """The client address the rate limit counts (through DLRHOOK_TRUSTED_PROXIES' ProxyFix)."""
    return request.remote_addr or "-"


def describe(value: Any) -> str:
    """A short text of what an action touched, for its log line."""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
