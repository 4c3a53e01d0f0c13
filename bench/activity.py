"""What the console's per-minute counts cost: a push's share in-process, a flush's in Redis.

    python -m bench.activity [--pushes 100000] [--repeat 7]

A push counts its outcomes (three ``Tally.add``, as ``metrics.record_ingest`` does) and its
channel (``Tally.pushed``): in memory only, timed here per push, best of *repeat* runs. The
flush a process then makes once a second is one pipelined round trip, timed here against the
embedded Valkey for a second's worth of counts from several handlers (its size does not grow
with the number of pushes: the fields are bounded).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import timeit

import redis

from dlrhook import activity
from dlrhook.dev.embedded import EmbeddedRedis, free_port


def per_push(pushes: int, repeat: int) -> float:
    """Microseconds a push spends counting (best of *repeat* runs of *pushes* pushes)."""
    tally = activity.Tally()  # not armed: no thread, as the numbers below are the in-process part

    def one_run() -> None:
        for _ in range(pushes):
            tally.add("push:accepted", 100)
            tally.add("push:duplicates", 0)
            tally.add("push:quarantined", 0)
            tally.pushed("SMS")

    return min(timeit.repeat(one_run, number=1, repeat=repeat)) / pushes * 1e6


def per_flush(conn: redis.Redis, handlers: int, repeat: int) -> float:
    """Milliseconds one flush takes: the push outcomes, three refusal statuses and *handlers*
    handlers' calls, failures and dead letters, over two minutes (a flush across a minute's end)."""
    best = float("inf")
    tally = activity.Tally()
    for _ in range(repeat):
        now = time.time()
        for when in (now - 60, now):
            for field in ("push:accepted", "push:duplicates", "push:quarantined", "refused:401", "refused:400"):
                tally.add(field, 7, when=when)
            tally.add("unavailable", 1, when=when)
            for n in range(handlers):
                for kind in ("ok", "failed"):
                    tally.add(f"calls:h{n}:{kind}", 3, when=when)
                tally.add(f"dead:h{n}", 1, when=when)
        tally.pushed("SMS")
        started = time.perf_counter()
        assert tally.flush(conn)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"counting, per push (in memory):      {per_push(args.pushes, args.repeat):.2f} us")
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-activity-") as data:
        server = EmbeddedRedis(data, port=free_port(), appendonly=False).start()
        try:
            conn = redis.Redis.from_url(server.url)
            for handlers in (3, 10):
                ms = per_flush(conn, handlers, args.repeat * 5)
                print(f"one flush, {handlers:>2} handlers (one round trip): {ms:.2f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
