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
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from dlrhook import defaults
from dlrhook.errors import DurabilityUnsupported
from dlrhook.settings import Settings

log = logging.getLogger("dlrhook.durability")

#: The levels, weakest first.
LEVELS = ("memory", "disk", "replica")
#: Errors after which the connection is new (or about to be): the server may be another one.
RECONNECT_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)


@dataclass(frozen=True)
class Server:
    """What the server said about itself in one INFO read."""

    run_id: str
    version: str  # "valkey 8.1.8", "redis 7.0.15"
    waitaof: bool
    aof: bool
    replicas: int  # online ones


@dataclass(frozen=True)
class Plan:
    """The level in force on one client, and the commands that make a write reach it."""

    level: str
    commands: tuple[tuple[Any, ...], ...] = ()
    why: str = ""

    def shortfall(self, replies: list[Any]) -> str | None:
        """None when *replies* (to :attr:`commands`) say the level was reached, else what was missing."""
        missing = []
        for command, reply in zip(self.commands, replies, strict=True):
            if command[0] == "WAIT" and int(reply) < command[1]:
                missing.append(f"{int(reply)} of {command[1]} replicas acknowledged the write")
            elif command[0] == "WAITAOF" and int(reply[0]) < command[1]:
                missing.append("the primary had not fsynced it to its AOF")
        return " and ".join(missing) or None


def read_server(conn: redis.Redis) -> Server:
    """One round trip: INFO server, replication and persistence.

    WAITAOF exists from Redis 7.2 on; every Valkey reports ``redis_version`` 7.2.4 or later.
    """
    with conn.pipeline(transaction=False) as pipe:
        pipe.info("server")
        pipe.info("replication")
        pipe.info("persistence")
        server, replication, persistence = pipe.execute()
    name = str(server.get("server_name") or "redis")
    version = str(server.get(f"{name}_version") or server.get("redis_version", "?"))
    online = sum(
        1
        for k, v in replication.items()
        if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
    )
    compatible = tuple(int(p) for p in re.findall(r"\d+", str(server.get("redis_version", "0")))[:2])
    return Server(
        run_id=str(server.get("run_id", "")),
        version=f"{name} {version}",
        waitaof=compatible >= (7, 2),
        aof=int(persistence.get("aof_enabled", 0)) == 1,
        replicas=online,
    )


def plan_for(settings: Settings, server: Server) -> Plan:
    """The plan for ``DLRHOOK_DURABILITY`` on *server*; raises :class:`DurabilityUnsupported`
    when it asks for what the server cannot do."""
    wanted, n = settings.durability, settings.durability_replicas
    ms = max(1, int(settings.durability_timeout * 1000))
    if wanted == "auto":
        if server.replicas >= n:
            wanted = "replica"
        elif server.aof and server.waitaof:
            wanted = "disk"
        else:
            return Plan("memory", why=_memory_why(server, n))
    if wanted == "memory":
        return Plan("memory", why="DLRHOOK_DURABILITY=memory")
    if wanted == "disk":
        if not server.waitaof:
            raise DurabilityUnsupported(
                f"DLRHOOK_DURABILITY=disk needs WAITAOF (Redis 7.2 or later, any Valkey), and the server is "
                f"{server.version}: upgrade it, or set DLRHOOK_DURABILITY=replica (with a replica) or memory"
            )
        if not server.aof:
            raise DurabilityUnsupported(
                f"DLRHOOK_DURABILITY=disk needs the server's AOF, and {server.version} has appendonly off: "
                "set appendonly yes (CONFIG SET appendonly yes, and in its config), or another level"
            )
        return Plan("disk", (("WAITAOF", 1, 0, ms),), why=f"{server.version}, AOF on")
    waits: tuple[tuple[Any, ...], ...] = (("WAIT", n, ms),)
    if server.aof and server.waitaof:
        # The primary's disk as well, for a crash of the primary that no failover follows.
        return Plan("replica", (*waits, ("WAITAOF", 1, 0, ms)), f"{server.version}, AOF on, {server.replicas} replicas")
    return Plan("replica", waits, why=f"{server.version}, {server.replicas} replicas online")


def _memory_why(server: Server, n: int) -> str:
    if not server.aof:
        fix = "turn on the server's AOF (appendonly yes)"
    else:
        fix = f"upgrade {server.version} to Redis 7.2+ or Valkey (WAITAOF)"
    return (
        f"auto found fewer than {n} replicas online and no way to wait for the disk on {server.version}: "
        f"pushes are acknowledged in memory only, and a Redis crash or failover can lose reports answered 200. "
        f"To change it: {fix}, or add a replica, or set DLRHOOK_DURABILITY=memory to say this is intended"
    )


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
