"""Filling a Redis to its last bytes, as something other than dlrhook would (the full-Redis tests)."""

from __future__ import annotations

import redis as redis_lib


def fill(conn: redis_lib.Redis, start: int = 0, margin: int = 256 * 1024) -> int:
    """Write keys ``test:fill:<n>`` from *start* until Redis refuses even 16 bytes; returns the
    next n. Then set maxmemory *margin* bytes below what is used: memory drifts down a little
    after a refused write, and Redis must stay full (every write refused) until the keys go."""
    written = start
    for size in (65536, 1024, 16):
        while True:
            try:
                conn.set(f"test:fill:{written}", b"x" * size)
                written += 1
            except redis_lib.exceptions.OutOfMemoryError:
                break
    conn.config_set("maxmemory", str(int(conn.info("memory")["used_memory"]) - margin))
    return written
