"""The durability levels and what each needs of the server: what the server says about itself
(:func:`read_server`, one INFO round trip) and the plan for ``DLRHOOK_DURABILITY`` on it
(:func:`plan_for`). :mod:`dlrhook.store.durability` keeps a plan per client and runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import redis

from dlrhook.errors import DurabilityUnsupported
from dlrhook.settings import Settings

#: The levels, weakest first.
LEVELS = ("memory", "disk", "replica")


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
