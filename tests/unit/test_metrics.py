"""Metrics in one process: what ingest and the error answers count, and what /metrics shows.

Counters live in the process-wide registry, so each test compares before and after.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from dlrhook import metrics, multiproc
from dlrhook.ingest import ingest
from dlrhook.parsing import parse_body
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import stream
from tests.support import sample


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def reports(outcome: str, source: str = "push", channel: str = "SMS") -> float:
    return value("dlrhook_reports_total", source=source, outcome=outcome, channel=channel)


def test_a_push_counts_accepted_then_duplicates(client: FlaskClient) -> None:
    accepted, duplicates = reports("accepted"), reports("duplicate")
    body = sample("v1-two-delivered.json")
    assert client.post("/notify", data=body, content_type="application/json").status_code == 200
    assert (reports("accepted") - accepted, reports("duplicate") - duplicates) == (2, 0)
    assert client.post("/notify", data=body, content_type="application/json").status_code == 200
    assert (reports("accepted") - accepted, reports("duplicate") - duplicates) == (2, 2)


def test_quarantined_reports_are_counted(client: FlaskClient) -> None:
    before = reports("quarantined")
    body = b'{"results":[{"messageId":"m-1"},{"status":{"groupId":3,"groupName":"DELIVERED"}}]}'
    response = client.post("/notify", data=body, content_type="application/json")
    assert response.get_json()["quarantined"] == 2
    assert reports("quarantined") - before == 2


def test_pulled_reports_are_counted_under_their_source(conn: redis_lib.Redis, settings: Settings) -> None:
    before = reports("accepted", source="pull")
    ingest(conn, parse_body(sample("v1-two-delivered.json"), "application/json"), source="pull", settings=settings)
    assert reports("accepted", source="pull") - before == 2


def test_delivery_time_is_observed_once_per_accepted_report(client: FlaskClient) -> None:
    count = "dlrhook_delivery_seconds_count"
    total = "dlrhook_delivery_seconds_sum"
    labels = {"status_group": "DELIVERED", "channel": "SMS"}
    before_count, before_sum = value(count, **labels), value(total, **labels)
    body = sample("v1-two-delivered.json")  # doneAt - sentAt: 0.004 s and 0.011 s
    client.post("/notify", data=body, content_type="application/json")
    client.post("/notify", data=body, content_type="application/json")  # duplicates: not timed again
    assert value(count, **labels) - before_count == 2
    # abs: other tests may have left a huge sum behind (year 1 to 9999), which costs float precision
    assert value(total, **labels) - before_sum == pytest.approx(0.015, abs=1e-3)


def test_ingest_latency_is_observed_per_batch(client: FlaskClient) -> None:
    before = value("dlrhook_ingest_seconds_count", source="push")
    client.post("/notify", data=sample("v1-one-delivered.json"), content_type="application/json")
    assert value("dlrhook_ingest_seconds_count", source="push") - before == 1


def test_rejected_requests_are_counted_by_status(make_app: Callable[..., object]) -> None:
    client = make_app(DLRHOOK_TOKEN="s3cret").test_client()  # type: ignore[attr-defined]
    before_401, before_415 = (
        value("dlrhook_rejected_requests_total", status="401"),
        value("dlrhook_rejected_requests_total", status="415"),
    )
    assert client.post("/notify", data=b"{}", content_type="application/json").status_code == 401
    assert client.post("/notify?token=s3cret", data=b"x", content_type="text/plain").status_code == 415
    assert value("dlrhook_rejected_requests_total", status="401") - before_401 == 1
    assert value("dlrhook_rejected_requests_total", status="415") - before_415 == 1


class _Broken:
    def labels(self, *args: str) -> None:
        raise RuntimeError("metrics backend is broken")


def test_a_metrics_failure_is_logged_and_never_fails_ingest(
    conn: redis_lib.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(metrics, "REPORTS", _Broken())
    with caplog.at_level(logging.WARNING, logger="dlrhook.metrics"):
        result = ingest(
            conn, parse_body(sample("v1-two-delivered.json"), "application/json"), source="push", settings=settings
        )
    assert result.accepted == 2
    assert conn.xlen(keys.REPORTS) == 2
    assert "could not record ingest metrics" in caplog.text


def test_metrics_shows_counters_and_queue_depths_read_from_redis(client: FlaskClient, conn: redis_lib.Redis) -> None:
    stream.register(conn, ["test-record"])
    client.post("/notify", data=sample("v1-two-delivered.json"), content_type="application/json")
    conn.hset("dlrhook:quarantine", "q-1", "{}")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    text = response.get_data(as_text=True)
    assert 'dlrhook_queue_depth{queue="stream"} 2.0' in text
    assert 'dlrhook_queue_depth{queue="inbox"} 2.0' in text  # deprecated duplicate of stream
    assert 'dlrhook_queue_depth{queue="jobs"} 1.0' in text
    assert 'dlrhook_queue_depth{queue="failed"} 0.0' in text
    assert 'dlrhook_queue_depth{queue="quarantine"} 1.0' in text
    assert "dlrhook_redis_up 1.0" in text
    assert 'dlrhook_reports_total{channel="SMS",outcome="accepted",source="push"}' in text


def test_metrics_answers_when_redis_is_down(make_app: Callable[..., object]) -> None:
    client = make_app(REDIS_URL="redis://127.0.0.1:9/0").test_client()  # type: ignore[attr-defined]
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "dlrhook_redis_up 0.0" in text
    assert 'queue="stream"' not in text
    assert 'queue="inbox"' not in text


def test_worker_side_counters_count(monkeypatch: pytest.MonkeyPatch) -> None:
    before = (
        value("dlrhook_handler_calls_total", handler="log", outcome="ok"),
        value("dlrhook_handler_calls_total", handler="log", outcome="failed"),
        value("dlrhook_retries_total", handler="log"),
        value("dlrhook_dead_lettered_total", handler="log"),
    )
    metrics.count_handler_call("log", ok=True, reports=3)
    metrics.count_handler_call("log", ok=False)
    metrics.count_retry("log")
    metrics.count_dead_lettered("log", 2)
    after = (
        value("dlrhook_handler_calls_total", handler="log", outcome="ok"),
        value("dlrhook_handler_calls_total", handler="log", outcome="failed"),
        value("dlrhook_retries_total", handler="log"),
        value("dlrhook_dead_lettered_total", handler="log"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 1, 1, 2]


def test_prepare_clears_files_of_dead_processes_and_keeps_live_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    dead = folder / "counter_999999999.db"  # above any pid_max
    live = folder / f"counter_{os.getpid()}.db"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    monkeypatch.setenv(multiproc.VARIABLE, str(folder))
    assert multiproc.prepare() == folder
    assert not dead.exists()
    assert live.exists()


def test_prepare_makes_a_private_folder_when_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(multiproc.VARIABLE, raising=False)
    folder = multiproc.prepare()
    try:
        assert folder.is_dir()
        assert os.environ[multiproc.VARIABLE] == str(folder)
    finally:
        multiproc.remove_own_folder()
        os.environ.pop(multiproc.VARIABLE, None)  # prepare() set it; monkeypatch restores any earlier value
    assert not folder.exists()


def test_metrics_still_answers_when_the_multiprocess_folder_vanished(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. a /tmp cleaner removed it under a long-running web process
    monkeypatch.setenv(multiproc.VARIABLE, str(tmp_path / "gone"))
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'dlrhook_queue_depth{queue="stream"}' in text
    assert 'dlrhook_queue_depth{queue="inbox"}' in text


def test_a_folder_inherited_from_a_parent_is_never_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    # dlrhook local makes the folder and shares it: the web's gunicorn must not remove it on exit
    # while the worker and poller still write there.
    inherited = Path(tempfile.mkdtemp(prefix="dlrhook-metrics-"))
    monkeypatch.setenv(multiproc.VARIABLE, str(inherited))
    multiproc.forget_own_folder()
    try:
        multiproc.prepare()
        multiproc.remove_own_folder()
        assert inherited.is_dir()
    finally:
        shutil.rmtree(inherited, ignore_errors=True)
