"""The console's blueprint through Flask's test client, on the real test Redis: off without its
password, the login and its limit, the cookie, CSRF, and what each page shows."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient

from dlrhook import activity
from dlrhook.ingest import ingest
from dlrhook.settings import Settings
from dlrhook.status import StatusStore
from dlrhook.store import keys
from dlrhook.webhook.console import guard, reads
from tests.statuses import report
from tests.support import sample

PASSWORD = "correct horse battery staple"
IDS = ["bcfb828b-7df9-4e7b-8715-f34f5c61271a", "12db39c3-7822-4e72-a3ec-c87442c0ffc5"]


class Lines(logging.Handler):
    """The console's log lines as written (before any redaction), whatever configured the root."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def console_log() -> Iterator[Lines]:
    lines = Lines()
    logger = logging.getLogger("dlrhook.console")
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


@pytest.fixture
def console(make_app: Callable[..., Flask]) -> Flask:
    return make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD)


def token(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def log_in(client: FlaskClient, password: str = PASSWORD, **environ: str) -> int:
    answer = client.post(
        "/console/login", data={"password": password, "csrf_token": token(client)}, environ_base=environ
    )
    return answer.status_code


def test_without_its_password_setting_the_console_is_a_404(client: FlaskClient) -> None:
    for path in ("/console", "/console/", "/console/login", "/console/dead-letters"):
        assert client.get(path).status_code == 404
    assert client.post("/console/login", data={"password": "x"}).status_code == 404


def test_a_password_shorter_than_12_characters_stops_the_start_naming_the_variable(
    env: Callable[..., Settings],
) -> None:
    with pytest.raises(Exception, match="DLRHOOK_CONSOLE_PASSWORD: must be at least 12 characters"):
        env(DLRHOOK_CONSOLE_PASSWORD="short")
    assert env(DLRHOOK_CONSOLE_PASSWORD="").console_password is None  # empty is unset: no console


def test_every_page_asks_for_the_login_first(console: Flask) -> None:
    client = console.test_client()
    answer = client.get("/console/messages/m-1")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/login?next=/console/messages/")
    assert log_in(client) == 302
    assert client.get("/console/messages/m-1").status_code == 200


def test_the_session_cookie_is_httponly_strict_for_console_paths_and_secure_behind_tls(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD, DLRHOOK_TRUSTED_PROXIES="1")
    client = app.test_client()
    client.post("/console/login", data={"password": PASSWORD, "csrf_token": token(client)})
    plain = client.get_cookie("dlrhook_console", path="/console")
    assert plain is not None and plain.http_only and plain.same_site == "Strict" and not plain.secure

    tls = app.test_client()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = tls.get("/console/login", headers=headers, base_url="http://dlrhook.example")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf
    answer = tls.post(
        "/console/login",
        data={"password": PASSWORD, "csrf_token": csrf.group(1)},
        headers={**headers, "Referer": "https://dlrhook.example/console/login"},
        base_url="http://dlrhook.example",
    )
    assert answer.status_code == 302
    assert "Secure" in answer.headers["Set-Cookie"] and "HttpOnly" in answer.headers["Set-Cookie"]


def test_a_push_never_gets_a_session_cookie(console: Flask) -> None:
    answer = console.test_client().post(
        "/notify", data=sample("v1-one-delivered.json"), content_type="application/json"
    )
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers


def test_a_session_opened_by_one_process_is_good_in_another(make_app: Callable[..., Flask]) -> None:
    first, second = make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD), make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD)
    client = first.test_client()
    assert log_in(client) == 302
    cookie = client.get_cookie("dlrhook_console", path="/console")
    assert cookie is not None
    other = second.test_client()
    other.set_cookie("dlrhook_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 200  # same key: derived from the secret kept in Redis
    changed = make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD + "!").test_client()
    changed.set_cookie("dlrhook_console", cookie.value, path="/console")
    assert changed.get("/console/").status_code == 302  # a new password ends every session


def test_wrong_passwords_are_rate_limited_per_client_across_processes_and_never_logged(
    make_app: Callable[..., Flask], console_log: Lines
) -> None:
    apps = [make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD) for _ in range(2)]
    for n in range(guard.MAX_FAILURES):
        assert log_in(apps[n % 2].test_client(), f"guess-number-{n}") == 401
    client = apps[0].test_client()
    answer = client.post("/console/login", data={"password": PASSWORD, "csrf_token": token(client)})
    assert answer.status_code == 429 and 0 < int(answer.headers["Retry-After"]) <= guard.WINDOW
    assert "Too many failed attempts" in answer.get_data(as_text=True)
    assert log_in(apps[1].test_client(), PASSWORD, REMOTE_ADDR="10.1.2.3") == 302  # another client is not held
    assert "guess-number" not in console_log.text and PASSWORD not in console_log.text
    assert "wrong password from 127.0.0.1" in console_log.text


def test_a_post_without_the_csrf_token_is_refused_with_403(console: Flask, conn: redis_lib.Redis) -> None:
    client = console.test_client()
    assert client.post("/console/login", data={"password": PASSWORD}).status_code == 403
    assert log_in(client) == 302
    ingest(conn, [{"messageId": "m-1"}], source="push", settings=console.extensions["dlrhook"].settings)
    [entry] = reads.quarantine.newest(conn, 10)
    refused = client.post("/console/quarantine/delete", data={"qid": entry["id"]})
    assert refused.status_code == 403 and "Nothing was changed" in refused.get_data(as_text=True)
    assert conn.hexists("dlrhook:quarantine", entry["id"])
    forged = client.post("/console/quarantine/delete", data={"qid": entry["id"], "csrf_token": "x" * 40})
    assert forged.status_code == 403


def test_the_overview_draws_the_last_hour_from_the_activity_counts(console: Flask, conn: redis_lib.Redis) -> None:
    activity.tally.flush(conn)  # what earlier tests in this process counted
    conn.delete(*conn.keys("dlrhook:activity:*"), keys.LAST_PUSH_CHANNELS)
    client = console.test_client()
    assert (
        client.post("/notify", data=sample("v1-two-delivered.json"), content_type="application/json").status_code == 200
    )
    assert (
        client.post("/notify", data=sample("v1-two-delivered.json"), content_type="application/json").status_code == 200
    )
    assert client.post("/notify", data=b"{", content_type="application/json").status_code == 400
    assert activity.tally.flush(conn)
    log_in(client)
    page = client.get("/console/").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in page
    assert "accepted: 2<" in page and "duplicates: 2<" in page and "refused 400 Bad Request: 1<" in page
    assert "<td>SMS</td>" in page  # the last push per channel
    assert "no maxmemory set" in page or "maxmemory (" in page


def test_a_message_page_shows_its_status_history_raw_reports_masked_and_each_handler(
    console: Flask, conn: redis_lib.Redis, worker_env: Callable[..., Settings], run_jobs: Callable[[Settings], None]
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="status,test-batch", DLRHOOK_RETRY_DELAYS="")
    conn.sadd("test:fail:test-batch", IDS[0])
    ingest(conn, json.loads(sample("v1-two-delivered.json"))["results"], source="push", settings=settings)
    run_jobs(settings)
    client = console.test_client()
    log_in(client)
    page = html.unescape(client.get(f"/console/find?id={IDS[0]}", follow_redirects=True).get_data(as_text=True))
    assert f"Message <code>{IDS[0]}</code>" in page and "DELIVERED_TO_HANDSET" in page
    assert "41793026731" not in page and "4179*****31" in page  # masked as in the logs
    handlers = page.split('id="handlers"')[1].split("</table>")[0]
    assert re.search(r"<td>status</td><td[^>]*>delivered</td>", handlers)
    assert re.search(r"<td>test-batch</td><td[^>]*>dead-lettered</td>", handlers)
    assert "dead letter dead-" in page and '"messageId": "bcfb828b' in page  # the raw report, from the dead letter
    bulk_id = json.loads(sample("v1-two-delivered.json"))["results"][0]["bulkId"]
    assert "1 message, 1 final (100%)" in client.get(f"/console/find?id={bulk_id}", follow_redirects=True).get_data(
        as_text=True
    )


def test_a_bulk_page_draws_its_groups_and_times_to_final_from_the_configured_store(
    make_app: Callable[..., Flask], status_url: str, statuses: StatusStore
) -> None:
    # Done 4 s, 3 s and 200 s after being sent: two in the 5 s bucket, one in the 5 min one.
    statuses.fold(
        [
            report("m-1", "DELIVERED_TO_HANDSET", 4),
            report("m-2", "DELIVERED_TO_HANDSET", 3),
            report("m-3", "UNDELIVERABLE_NOT_DELIVERED", 200),
            report("m-4", "PENDING_ENROUTE", 1),
        ],
        ttl=3600,
    )
    client = make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD, DLRHOOK_STATUS_STORE=status_url).test_client()
    log_in(client)
    page = client.get("/console/find?id=BULK-1", follow_redirects=True).get_data(as_text=True)
    assert "4 messages, 3 final (75%)" in page
    assert "Time to a final status" in page
    assert "<title>≤ 5 s: 2</title>" in page and "<title>≤ 5 min: 1</title>" in page


def test_a_status_store_that_does_not_answer_is_a_503_page(make_app: Callable[..., Flask]) -> None:
    # Nothing listens on port 1: the database is down for the console as for the API.
    app = make_app(DLRHOOK_CONSOLE_PASSWORD=PASSWORD, DLRHOOK_STATUS_STORE="postgresql://dlrhook:pw@127.0.0.1:1/x")
    client = app.test_client()
    log_in(client)
    answer = client.get("/console/messages/m-1")
    assert answer.status_code == 503
    page = answer.get_data(as_text=True)
    assert "The status store does not answer" in page and "pw@" not in page


def test_replaying_a_dead_letter_from_the_page_requeues_it_and_logs_what_it_touched(
    console: Flask,
    conn: redis_lib.Redis,
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    console_log: Lines,
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-batch", DLRHOOK_RETRY_DELAYS="")
    conn.sadd("test:fail:test-batch", *IDS)
    ingest(conn, json.loads(sample("v1-two-delivered.json"))["results"], source="push", settings=settings)
    run_jobs(settings)
    client = console.test_client()
    log_in(client)
    listing = client.get("/console/dead-letters?handler=test-batch&reason=partial").get_data(as_text=True)
    [job_id] = re.findall(r'data-job="([^"]+)"', listing)
    assert client.get("/console/dead-letters?reason=no-such-words").get_data(as_text=True).count("data-job=") == 0

    conn.delete("test:fail:test-batch")
    answer = client.post(
        "/console/dead-letters/replay", data={"job_id": job_id, "csrf_token": token(client, "/console/dead-letters")}
    )
    assert answer.status_code == 302
    assert "re-queued 1 dead letter(s) (2 report(s) for test-batch)" in console_log.text and job_id in console_log.text
    run_jobs(settings)
    assert "data-job=" not in client.get("/console/dead-letters").get_data(as_text=True)


def test_deleting_everything_a_quarantine_filter_shows_leaves_the_rest(console: Flask, conn: redis_lib.Redis) -> None:
    settings = console.extensions["dlrhook"].settings
    ingest(conn, [{"messageId": "m-1"}], source="push", settings=settings)
    ingest(conn, [0], source="pull", settings=settings)
    client = console.test_client()
    log_in(client)
    assert client.get("/console/quarantine").get_data(as_text=True).count("data-entry=") == 2
    answer = client.post(
        "/console/quarantine/delete",
        data={"every": "1", "source": "pull", "csrf_token": token(client, "/console/quarantine")},
        follow_redirects=True,
    )
    page = answer.get_data(as_text=True)
    assert "Quarantine delete of 1 entry: deleted 1." in page
    [left] = reads.quarantine.quarantined(conn)
    assert left["source"] == "push"
