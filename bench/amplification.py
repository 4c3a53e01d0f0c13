"""What hostile pushes cost: Redis bytes one push makes Redis hold, and how long it is answered in.

Runs the real Flask app (its test client: no socket, so the figure is dlrhook's own cost) on a
fresh embedded Valkey, one push at a time:

- ``zeros``: a JSON body of 10,000 ``0``s (each one a report that is no object, so quarantined);
- ``bad-objects``: 10,000 objects without a ``messageId`` (each quarantined, errors named);
- ``big-invalid``: one report without a ``messageId`` whose ``callbackData`` is 1 MB of text;
- ``1000-valid``: 1,000 valid reports (the v1 sample), for comparison: what accepting costs.

For each: the body's size, what the dlrhook keys hold then (their ``MEMORY USAGE``), the
ratio, and the best of 3 answer times.

Then ``dlrhook pull`` as a process against a hostile Infobip URL (the tests' fake Infobip, a
real HTTP server): one answer each of 150 MB, a 1 GB gzip bomb (1 MB of gzip) and one
trickled a byte every 0.1 s, each followed by a normal page: the process's peak RSS
(``wait4``), its wall time, and the reports it took.

    python -m bench.amplification
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import redis

from dlrhook.dev.embedded import EmbeddedRedis


def bodies() -> dict[str, bytes]:
    root = Path(__file__).resolve().parent.parent
    valid = json.loads((root / "tests" / "samples" / "v1-one-delivered.json").read_text())["results"][0]
    return {
        "zeros": json.dumps({"results": [0] * 10_000}, separators=(",", ":")).encode(),
        "bad-objects": json.dumps({"results": [{"n": i} for i in range(10_000)]}, separators=(",", ":")).encode(),
        "big-invalid": json.dumps({"results": [{"callbackData": "x" * 1_000_000}]}).encode(),
        "1000-valid": json.dumps({"results": [dict(valid, messageId=f"m-{i}") for i in range(1000)]}).encode(),
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
        pulls(server.url)
        print(f"\ncommand: python -m bench.amplification {' '.join(sys.argv[1:])}")


def gzip_of_spaces(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    mb = b" " * 1_000_000
    return b"".join(packer.compress(mb) for _ in range(size // 1_000_000)) + packer.flush()


def pulls(redis_url: str) -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    fake_infobip = importlib.import_module("tests.fake_infobip")  # the tests' own, not type-checked here
    Answer, FakeInfobip, make_reports = fake_infobip.Answer, fake_infobip.FakeInfobip, fake_infobip.make_reports

    dlrhook = str(Path(sys.executable).parent / "dlrhook")
    answers = {
        "normal": None,
        "150 MB": Answer(size=150_000_000),
        "1 GB gzip": Answer(body=gzip_of_spaces(1_000_000_000), headers={"Content-Encoding": "gzip"}),
        "trickle": Answer(body=json.dumps({"results": make_reports(5)}).encode(), trickle=0.1),
    }
    print(f"\n{'dlrhook pull vs':<16} {'peak RSS':>10} {'wall':>8} {'reports':>8}")
    for name, answer in answers.items():
        with FakeInfobip(api_key="bench-key", max_limit=1000) as fake, tempfile.TemporaryDirectory() as tmp:
            fake.add_reports(make_reports(1000))
            if answer is not None:
                fake.inject(answer)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRHOOK_", "INFOBIP_"))}
            env.update(
                REDIS_URL=redis_url,
                INFOBIP_BASE_URL=fake.url,
                INFOBIP_API_KEY="bench-key",
                DLRHOOK_PULL_BACKOFF="0.1",
                DLRHOOK_LOG_LEVEL="ERROR",
            )
            started = time.monotonic()
            with open(Path(tmp) / "out", "wb") as out:
                proc = subprocess.Popen([dlrhook, "pull"], env=env, stdout=out, stderr=subprocess.DEVNULL)
                _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - started
            lines = (Path(tmp) / "out").read_bytes().splitlines()
            took = (
                json.loads(lines[-1]).get("accepted", "?")
                if lines and os.waitstatus_to_exitcode(status) == 0
                else "failed"
            )
            print(f"{name:<16} {usage.ru_maxrss / 1024:>7.0f} MB {wall:>6.1f} s {took!s:>8}")
        redis.Redis.from_url(redis_url).flushdb()


if __name__ == "__main__":
    main()
