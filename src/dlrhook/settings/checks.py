"""The checks that run after environs has parsed every variable without a fault.

Each takes the parsed values (by field name, before conversion) and raises
:class:`SettingsError` naming the variable(s): one variable's checks that need the parsed value
rather than a marshmallow validator, and the checks between variables. They run in the order of
:data:`CHECKS`; the first that fails stops the start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dlrhook.errors import SettingsError
from dlrhook.settings.values import delays, is_whsec, seconds_or_off
from dlrhook.settings.values import status_store as status_store_value

Check = Callable[[Mapping[str, Any]], None]


def reconcile_after(v: Mapping[str, Any]) -> None:
    """``DLRHOOK_RECONCILE_AFTER`` is whole seconds, at least 1, or empty."""
    seconds_or_off(v["reconcile_after"])


def retry_delays(v: Mapping[str, Any]) -> None:
    """``DLRHOOK_RETRY_DELAYS`` are whole seconds, not negative (each bad item named)."""
    delays(v["retry_delays"])


def infobip_credentials(v: Mapping[str, Any]) -> None:
    """An Infobip account (``INFOBIP_BASE_URL``) comes with an API key or a username and password."""
    if v["infobip_base_url"] and not v["infobip_api_key"] and not (v["infobip_username"] and v["infobip_password"]):
        raise SettingsError(
            "INFOBIP_BASE_URL is set but neither INFOBIP_API_KEY nor INFOBIP_USERNAME/INFOBIP_PASSWORD is"
        )


def pull_backoff(v: Mapping[str, Any]) -> None:
    """The poller's longest wait is not shorter than its first."""
    if v["pull_backoff_max"] < v["pull_backoff"]:
        raise SettingsError("DLRHOOK_PULL_BACKOFF_MAX must not be smaller than DLRHOOK_PULL_BACKOFF")


def forward_secret(v: Mapping[str, Any]) -> None:
    """``DLRHOOK_FORWARD_SECRET``, when set, is a Standard Webhooks secret."""
    if v["forward_secret"] and not is_whsec(v["forward_secret"]):
        raise SettingsError("DLRHOOK_FORWARD_SECRET: must be whsec_ followed by base64 (the Standard Webhooks form)")


def infobip_login(v: Mapping[str, Any]) -> None:
    """``INFOBIP_USERNAME`` and ``INFOBIP_PASSWORD`` come as a pair."""
    if bool(v["infobip_username"]) != bool(v["infobip_password"]):
        raise SettingsError("INFOBIP_USERNAME and INFOBIP_PASSWORD must be set together")


def allowlist_is_not_authentication(v: Mapping[str, Any]) -> None:
    """``DLRHOOK_ALLOWED_IPS`` without a token or Basic credentials runs only with
    ``DLRHOOK_ALLOWLIST_ONLY=true``: Infobip's addresses push for every Infobip customer."""

    def given(name: str) -> bool:
        return any(str(item).strip() for item in v[name])

    if given("allowed_ips") and not given("tokens") and not given("basic_auth") and not v["allowlist_only"]:
        raise SettingsError(
            "DLRHOOK_ALLOWED_IPS is set but neither DLRHOOK_TOKEN nor DLRHOOK_BASIC_AUTH is: an address is not a "
            "credential (Infobip pushes from the same addresses for all its customers, so anyone with an Infobip "
            "account could register this URL and be let in). Set a secret, or DLRHOOK_ALLOWLIST_ONLY=true to run "
            "on the allowlist alone"
        )


def status_store(v: Mapping[str, Any]) -> None:
    """``DLRHOOK_STATUS_STORE`` names a store; ``DATABASE_URL`` there needs that variable, holding
    a PostgreSQL URL."""
    chosen = status_store_value(v["status_store"])
    if chosen != "DATABASE_URL":
        return
    if not v["database_url"]:
        raise SettingsError("DLRHOOK_STATUS_STORE is DATABASE_URL but DATABASE_URL is not set")
    try:
        status_store_value(v["database_url"])
    except SettingsError:
        raise SettingsError("DATABASE_URL: must be a postgresql:// (or postgres://) database URL") from None


#: Every check, in the order they run.
CHECKS: tuple[Check, ...] = (
    reconcile_after,
    retry_delays,
    infobip_credentials,
    pull_backoff,
    forward_secret,
    infobip_login,
    allowlist_is_not_authentication,
    status_store,
)
