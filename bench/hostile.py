"""What hostile pushes cost: Redis bytes one push makes Redis hold, and how long it is answered in.

Runs the real Flask app (its test client: no socket, so the figure is dlrhook's own cost) on a
fresh embedded Valkey, one push at a time:

- ``zeros``: a JSON body of 10,000 ``0``s (each one a report that is no object, so quarantined);
- ``bad-objects``: 10,000 objects without a ``messageId`` (each quarantined, errors named);
- ``big-invalid``: one report without a ``messageId`` whose ``callbackData`` is 1 MB of text.

For each: the body's size, what the dlrhook keys hold then (their ``MEMORY USAGE``), the
ratio, and the best of 3 answer times.

    python -m bench.hostile
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import redis

from dlrhook.dev.embedded import EmbeddedRedis


def bodies() -> dict[str, bytes]:
    return {
        "zeros": json.dumps({"results": [0] * 10_000}, separators=(",", ":")).encode(),
        "bad-objects": json.dumps({"results": [{"n": i} for i in range(10_000)]}, separators=(",", ":")).encode(),
        "big-invalid": json.dumps({"results": [{"callbackData": "x" * 1_000_000}]}).encode(),
    }


def held(conn: redis.Redis) -> int:
    return sum(int(conn.memory_usage(k, samples=0) or 0) for k in conn.scan_iter(match="dlrhook:*"))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-") as data, EmbeddedRedis(data, appendonly=False) as server:
        for name in [n for n in os.environ if n.startswith(("DLRHOOK_", "INFOBIP_"))]:
            del os.environ[name]
        os.environ["REDIS_URL"] = server.url
        os.environ["DLRHOOK_LOG_LEVEL"] = "ERROR"
        from dlrhook.settings import load_settings
        from dlrhook.webhook.app import create_app

        client = create_app(load_settings()).test_client()
        conn = redis.Redis.from_url(server.url)
        print(f"{'push':<12} {'body':>10} {'keys hold':>11} {'ratio':>7} {'answer':>9}")
        for name, body in bodies().items():
            times = []
            kept = 0
            for _ in range(3):
                conn.flushdb()
                started = time.perf_counter()
                answer = client.post("/notify", data=body, content_type="application/json")
                times.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
                kept = held(conn)
            print(f"{name:<12} {len(body):>10,} {kept:>11,} {kept / len(body):>6.1f}x {min(times) * 1000:>7.0f} ms")
        print(f"\ncommand: python -m bench.hostile {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
