"""The per-minute activity counts: kept in memory until Redis takes them, bounded, read back."""

from __future__ import annotations

import time

import redis as redis_lib

from dlrhook import activity
from dlrhook.dev.embedded import free_port
from dlrhook.store import keys


def test_counts_go_to_one_hash_a_minute_with_an_expiry_and_read_back_as_series(conn: redis_lib.Redis) -> None:
    tally = activity.Tally()
    now = time.time()
    tally.add("push:accepted", 3, when=now)
    tally.add("push:accepted", 2, when=now - 60)
    tally.add("calls:status:ok", 5, when=now)
    tally.pushed("SMS", when=now)
    assert tally.flush(conn)

    minute = keys.ACTIVITY_PREFIX + str(activity.minute_of(now))
    assert conn.hgetall(minute) == {b"push:accepted": b"3", b"calls:status:ok": b"5"}
    assert 0 < conn.ttl(minute) <= activity.KEEP
    series = activity.series(conn, 60, now)
    assert len(series.minutes) == 60 and series.minutes[-1] == activity.minute_of(now)
    assert series.counts["push:accepted"][-2:] == [2, 3] and series.total("push:accepted") == 5
    assert series.fields("calls:") == ["calls:status:ok"]
    assert activity.last_pushes(conn) == {"SMS": round(now, 3)}


def test_while_redis_does_not_answer_the_counts_wait_and_go_out_with_the_next_flush(conn: redis_lib.Redis) -> None:
    tally = activity.Tally()
    now = time.time()
    tally.add("push:accepted", 4, when=now)
    tally.pushed("WHATSAPP", when=now)
    away = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.5)
    assert tally.flush(away) is False  # never raises
    tally.add("push:accepted", 1, when=now)
    assert tally.flush(conn)
    assert activity.series(conn, 1, now).total("push:accepted") == 5
    assert "WHATSAPP" in activity.last_pushes(conn)
    assert tally.flush(conn)  # nothing left: a second flush writes nothing more
    assert activity.series(conn, 1, now).total("push:accepted") == 5


def test_what_a_process_keeps_unwritten_is_at_most_two_hours_of_minutes() -> None:
    tally = activity.Tally()
    start = time.time() - 10 * 3600
    for minute in range(10 * 60):
        tally.add("push:accepted", 1, when=start + 60 * minute)
    kept = {m for m, _ in tally._counts}
    assert len(kept) <= activity.KEEP // 60 + 2


def test_refusals_count_under_their_status_and_503_apart() -> None:
    assert activity.refused_field(401) == "refused:401"
    assert activity.refused_field(503) == "unavailable"
    assert activity.refused_field(200) is None and activity.refused_field(302) is None
