"""Redis connections: TLS verification can be relaxed for self-signed providers (Heroku)."""

from __future__ import annotations

from collections.abc import Callable

from dlrhook.settings import Settings
from dlrhook.store import connect


def test_a_rediss_url_is_verified_by_default(env: Callable[..., Settings]) -> None:
    conn = connect(env(REDIS_URL="rediss://example.invalid:6380/0"))
    assert conn.connection_pool.connection_kwargs.get("ssl_cert_reqs", "required") == "required"


def test_verification_can_be_switched_off_for_self_signed_certificates(env: Callable[..., Settings]) -> None:
    conn = connect(env(REDIS_URL="rediss://example.invalid:6380/0", DLRHOOK_REDIS_TLS_VERIFY="false"))
    assert conn.connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"


def test_plain_connections_carry_no_tls_options(env: Callable[..., Settings]) -> None:
    conn = connect(env(REDIS_URL="redis://127.0.0.1:6379/0", DLRHOOK_REDIS_TLS_VERIFY="false"))
    assert "ssl_cert_reqs" not in conn.connection_pool.connection_kwargs
