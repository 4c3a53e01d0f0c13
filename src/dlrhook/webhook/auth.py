"""Who may push: token, Basic credentials, and an IP allowlist (no Flask here).

Secrets are compared with :func:`hmac.compare_digest` and never logged or echoed back.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from dlrhook.errors import ApiRejected, PushRejected
from dlrhook.settings import Settings


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def check_push(
    settings: Settings, *, client_ip: str | None, query_token: str | None, authorization: str | None
) -> None:
    """Raise :class:`PushRejected` (``forbidden`` or ``unauthorized``) unless the push may pass.

    The allowlist, when set, must match the client address (resolved through the trusted
    proxies by the caller). Then, when tokens and/or Basic credentials are configured, any one
    of them passes. With nothing configured every push passes; the start-up log says so loudly.
    """
    if settings.allowed_ips:
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            raise PushRejected("forbidden", "the client address could not be determined") from None
        if not any(address in net for net in settings.allowed_ips):
            raise PushRejected("forbidden", f"address {address} is not in DLRHOOK_ALLOWED_IPS")

    if not settings.tokens and not settings.basic_auth:
        return
    header = authorization or ""
    if settings.tokens:
        offered = query_token or _bearer(header)
        if offered is not None:
            # Compare with every token (rotation: old and new are both accepted for a while), so
            # timing does not tell how many there are or which one matched.
            ok = False
            for token in settings.tokens:
                ok |= _same(offered, token)
            if ok:
                return
    if settings.basic_auth:
        pair = _basic(header)
        if pair is not None:
            # Check every configured pair, so timing does not tell which user exists.
            ok = False
            for cred in settings.basic_auth:
                ok |= _same(pair[0], cred.username) & _same(pair[1], cred.password)
            if ok:
                return
    if not header and query_token is None:
        raise PushRejected("unauthorized", "credentials are required: ?token=, Bearer or Basic")
    raise PushRejected("unauthorized", "the credentials offered are not valid")


def check_api(settings: Settings, *, authorization: str | None) -> None:
    """Raise :class:`ApiRejected` unless *authorization* is ``Bearer <DLRHOOK_API_TOKEN>``.

    Only that token opens the read API: the push credentials (``DLRHOOK_TOKEN``, Basic), which
    Infobip holds, never do, and neither does a ``?token=`` in the URL (URLs end up in logs).
    The caller answers 404 before this when ``DLRHOOK_API_TOKEN`` is unset.
    """
    expected = settings.api_token
    if not expected:
        raise ApiRejected("the read API is off: DLRHOOK_API_TOKEN is not set")
    if not authorization:
        raise ApiRejected("credentials are required: Authorization: Bearer <DLRHOOK_API_TOKEN>")
    offered = _bearer(authorization)
    if offered is None or not _same(offered, expected):
        raise ApiRejected("the credentials offered are not valid for the read API")
