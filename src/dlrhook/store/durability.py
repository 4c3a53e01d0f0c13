"""Durability: what must be true of a write before dlrhook acknowledges it (``DLRHOOK_DURABILITY``).

Redis executes a write in memory and answers at once; ``WAIT numreplicas timeout`` (every
Redis) and ``WAITAOF numlocal numreplicas timeout`` (Redis 7.2+, every Valkey) then block the
same connection until that write (and every one before it: the offset is the server's) is on
that many replicas, or fsynced to the AOF. :func:`execute` sends a write and the level's wait
on one socket (a pipeline: redis-py's pool would otherwise hand the wait to another
connection, whose offset says nothing about this write). The levels:

- ``memory``: executed by the primary (dlrhook 0.2). A crash or a failover can lose it.
- ``disk``: ``WAITAOF 1 0``, fsynced to the primary's AOF. Needs ``appendonly yes`` and a
  server with WAITAOF; a server without either stops the start (:func:`check_start`).
- ``replica``: ``WAIT n``, in the memory of ``DLRHOOK_DURABILITY_REPLICAS`` replicas, and
  ``WAITAOF 1 0`` too when the primary has AOF and WAITAOF. Not ``WAITAOF 1 n``: a replica
  acknowledges its fsyncs once a second under ``everysec``, so each push would wait about a
  second (README "Durability"); a failover needs the replica's copy, which WAIT gives at once.
- ``auto``: ``replica`` when at least ``DLRHOOK_DURABILITY_REPLICAS`` replicas are online,
  else ``disk`` when AOF is on and WAITAOF exists, else ``memory`` with a warning.

The server's state (INFO server, replication, persistence) is read when a process first uses a
client, again before the first write after any new connection (:func:`connected`; redis-py
reconnects by itself, and after a failover the same name leads to the promoted replica) or a
connection error, and every ``DURABILITY_RECHECK`` seconds. It replans from scratch only when
the server's ``run_id`` changed; on the same server it may only raise ``auto``'s level, never
lower it: a primary that just lost its replica is what a failover looks like from the inside,
no time to stop waiting for one. One INFO round trip per process every few seconds costs
nothing measurable; one per push would cost a round trip per push.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis
from redis.client import Pipeline

from dlrhook import defaults
from dlrhook.settings import Settings
from dlrhook.store.levels import LEVELS, Plan, Server, plan_for, read_server

__all__ = ["LEVELS", "Durability", "Plan", "Server", "check_server", "check_start", "execute", "of", "plan_for"]

log = logging.getLogger("dlrhook.durability")

#: Errors after which the connection is new (or about to be): the server may be another one.
RECONNECT_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)


class Durability:
    """The plan in force on one client, kept current as the module docstring says."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server: Server | None = None
        self.current: Plan | None = None
        self.checked_at = 0.0
        self.connects = -1
        self._lock = threading.Lock()

    def _due(self) -> bool:
        return (
            self.current is None
            or self.connects != _connects
            or time.monotonic() - self.checked_at >= defaults.DURABILITY_RECHECK
        )

    def plan(self, conn: redis.Redis) -> Plan:
        """The plan for the next write on *conn* (reads the server when due)."""
        current = self.current
        if current is not None and not self._due():
            return current
        with self._lock:
            if self._due():
                self.connects = _connects
                self._refresh(conn)
            assert self.current is not None
            return self.current

    def forget(self) -> None:
        """Re-read the server before the next write (after a connection error)."""
        self.checked_at = 0.0

    def _refresh(self, conn: redis.Redis) -> None:
        server = read_server(conn)
        old, known = self.current, self.server
        if old is not None and server == known:
            self.checked_at = time.monotonic()
            return
        new = plan_for(self.settings, server)  # raises before anything is kept: read again next time
        self.checked_at = time.monotonic()
        same_server = old is not None and known is not None and server.run_id == known.run_id
        if same_server and self.settings.durability == "auto":
            assert old is not None
            if LEVELS.index(new.level) < LEVELS.index(old.level):
                return  # same server: auto never lowers its level (see the module docstring)
        self.server, self.current = server, new
        if not same_server or old is None or new.level != old.level:
            announce(new, self.settings)


def announce(plan: Plan, settings: Settings) -> None:
    """Log the plan: a warning when reports answered 200 could be lost (auto fell to memory)."""
    if plan.level == "memory" and settings.durability == "auto":
        log.warning("DURABILITY memory: %s", plan.why)
    else:
        log.info("durability %s (DLRHOOK_DURABILITY=%s): %s", plan.level, settings.durability, plan.why)


#: One per client object (weakly: a client dropped by its owner closes its connections).
_clients: weakref.WeakKeyDictionary[redis.Redis, Durability] = weakref.WeakKeyDictionary()
#: Connections opened by this process's clients (:func:`connected`): a new one may reach a new server.
_connects = 0


def connected(connection: Any) -> None:
    """redis-py's ``redis_connect_func`` for dlrhook's clients: the usual handshake, then a
    note that the next write re-reads the server's state (redis-py reconnects by itself, and
    after a failover the same name may lead to another server)."""
    global _connects
    connection.on_connect()
    _connects += 1


def of(conn: redis.Redis, settings: Settings) -> Durability:
    """The :class:`Durability` of the client *conn* (one per client object and process)."""
    found = _clients.get(conn)
    if found is None:
        found = _clients[conn] = Durability(settings)
    return found


def execute(conn: redis.Redis, settings: Settings, commands: Callable[[Pipeline], Any]) -> tuple[list[Any], str | None]:
    """Send the *commands* (added to a pipeline) and then the level's wait, on one connection.

    Returns their replies and None when the level was reached, or a sentence saying what was
    missing: the writes are then done, in the primary's memory at least, but not acknowledged
    as durable. Raises the first error reply (as redis-py does), :class:`DurabilityUnsupported`
    when the server changed into one that cannot give the level, or a connection error (the
    plan is then read again before the next write).
    """
    durability = of(conn, settings)
    try:
        plan = durability.plan(conn)
        with conn.pipeline(transaction=False) as pipe:
            commands(pipe)
            count = len(pipe.command_stack)
            for command in plan.commands:
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            # Errors come back as replies, as Redis sent them (raise_on_error would rewrite their
            # message); the first one is raised below.
            replies = pipe.execute(raise_on_error=False)
    except RECONNECT_ERRORS:
        durability.forget()
        raise
    for reply in replies:
        if isinstance(reply, redis.RedisError):
            if isinstance(reply, RECONNECT_ERRORS):
                durability.forget()
            raise reply
    shortfall = plan.shortfall(replies[count:])
    if shortfall is not None:
        shortfall = f"did not reach {plan.level} within {settings.durability_timeout:g} s ({shortfall})"
    return replies[:count], shortfall


def check_start(conn: redis.Redis, settings: Settings) -> Plan | None:
    """Plan at a process's start, and log it (loudly when auto fell to memory).

    Raises :class:`DurabilityUnsupported` when the server cannot give the level asked for.
    Returns None (and logs) when Redis does not answer: the plan is made at the first write.
    """
    durability = of(conn, settings)
    try:
        plan = durability.plan(conn)
    except redis.RedisError as exc:
        log.warning("Redis does not answer (%s): the durability level is chosen at the first write", exc)
        return None
    server = durability.server
    if plan.level == "replica" and server is not None and server.replicas < settings.durability_replicas:
        log.warning(
            "DLRHOOK_DURABILITY=replica and %d of %d replicas are online: pushes are answered 503 until they are",
            server.replicas,
            settings.durability_replicas,
        )
    return plan


def check_server(settings: Settings) -> None:
    """Raise :class:`DurabilityUnsupported` when the server cannot give the level, logging
    nothing (gunicorn's master, before its workers start). Redis away: no check."""
    from dlrhook.store import connect

    conn = connect(settings)
    try:
        plan_for(settings, read_server(conn))
    except redis.RedisError:
        pass
    finally:
        conn.close()
