"""A handler plugin for the tests, installed as a real entry point (dist-info beside it).

Each handler records its calls in Redis (lists ``test:calls:<handler>``) so that tests see
calls made in worker subprocesses too; failures are switched on through Redis keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from typing import Any

import redis
from rq import get_current_job

from dlrhook import PartialFailure, batch_handler
from dlrhook.report import DeliveryReport


def _conn() -> redis.Redis:
    job = get_current_job()
    assert job is not None
    return job.connection


def describe(report: DeliveryReport) -> dict[str, str]:
    """Every attribute a handler can read, as repr() (so types count, not only values)."""
    names = [
        "message_id",
        "bulk_id",
        "to",
        "sender",
        "sent_at",
        "done_at",
        "message_count",
        "mcc_mnc",
        "callback_data",
        "entity_id",
        "application_id",
        "campaign_reference_id",
        "final",
        "source",
        "channel",
        "kind",
        "seen_at",
    ]
    out = {name: repr(getattr(report, name)) for name in names}
    for name in ("price_per_message", "currency"):
        out[f"price.{name}"] = repr(getattr(report.price, name)) if report.price else "None"
    for name in ("group_id", "group_name", "id", "name", "description"):
        out[f"status.{name}"] = repr(getattr(report.status, name)) if report.status else "None"
    for name in ("group_id", "group_name", "id", "name", "description", "permanent"):
        out[f"error.{name}"] = repr(getattr(report.error, name)) if report.error else "None"
    out["key"] = report.key
    out["received_at"] = report.received_at.isoformat()
    out["raw"] = json.dumps(report.raw, sort_keys=True, default=str)
    return out


def record(report: DeliveryReport) -> None:
    _conn().rpush("test:calls:test-record", json.dumps(describe(report)))


@batch_handler
def record_batch(reports: list[DeliveryReport]) -> None:
    conn = _conn()
    conn.rpush("test:calls:test-batch", json.dumps([r.message_id for r in reports]))
    failing = {m.decode() for m in conn.smembers("test:fail:test-batch")}
    failed = [r for r in reports if r.message_id in failing]
    if failed:
        raise PartialFailure(failed)


def flaky(report: DeliveryReport) -> None:
    """Fails the first two calls for each message id in the set ``test:flaky``."""
    conn = _conn()
    conn.rpush("test:calls:test-flaky", report.message_id)
    if conn.sismember("test:flaky", report.message_id) and conn.incr(f"test:flaky:{report.message_id}") <= 2:
        raise RuntimeError(f"flaky failure for {report.message_id}")


def broken(report: DeliveryReport) -> None:
    """Fails while the key ``test:broken`` exists (the test 'fixes' it by deleting the key)."""
    conn = _conn()
    conn.rpush("test:calls:test-broken", report.message_id)
    if conn.exists("test:broken"):
        raise ConnectionError("receiver is down")


def slow(report: DeliveryReport) -> None:
    """Takes ``test:slow`` seconds (default 0.3) a report, then records it."""
    conn = _conn()
    conn.rpush("test:started:test-slow", report.message_id)
    time.sleep(float(conn.get("test:slow") or 0.3))
    conn.rpush("test:calls:test-slow", report.message_id)


def calls(conn: redis.Redis, handler: str) -> list[Any]:
    """The recorded calls of *handler*, decoded."""
    return [json.loads(v) if v[:1] in (b"{", b"[") else v.decode() for v in conn.lrange(f"test:calls:{handler}", 0, -1)]


def record_too(report: DeliveryReport) -> None:
    """A second recording handler (message ids only), to show handlers progress apart."""
    _conn().rpush("test:calls:test-record-too", report.message_id)


def hang(report: DeliveryReport) -> None:
    """For message ids in ``test:hang``: sleeps an hour (Python code, interruptible), or with
    ``test:hang:c`` set, computes in C code (OpenSSL's PBKDF2, a billion rounds) that no signal
    interrupts, or with ``test:hang:gil`` in a C loop that also holds the GIL (no other thread
    of the process runs). Others are recorded."""
    conn = _conn()
    if conn.sismember("test:hang", report.message_id):
        conn.rpush("test:started:test-hang", report.message_id)
        if conn.exists("test:hang:c"):
            hashlib.pbkdf2_hmac("sha256", b"stuck", b"in C", 10**9)  # many minutes in OpenSSL
        if conn.exists("test:hang:gil"):
            sum(range(10**14))  # hours in one C loop that never lets go of the GIL
        time.sleep(3600)
    conn.rpush("test:calls:test-hang", report.message_id)


def crash(report: DeliveryReport) -> None:
    """Kills its own process (SIGKILL) for message ids in ``test:poison``; records the others."""
    conn = _conn()
    conn.rpush("test:started:test-crash", report.message_id)
    if conn.sismember("test:poison", report.message_id):
        os.kill(os.getpid(), signal.SIGKILL)
    conn.rpush("test:calls:test-crash", report.message_id)


def sleep5(report: DeliveryReport) -> None:
    """A handler as fast as a database upsert: 5 ms a report."""
    time.sleep(0.005)
    conn = _conn()
    conn.rpush("test:calls:test-sleep5", report.message_id)
    conn.hincrby("test:pids:test-sleep5", str(os.getpid()), 1)


def leaky(report: DeliveryReport) -> None:
    """Always fails, careless with personal data: it logs the report and raises with it."""
    logging.getLogger("dlrhook_testplugin").warning("cannot deliver %r to %s", report, report.to)
    raise RuntimeError(f"cannot deliver {report!r} to {report.to}")


def record_file(report: DeliveryReport) -> None:
    """Appends the message id to the file named by ``DLRHOOK_TEST_FILE`` (one line each, atomic
    appends): a recorder that needs no Redis, so that it works while Redis refuses writes.
    ``DLRHOOK_TEST_FILE_DELAY``: seconds each call takes first."""
    time.sleep(float(os.environ.get("DLRHOOK_TEST_FILE_DELAY", "0")))
    fd = os.open(os.environ["DLRHOOK_TEST_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (report.message_id + "\n").encode())
    finally:
        os.close(fd)
