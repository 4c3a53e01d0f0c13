"""Push authentication: token, Basic with rotation, and the IP allowlist behind proxies."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from flask import Flask

from tests.support import sample

BODY = sample("v1-one-delivered.json")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def push(app: Flask, url: str = "/notify", **kwargs):  # type: ignore[no-untyped-def]
    return app.test_client().post(url, data=BODY, content_type="application/json", **kwargs)


def assert_refused(answer, status: int) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == status
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["status"] == status


def test_the_token_passes_in_the_query_string_or_as_bearer(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_TOKEN="s3cret-token")

    assert push(app, "/notify?token=s3cret-token").status_code == 200
    assert push(app, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/notify", {}),
        ("/notify?token=wrong", {}),
        ("/notify?token=", {}),
        ("/notify", {"Authorization": "Bearer wrong"}),
        ("/notify", {"Authorization": "Bearer"}),
        ("/notify", {"Authorization": "garbage \xff"}),
    ],
)
def test_a_missing_or_wrong_token_is_a_401(make_app: Callable[..., Flask], url: str, headers: dict[str, str]) -> None:
    answer = push(make_app(DLRHOOK_TOKEN="s3cret-token"), url, headers=headers)

    assert_refused(answer, 401)
    assert "WWW-Authenticate" in answer.headers
    assert "s3cret" not in answer.get_data(as_text=True)


def test_basic_auth_accepts_every_rotated_credential(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_BASIC_AUTH="infobip:old-pass,infobip:new-pass")

    assert push(app, headers=basic("infobip", "old-pass")).status_code == 200
    assert push(app, headers=basic("infobip", "new-pass")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [basic("infobip", "wrong"), basic("someone", "old-pass"), {"Authorization": "Basic !!!"}, {}],
)
def test_a_wrong_basic_password_is_a_401(make_app: Callable[..., Flask], headers: dict[str, str]) -> None:
    assert_refused(push(make_app(DLRHOOK_BASIC_AUTH="infobip:old-pass"), headers=headers), 401)


def test_either_credential_passes_when_both_are_set(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_TOKEN="tok", DLRHOOK_BASIC_AUTH="u:p")

    assert push(app, "/notify?token=tok").status_code == 200
    assert push(app, headers=basic("u", "p")).status_code == 200
    assert_refused(push(app, headers=basic("u", "x")), 401)


def test_an_address_outside_the_allowlist_is_a_403(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="10.0.0.0/8, 192.0.2.7", DLRHOOK_ALLOWLIST_ONLY="true")

    assert push(app, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert push(app, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert_refused(push(app, environ_base={"REMOTE_ADDR": "198.51.100.1"}), 403)


def test_the_client_address_is_read_through_the_trusted_proxies_only(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="203.0.113.0/24", DLRHOOK_TRUSTED_PROXIES="1", DLRHOOK_ALLOWLIST_ONLY="true")
    via_router = {"REMOTE_ADDR": "10.9.9.9"}

    ok = push(app, environ_base=via_router, headers={"X-Forwarded-For": "203.0.113.5"})
    # A client that forges the header gets its own address appended by the router: still refused.
    forged = push(app, environ_base=via_router, headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.1"})

    assert ok.status_code == 200
    assert_refused(forged, 403)


def test_without_trusted_proxies_the_forwarded_header_is_ignored(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="203.0.113.0/24", DLRHOOK_ALLOWLIST_ONLY="true")

    answer = push(app, environ_base={"REMOTE_ADDR": "198.51.100.1"}, headers={"X-Forwarded-For": "203.0.113.5"})

    assert_refused(answer, 403)


def test_the_allowlist_and_a_token_must_both_pass(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="127.0.0.1", DLRHOOK_TOKEN="tok")

    assert push(app, "/notify?token=tok").status_code == 200
    assert_refused(push(app, "/notify?token=bad"), 401)
    assert_refused(push(app, "/notify?token=tok", environ_base={"REMOTE_ADDR": "10.0.0.1"}), 403)


def test_an_open_endpoint_says_so_loudly_at_start(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    make_app()
    assert any(r.levelname == "WARNING" and "NO AUTHENTICATION" in r.getMessage() for r in caplog.records)


def test_an_allowlist_alone_is_refused_at_start_naming_why(env: Callable[..., object]) -> None:
    from dlrhook.errors import SettingsError

    with pytest.raises(SettingsError, match=r"DLRHOOK_ALLOWED_IPS.*DLRHOOK_ALLOWLIST_ONLY=true"):
        env(DLRHOOK_ALLOWED_IPS="infobip")
    env(DLRHOOK_ALLOWED_IPS="infobip", DLRHOOK_BASIC_AUTH="u:p")  # with a secret it starts


def test_an_allowlist_alone_chosen_explicitly_runs_and_warns(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="127.0.0.1", DLRHOOK_ALLOWLIST_ONLY="true")

    assert any(r.levelname == "WARNING" and "ALLOWLIST ONLY" in r.getMessage() for r in caplog.records)
    assert push(app).status_code == 200


def test_every_token_of_a_comma_separated_list_passes_for_rotation(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_TOKEN="old-token, new-token")

    assert push(app, "/notify?token=old-token").status_code == 200
    assert push(app, headers={"Authorization": "Bearer new-token"}).status_code == 200
    assert_refused(push(app, "/notify?token=old-token,new-token"), 401)
    assert_refused(push(app, "/notify?token=other"), 401)
    assert app.extensions["dlrhook"].settings.token == "old-token"  # what `dlrhook simulate` sends


def test_secrets_are_not_in_the_settings_repr(make_app: Callable[..., Flask]) -> None:
    settings = make_app(DLRHOOK_TOKEN="tok-123", DLRHOOK_BASIC_AUTH="u:pw-456").extensions["dlrhook"].settings

    assert "tok-123" not in repr(settings)
    assert "pw-456" not in repr(settings)


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        ("193.105.74.12", 200),  # 193.105.74.0/24
        ("83.166.95.255", 200),  # the last address of 83.166.64.0/19
        ("20.108.54.3", 200),  # a /32 of the list
        ("10.20.30.40", 200),  # the CIDR listed beside `infobip`
        ("83.166.96.0", 403),  # one past 83.166.64.0/19
        ("20.108.54.4", 403),
        ("198.51.100.1", 403),
    ],
)
def test_the_infobip_keyword_allows_infobips_published_ranges_through_a_trusted_proxy(
    make_app: Callable[..., Flask], forwarded: str, status: int
) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="infobip,10.0.0.0/8", DLRHOOK_TRUSTED_PROXIES="1", DLRHOOK_ALLOWLIST_ONLY="true")
    via_router = {"REMOTE_ADDR": "172.16.0.9"}  # Heroku's router: not itself allowed

    answer = push(app, "/notify/whatsapp", environ_base=via_router, headers={"X-Forwarded-For": forwarded})

    assert answer.status_code == status, answer.get_data(as_text=True)
    if status == 403:
        assert_refused(answer, 403)


def test_an_infobip_address_forged_in_front_of_the_real_one_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app(DLRHOOK_ALLOWED_IPS="Infobip", DLRHOOK_TRUSTED_PROXIES="1", DLRHOOK_ALLOWLIST_ONLY="true")
    via_router = {"REMOTE_ADDR": "172.16.0.9"}

    forged = push(app, environ_base=via_router, headers={"X-Forwarded-For": "193.105.74.12, 198.51.100.1"})

    assert_refused(forged, 403)


def test_the_infobip_keyword_stands_for_every_published_range(env: Callable[..., object]) -> None:
    import ipaddress

    from dlrhook.safelist import INFOBIP_RANGES

    settings = env(DLRHOOK_ALLOWED_IPS="infobip, 10.0.0.0/8", DLRHOOK_ALLOWLIST_ONLY="true")

    nets = settings.allowed_ips  # type: ignore[attr-defined]
    assert nets == (*map(ipaddress.ip_network, INFOBIP_RANGES), ipaddress.ip_network("10.0.0.0/8"))
    assert len(INFOBIP_RANGES) == 23
