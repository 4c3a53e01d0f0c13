"""How many messages a Redis plan holds with the status handler on (README, "Deploy to Heroku").

A real web (gunicorn) and a real ``dlrhook worker`` running ``status`` on the embedded Valkey:
*n* messages pushed twice each (PENDING, then DELIVERED: two reports a message, as most SMS
get), 100 reports a request. Once the worker has folded them all and the stream is trimmed,
Redis's ``used_memory`` (what ``maxmemory`` counts) against the empty start gives the bytes a
message keeps; deleting the dedup marks splits that into the status record (kept
``DLRHOOK_STATUS_TTL``, 7 days) and the dedup mark of each report (kept ``DLRHOOK_DEDUP_TTL``,
48 h). From those: messages a day that a plan of a given size sustains below the 503 mark
(``DLRHOOK_REDIS_HIGH_WATER``, 90 %)::

    .venv/bin/python -m bench.plan_size [--messages 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.run import ROOT, Bench, machine, process
from dlrhook import defaults
from dlrhook.dev.embedded import EmbeddedRedis
from dlrhook.store import keys

PENDING = {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE", "description": "en route"}
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET", "description": "ok"}
#: Plan sizes to print (maxmemory, bytes): a small plan, and common steps up.
PLANS = (("25 MB", 25 * 2**20), ("100 MB", 100 * 2**20), ("1 GB", 2**30), ("7 GB", 7 * 2**30))


def push(port: int, body: bytes) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/notify", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  # our own http:// URL
        if answer.status != 200:
            raise RuntimeError(f"push answered {answer.status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    n = parser.parse_args().messages
    with tempfile.TemporaryDirectory(prefix="dlrhook-bench-") as data, EmbeddedRedis(data) as server:
        bench = Bench(10, server.url)
        conn = bench.conn
        bench.flush()
        port, web = bench.web()
        env = {**bench.env, "DLRHOOK_HANDLERS": "status"}
        worker = [str(Path(sys.executable).with_name("dlrhook")), "worker"]
        template = json.loads((ROOT / "tests/samples/v1-one-delivered.json").read_text())["results"][0]
        with web(), process(worker, env):
            while not conn.hexists(keys.HANDLERS, "status"):
                time.sleep(0.05)
            time.sleep(1)
            before = int(conn.info("memory")["used_memory"])
            for status in (PENDING, DELIVERED):
                for start in range(0, n, 100):
                    batch = [
                        {**template, "messageId": f"plan-{i}", "status": status}
                        for i in range(start, min(n, start + 100))
                    ]
                    push(port, json.dumps({"results": batch}).encode())
            deadline = time.monotonic() + 300
            while conn.xlen(keys.REPORTS) or conn.llen("rq:queue:dlrhook"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker did not fold every report in 300 s")
                time.sleep(0.2)
            time.sleep(1)
            after = int(conn.info("memory")["used_memory"])
            sampled = conn.memory_usage(f"{keys.MESSAGE_PREFIX}plan-0") or 0
            seen = [k for k in conn.scan_iter(match=keys.SEEN_PREFIX + b"*", count=1000)]
            for start in range(0, len(seen), 1000):
                conn.delete(*seen[start : start + 1000])
            time.sleep(0.5)
            status_only = int(conn.info("memory")["used_memory"])
    per_message = (after - before) / n
    per_status = (status_only - before) / n
    per_mark = (after - status_only) / len(seen) if seen else 0.0
    status_days = defaults.STATUS_TTL / 86400
    dedup_days = defaults.DEDUP_TTL / 86400
    # Steady state for M messages a day: M * status_days records, 2 * M * dedup_days marks.
    per_daily_message = status_days * per_status + 2 * dedup_days * per_mark
    print(f"machine: {machine()}")
    print(f"command: python -m bench.plan_size --messages {n}\n")
    print("| figure | measured |")
    print("|---|---|")
    print(f"| Redis used_memory per message, 2 reports, status handler on, all kept | {per_message:,.0f} bytes |")
    print(f"| of which the status record (hash, bulk counters, index) | {per_status:,.0f} bytes |")
    print(f"| a dedup mark, per report ({len(seen):,} marks) | {per_mark:,.0f} bytes |")
    print(f"| MEMORY USAGE of one message's status hash | {sampled:,} bytes |")
    for name, size in PLANS:
        daily = defaults.REDIS_HIGH_WATER * size / per_daily_message
        print(
            f"| a {name} maxmemory holds, below the 503 mark, at {status_days:.0f} days of status | "
            f"{daily:,.0f} messages a day ({daily * status_days:,.0f} kept) |"
        )


if __name__ == "__main__":
    main()
