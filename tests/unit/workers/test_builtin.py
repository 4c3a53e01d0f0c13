"""The built-in handlers: ``forward`` signs the Standard Webhooks way and retries non-2xx; ``log`` masks."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib
from flask import Flask
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from standardwebhooks.webhooks import Webhook

from dlrhook import store
from dlrhook.dev.embedded import free_port
from dlrhook.errors import HandlerLoadError
from dlrhook.settings import Settings
from dlrhook.workers import handlers
from tests.support import sample
from tests.support.receiver import SECRET, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def last_traceback(job: Job) -> str:
    result = job.latest_result()
    assert result is not None and result.exc_string
    return result.exc_string


def post(make_app: Callable[..., Flask], name: str) -> None:
    answer = make_app().test_client().post("/notify", data=sample(name), content_type="application/json")
    assert answer.status_code == 200


def test_a_forwarded_report_verifies_with_an_independent_standard_webhooks_check(
    conn: redis_lib.Redis,
    receiver: Receiver,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="forward", DLRHOOK_FORWARD_URL=receiver.url, DLRHOOK_FORWARD_SECRET=SECRET)
    post(make_app, "v3-one-delivered.json")
    run_jobs(settings)

    [(headers, body)] = receiver.requests
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["report"]["message_id"] == "MESSAGE-ID-123-xyz"
    assert payload["report"]["price"] == {"price_per_message": "0.01", "currency": "EUR"}
    assert payload["final"] is True and payload["raw"]["campaignReferenceId"] == "summersale"
    assert headers["webhook-id"] == payload["key"]
    assert headers["content-type"] == "application/json"
    with pytest.raises(Exception, match=r"[Ss]ignature"):
        Webhook("whsec_" + base64.b64encode(b"another secret").decode()).verify(body, headers)


def test_a_non_2xx_answer_is_retried_with_the_same_webhook_id_until_it_is_taken(
    conn: redis_lib.Redis,
    receiver: Receiver,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(
        DLRHOOK_HANDLERS="forward",
        DLRHOOK_FORWARD_URL=receiver.url,
        DLRHOOK_FORWARD_SECRET=SECRET,
        DLRHOOK_RETRY_DELAYS="0,0",
    )
    receiver.statuses = [500, 503]
    post(make_app, "v1-one-delivered.json")
    run_jobs(settings)

    assert len(receiver.requests) == 3
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    for headers, body in receiver.requests:
        Webhook(SECRET).verify(body, headers)
    assert FailedJobRegistry(queue=store.queue(conn, settings)).count == 0


def test_a_receiver_that_keeps_failing_leaves_a_dead_letter(
    conn: redis_lib.Redis,
    receiver: Receiver,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(
        DLRHOOK_HANDLERS="forward",
        DLRHOOK_FORWARD_URL=receiver.url + "?token=s3cr3t",
        DLRHOOK_FORWARD_SECRET=SECRET,
        DLRHOOK_RETRY_DELAYS="0",
    )
    receiver.statuses = [500, 500]
    post(make_app, "v1-one-delivered.json")
    run_jobs(settings)

    [job_id] = FailedJobRegistry(queue=store.queue(conn, settings)).get_job_ids()
    assert job_id.startswith("dead-") and len(receiver.requests) == 2
    job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    assert job.meta["error"].endswith("/hook answered 500 for report " + job.args[1][0]["key"])
    assert "s3cr3t" not in last_traceback(job)
    assert last_traceback(job).startswith("Traceback") and "ForwardError" in last_traceback(job)
    assert (job.meta["handler"], job.meta["attempts"], job.meta["reports"]) == ("forward", 2, 1)


def test_a_redirect_is_not_followed_nor_counted_as_delivered(
    conn: redis_lib.Redis,
    receiver: Receiver,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    elsewhere = Receiver()
    try:
        settings = worker_env(
            DLRHOOK_HANDLERS="forward",
            DLRHOOK_FORWARD_URL=receiver.url,
            DLRHOOK_FORWARD_SECRET=SECRET,
            DLRHOOK_RETRY_DELAYS="0",
        )
        receiver.statuses = [307, 308]
        receiver.location = elsewhere.url
        post(make_app, "v1-one-delivered.json")
        run_jobs(settings)

        assert elsewhere.requests == []  # the signed body went nowhere else
        assert len(receiver.requests) == 2
        [job_id] = FailedJobRegistry(queue=store.queue(conn, settings)).get_job_ids()
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
        assert "answered 308" in job.meta["error"]
    finally:
        elsewhere.server.shutdown()


def test_an_unreachable_receiver_fails_the_report_without_writing_the_urls_token_anywhere(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    settings = worker_env(
        DLRHOOK_HANDLERS="forward",
        DLRHOOK_FORWARD_URL=f"http://127.0.0.1:{port}/hook?token=s3cr3t",
        DLRHOOK_FORWARD_SECRET=SECRET,
        DLRHOOK_RETRY_DELAYS="",
    )
    post(make_app, "v1-one-delivered.json")
    run_jobs(settings)

    [job_id] = FailedJobRegistry(queue=store.queue(conn, settings)).get_job_ids()
    job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    assert "ConnectionError" in job.meta["error"] and f"127.0.0.1:{port}/hook" in job.meta["error"]
    assert "s3cr3t" not in last_traceback(job) and "s3cr3t" not in caplog.text


def test_forward_named_without_a_url_or_secret_stops_the_start_and_is_skipped_by_default(
    env: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(HandlerLoadError, match=r"forward.*DLRHOOK_FORWARD_URL"):
        handlers.select(env(DLRHOOK_HANDLERS="forward"))
    monkeypatch.delenv("DLRHOOK_HANDLERS")
    assert "forward" not in [h.name for h in handlers.select(env())]
    assert "log" in [h.name for h in handlers.select(env())]


def test_the_log_handler_writes_one_json_line_per_report_with_the_number_masked(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="log")
    post(make_app, "v1-two-delivered.json")
    with caplog.at_level(logging.INFO, logger="dlrhook.reports"):
        run_jobs(settings)

    lines = [r for r in caplog.records if r.name == "dlrhook.reports"]
    assert [getattr(r, "to") for r in lines] == ["4179*****31", "4179*****27"]  # noqa: B009
    assert "41793026731" not in caplog.text and "41793026727" not in caplog.text
    assert all(getattr(r, "status") == "DELIVERED_TO_HANDSET" for r in lines)  # noqa: B009
    from dlrhook.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(lines[0]))
    assert line["message_id"] == "bcfb828b-7df9-4e7b-8715-f34f5c61271a" and line["to"] == "4179*****31"


def test_a_forward_secret_not_in_whsec_form_is_a_settings_error(env: Callable[..., Settings]) -> None:
    from dlrhook.errors import SettingsError

    with pytest.raises(SettingsError, match="DLRHOOK_FORWARD_SECRET"):
        env(DLRHOOK_FORWARD_SECRET="plain-secret")
