"""A bad environment value stops the start with a message naming the variable."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from dlrhook import defaults
from dlrhook.errors import SettingsError
from dlrhook.settings import VARIABLES, Settings


def test_defaults_follow_the_design(env: Callable[..., Settings]) -> None:
    s = env()

    assert s.retry_delays == (10, 60, 300, 1800, 7200)
    assert s.dedup_ttl == 172800
    assert s.pull_mode == "fallback"
    assert s.pull_limit == 1000
    assert s.pull_path == "/sms/1/reports"
    assert s.port == 8000
    assert s.auth_mode == "open"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DLRHOOK_MAX_BODY", "lots"),
        ("DLRHOOK_DEDUP_TTL", "0"),
        ("DLRHOOK_RETRY_DELAYS", "10,soon"),
        ("DLRHOOK_RETRY_DELAYS", "10,-5"),
        ("DLRHOOK_BASIC_AUTH", "no-colon"),
        ("DLRHOOK_ALLOWED_IPS", "10.0.0.0/33"),
        ("DLRHOOK_TRUSTED_PROXIES", "-1"),
        ("DLRHOOK_PULL_MODE", "sometimes"),
        ("DLRHOOK_PULL_LIMIT", "20000"),
        ("DLRHOOK_PULL_PATH", "sms/1/reports"),
        ("INFOBIP_BASE_URL", "not a url"),
        ("PORT", "http"),
    ],
)
def test_a_bad_value_is_refused_by_name(env: Callable[..., Settings], name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        env(**{name: value})


def test_every_bad_value_is_reported_at_once(env: Callable[..., Settings]) -> None:
    with pytest.raises(SettingsError) as caught:
        env(DLRHOOK_MAX_BODY="x", DLRHOOK_PULL_MODE="y")

    assert "DLRHOOK_MAX_BODY" in str(caught.value)
    assert "DLRHOOK_PULL_MODE" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://user:hunter2@xyz.api.infobip.com", "https://k3y@xyz.api.infobip.com", "http://xyz.api.infobip.com"],
)
def test_an_infobip_url_with_credentials_or_plain_http_is_refused_without_echoing_it(
    env: Callable[..., Settings], url: str
) -> None:
    with pytest.raises(SettingsError, match="INFOBIP_BASE_URL") as caught:
        env(INFOBIP_BASE_URL=url, INFOBIP_API_KEY="k")
    assert not any(part in str(caught.value) for part in ("hunter2", "k3y", "xyz"))


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
def test_plain_http_is_accepted_for_this_machine(env: Callable[..., Settings], host: str) -> None:
    assert env(INFOBIP_BASE_URL=f"http://{host}/", INFOBIP_API_KEY="k").infobip_base_url == f"http://{host}"


def test_an_infobip_account_needs_credentials(env: Callable[..., Settings]) -> None:
    with pytest.raises(SettingsError, match="INFOBIP_API_KEY"):
        env(INFOBIP_BASE_URL="https://xyz.api.infobip.com")


def test_the_status_settings_have_defaults_and_reconciliation_is_off_unless_set(env: Callable[..., Settings]) -> None:
    settings = env(DLRHOOK_RECONCILE_AFTER="")

    assert (settings.api_token, settings.status_ttl, settings.reconcile_after) == (None, 7 * 24 * 3600, None)
    assert "api-secret-value" not in repr(env(DLRHOOK_API_TOKEN="api-secret-value"))
    assert env(DLRHOOK_RECONCILE_AFTER="3600").reconcile_after == 3600


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_bad_reconcile_after_stops_the_start_naming_it(env: Callable[..., Settings], value: str) -> None:
    with pytest.raises(SettingsError, match="DLRHOOK_RECONCILE_AFTER"):
        env(DLRHOOK_RECONCILE_AFTER=value)


def test_each_variable_is_one_field_and_an_unset_environment_is_every_field_default(
    env: Callable[..., Settings],
) -> None:
    settings = env()

    assert len(VARIABLES) == len(set(VARIABLES)) == len(dataclasses.fields(Settings)) - 1  # redis_is_embedded
    assert dataclasses.replace(settings, redis_url=defaults.EMBEDDED_REDIS_URL, redis_is_embedded=True) == Settings()
