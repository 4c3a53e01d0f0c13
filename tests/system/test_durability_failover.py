"""A managed failover under load, through real gunicorn: a primary and a replica (Valkey, or
Debian's redis-server 7.0 without WAITAOF), the web on a proxy that stands for the endpoint's
DNS name, pushes arriving continuously from Infobip-like senders (each batch sent again until it
gets a 200). The failover is what a managed plan does when the primary's host is lost: the
replica is promoted (REPLICAOF NO ONE) while the web still writes to the old primary for a
moment (the name has not moved yet), then the name moves and the old primary becomes the new
one's replica, dropping what only it had.

Counted: reports answered 200 that the promoted server does not hold. With ``auto`` or
``replica``: none. With ``memory``: those the old primary acknowledged after the promotion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.proxy import Proxy
from tests.support.pusher import Pusher, stored_ids
from tests.support.servers import Server
from tests.support.web import Web

#: Seconds the old primary keeps taking writes after the promotion (the endpoint's DNS TTL).
SPLIT = 0.5


def failover(start_web: Callable[..., Web], tmp_path: Path, kind: str, level: str) -> tuple[Pusher, set[str]]:
    """Run the failover above; return the pusher (its answers and accepted ids) and the lost ids."""
    primary = Server(kind, tmp_path / "a").start()
    replica = Server(kind, tmp_path / "b").start(replica_of=primary)
    proxy = Proxy(primary.port)
    try:
        web = start_web(REDIS_URL=proxy.url, DLRHOOK_DURABILITY=level, DLRHOOK_DURABILITY_TIMEOUT="0.2")
        with Pusher(web) as pusher:
            pusher.wait_for(300)
            replica.client().execute_command("REPLICAOF", "NO", "ONE")
            time.sleep(SPLIT)
            proxy.retarget(replica.port)
            primary.client().execute_command("REPLICAOF", "127.0.0.1", str(replica.port))
            pusher.wait_for(300)
        replica.wait_replicas(1)
        return pusher, pusher.accepted - stored_ids(replica.client())
    finally:
        proxy.close()
        primary.stop()
        replica.stop()


@pytest.mark.parametrize(
    ("kind", "level", "run"),
    [
        ("valkey", "auto", 1),
        ("valkey", "auto", 2),
        ("valkey", "replica", 1),
        ("redis", "replica", 1),
        ("redis", "auto", 1),
    ],
)
def test_a_failover_loses_no_report_answered_200(
    start_web: Callable[..., Web], tmp_path: Path, kind: str, level: str, run: int
) -> None:
    pusher, lost = failover(start_web, tmp_path, kind, level)
    print(
        f"failover {kind} {level}: {len(pusher.accepted)} answered 200, "
        f"answers {dict(pusher.answers)}, lost {len(lost)}"
    )
    seen = f"answers {dict(pusher.answers)}, lost {sorted(lost)[:10]}"
    assert len(pusher.accepted) >= 600, seen
    assert not lost, seen
    assert pusher.answers[503] > 0, seen  # the old primary's writes after the promotion were not acknowledged


def test_under_memory_a_failover_loses_reports_answered_200(start_web: Callable[..., Web], tmp_path: Path) -> None:
    pusher, lost = failover(start_web, tmp_path, "valkey", "memory")
    print(
        f"failover valkey memory: {len(pusher.accepted)} answered 200, answers {dict(pusher.answers)}, lost {len(lost)}"
    )
    # What the old primary acknowledged between the promotion and the move of the name.
    assert lost
