"""Trimming the report stream while other drains acknowledge: the groups' reading is a moment old."""

from __future__ import annotations

import redis

from dlrhook.store import keys
from dlrhook.workers import stream


def test_a_group_whose_last_pending_entry_was_acknowledged_meanwhile_is_trimmed_past_what_it_read(
    conn: redis.Redis,
) -> None:
    """XINFO GROUPS said one entry pending; by XPENDING another drain had acknowledged it (the
    summary has no min). It crashed a worker delivering on a full Redis (ValueError)."""
    stream.register(conn, ["a"])
    for n in range(3):
        conn.xadd(keys.REPORTS, {"w": f"{n}"})
    conn.xreadgroup("a", "c", {keys.REPORTS: ">"}, count=3)
    found = stream.groups(conn)  # 3 pending, as a drain read it
    conn.xack(keys.REPORTS, "a", *[e[0] for e in conn.xrange(keys.REPORTS)])  # acknowledged meanwhile
    assert found[0]["pending"] == 3

    assert stream.trim(conn, found) == 3
    assert conn.xlen(keys.REPORTS) == 0
