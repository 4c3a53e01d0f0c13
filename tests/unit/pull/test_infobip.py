"""The Infobip reports client against the fake Infobip server: one request, and what it means."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest

from dlrhook.dev.embedded import free_port
from dlrhook.errors import InfobipAuthError, InfobipRequestError, InfobipUnavailable
from dlrhook.pull.infobip import InfobipClient, retry_after_seconds
from tests.fake_infobip import Answer, FakeInfobip, make_reports

KEY = "client-test-key-42"


@pytest.fixture
def fake() -> Iterator[FakeInfobip]:
    with FakeInfobip(api_key=KEY, max_limit=100) as server:
        yield server
        server.assert_well_behaved()


def client_for(url: str, *, read_timeout: float = 5.0, **credential: str) -> InfobipClient:
    credential = credential or {"api_key": KEY}
    return InfobipClient(
        url, "/sms/1/reports", max_limit=100, connect_timeout=2.0, read_timeout=read_timeout, **credential
    )


def test_fetch_sends_the_api_key_as_app_authorization_and_asks_for_json(fake: FakeInfobip) -> None:
    fake.add_reports(make_reports(3))
    body = client_for(fake.url).fetch(10)
    assert body.startswith(b'{"results": [')
    (request,) = fake.log()
    assert request.authorized and request.accept == "application/json"
    assert request.params == {"limit": "10"}


def test_every_request_names_the_installed_release_in_its_user_agent() -> None:
    client = client_for("http://127.0.0.1:9")
    assert client.session.headers["User-Agent"] == f"dlrhook-poller/{version('dlrhook')}"


@pytest.mark.parametrize("url", ["https://u:hunter2@xyz.api.infobip.com", "http://xyz.api.infobip.com"])
def test_a_client_refuses_credentials_in_the_url_and_plain_http_off_this_machine(url: str) -> None:
    with pytest.raises(ValueError, match="Infobip base URL") as caught:
        client_for(url)
    assert "hunter2" not in str(caught.value) and "xyz" not in str(caught.value)


def test_fetch_sends_basic_credentials_and_the_bulk_and_message_filters() -> None:
    with FakeInfobip(api_key=None, username="user", password="pa:ss") as fake:
        fake.add_reports(make_reports(3, bulk_id="B1"))
        client_for(fake.url, username="user", password="pa:ss").fetch(5, bulk_id="B1", message_id="m-1")
        (request,) = fake.log()
    assert request.authorized
    assert request.params == {"limit": "5", "bulkId": "B1", "messageId": "m-1"}


def test_a_limit_above_the_configured_maximum_is_refused_before_any_request(fake: FakeInfobip) -> None:
    with pytest.raises(ValueError, match="DLRHOOK_PULL_LIMIT"):
        client_for(fake.url).fetch(101)
    assert fake.requests == []


def test_a_wrong_key_is_an_auth_error_naming_the_setting_without_the_key(fake: FakeInfobip) -> None:
    with pytest.raises(InfobipAuthError) as caught:
        client_for(fake.url, api_key="not-the-key").fetch(10)
    assert caught.value.status == 401 and caught.value.setting == "INFOBIP_API_KEY"
    assert "INFOBIP_API_KEY" in str(caught.value) and "not-the-key" not in str(caught.value)


def test_wrong_basic_credentials_name_the_username_and_password_settings(fake: FakeInfobip) -> None:
    with pytest.raises(InfobipAuthError, match="INFOBIP_USERNAME/INFOBIP_PASSWORD"):
        client_for(fake.url, username="u", password="p").fetch(10)


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [(Answer(status=429), None), (Answer(status=429, retry_after="7"), 7.0), (Answer(status=502), None)],
    ids=["429", "429-retry-after", "502"],
)
def test_429_and_5xx_are_unavailable_with_the_retry_after_infobip_asked_for(
    fake: FakeInfobip, answer: Answer, retry_after: float | None
) -> None:
    fake.inject(answer)
    with pytest.raises(InfobipUnavailable) as caught:
        client_for(fake.url).fetch(10)
    assert caught.value.status == answer.status and caught.value.retry_after == retry_after


def test_a_wrong_path_is_a_request_error_naming_the_path_setting(fake: FakeInfobip) -> None:
    client = InfobipClient(fake.url, "/sms/9/nothing", api_key=KEY, max_limit=100, connect_timeout=2, read_timeout=5)
    with pytest.raises(InfobipRequestError, match="DLRHOOK_PULL_PATH"):
        client.fetch(10)


def test_an_answer_slower_than_the_read_timeout_is_unavailable(fake: FakeInfobip) -> None:
    fake.inject(Answer(delay=1.0))
    started = time.monotonic()
    with pytest.raises(InfobipUnavailable, match="Timeout"):
        client_for(fake.url, read_timeout=0.2).fetch(10)
    assert time.monotonic() - started < 0.9
    time.sleep(1.0)  # let the fake finish that answer, so the next test's server is alone


def test_a_refused_connection_is_unavailable() -> None:
    with pytest.raises(InfobipUnavailable, match="ConnectionError"):
        client_for(f"http://127.0.0.1:{free_port()}").fetch(10)


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    in_30_s = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds("120") == 120.0
    assert 28 <= (retry_after_seconds(in_30_s) or 0) <= 31
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_the_account_id_is_stable_per_account_and_credential_and_hides_the_key() -> None:
    a = client_for("https://x1.api.infobip.com")
    assert a.account_id == client_for("https://x1.api.infobip.com/").account_id
    assert a.account_id != client_for("https://x2.api.infobip.com").account_id
    assert a.account_id != client_for("https://x1.api.infobip.com", api_key="other").account_id
    assert KEY not in a.account_id
