"""The values settings hold beyond numbers and strings, and how one variable's text becomes one.

Each function here takes what environs parsed for one variable and returns the field's value;
one that finds a bad value raises :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

from marshmallow import ValidationError
from marshmallow.validate import Regexp

from dlrhook import defaults, safelist
from dlrhook.errors import SettingsError

PullMode = Literal["always", "fallback", "off"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A reports path: ``/sms/1/reports``, ``/viber/2/reports``, ``/messages-api/1/reports``, ...
PATH_PATTERN = r"^/[A-Za-z0-9/_-]+$"

#: The check of an http(s) URL variable.
URL = Regexp(r"^https?://[^\s/]+", error="must be an http(s):// URL")
#: The check of a reports path variable.
A_PATH = Regexp(PATH_PATTERN, error="must be a path")


@dataclass(frozen=True)
class BasicCredential:
    """One accepted ``user:password`` pair for push authentication."""

    username: str
    password: str = field(repr=False)


def each(check: Callable[[str], object]) -> Callable[[list[str]], None]:
    """A list validator applying *check* to every non-empty item."""

    def validate(values: list[str]) -> None:
        for value in values:
            if value.strip():
                check(value.strip())

    return validate


def error_text(messages: object) -> str:
    """What environs found wrong with one variable, as a sentence: a list's bad items by position
    (``item 1 of the comma-separated list: Not a valid integer.``), never the value itself (it
    may be a secret)."""
    if isinstance(messages, dict):
        return "; ".join(
            f"item {int(k) + 1 if str(k).isdigit() else k} of the comma-separated list: {error_text(v)}"
            for k, v in sorted(messages.items(), key=lambda kv: str(kv[0]))
        )
    if isinstance(messages, list | tuple):
        if messages and all(isinstance(m, int) for m in messages):  # environs' bad list items, by index
            return "item " + ", ".join(str(m + 1) for m in messages) + " of the comma-separated list is not valid"
        return " ".join(error_text(m) for m in messages)
    return str(messages)


def delays(items: list[str] | list[int]) -> tuple[int, ...]:
    """``DLRHOOK_RETRY_DELAYS``: comma-separated whole seconds, none negative; each bad item is
    named with what is wrong with it (``'abc' is not a whole number of seconds``)."""
    out = []
    for n, item in enumerate(items, 1):
        text = str(item).strip()
        if not text:
            continue
        try:
            seconds = int(text)
        except ValueError:
            raise SettingsError(
                f"DLRHOOK_RETRY_DELAYS: item {n}, {text[:40]!r}, is not a whole number of seconds "
                "(give the delays before each retry, comma-separated: 10,60,300; empty for no retries)"
            ) from None
        if seconds < 0:
            raise SettingsError(f"DLRHOOK_RETRY_DELAYS: item {n}, {seconds}, is negative: delays are seconds")
        out.append(seconds)
    return tuple(out)


def or_none(value: str | None) -> str | None:
    """An empty value is no value, as unset is (Heroku's app.json sets optional variables to "")."""
    return value or None


#: The console's password: a guessable one is refused at start (the login is rate-limited, but
#: the console replays and deletes). Empty is unset: no console.
CONSOLE_PASSWORD_MIN = 12


def CONSOLE_PASSWORD(value: str | None) -> None:
    """``DLRHOOK_CONSOLE_PASSWORD``: empty (no console) or at least :data:`CONSOLE_PASSWORD_MIN` characters."""
    if value and len(value) < CONSOLE_PASSWORD_MIN:
        raise ValidationError(
            f"must be at least {CONSOLE_PASSWORD_MIN} characters (it logs in to the console, which replays and "
            "deletes); unset it to turn the console off"
        )


def redis_url(url: str | None) -> str:
    """``REDIS_URL``, or the embedded server's when it is unset or empty."""
    return url or defaults.EMBEDDED_REDIS_URL


#: The database URL schemes the SQL status store takes (``postgres://`` is Heroku's spelling).
DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "sqlite")


def status_store(value: str | None) -> str:
    """``DLRHOOK_STATUS_STORE``: ``redis`` (also when unset or empty), ``DATABASE_URL``, or a
    PostgreSQL or SQLite URL; anything else is refused, naming the variable (never the value:
    a URL may hold a password)."""
    if not value or value.strip().lower() == "redis":
        return "redis"
    value = value.strip()
    if value == "DATABASE_URL":
        return value
    scheme = value.split(":", 1)[0].lower() if "://" in value else ""
    if scheme not in DATABASE_SCHEMES:
        raise SettingsError(
            "DLRHOOK_STATUS_STORE: must be redis, DATABASE_URL, or a postgresql:// or sqlite:/// database URL"
        )
    return value


def url_passwords(url: str | None) -> list[str]:
    """The password a URL carries (``redis://:<password>@host``), as written and percent-decoded
    (either may appear in a log line); none when it has none."""
    written = urlsplit(url).password if url else None
    if not written:
        return []
    return list(dict.fromkeys([written, unquote(written)]))


def url_secrets(url: str | None) -> list[str]:
    """What of a database URL must never be logged: its password, and the URL itself."""
    return [url, *url_passwords(url)] if url else []


#: The hosts an ``http://`` Infobip URL may name: this machine (the tests' fake Infobip, a local proxy).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def base_url_problem(url: str) -> str | None:
    """Why *url* cannot be an Infobip base URL, or None. The URL itself is never part of the text:
    it may hold credentials."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return "must not carry credentials (user:password@): set INFOBIP_API_KEY or INFOBIP_USERNAME/INFOBIP_PASSWORD"
    if parts.scheme.lower() == "http" and (parts.hostname or "") not in LOCAL_HOSTS:
        return "must be https://: plain http:// would send the API key in clear (allowed for 127.0.0.1, localhost, ::1)"
    return None


def base_url(url: str | None) -> str | None:
    """``INFOBIP_BASE_URL`` without a trailing slash; empty is None; refused with credentials in
    it, or with ``http://`` to a host other than this machine."""
    if not url:
        return None
    problem = base_url_problem(url)
    if problem:
        raise SettingsError(f"INFOBIP_BASE_URL: {problem}")
    return url.rstrip("/")


def tokens(values: list[str]) -> tuple[str, ...]:
    """``DLRHOOK_TOKEN``: one token or several, comma-separated (rotation); empty items left out."""
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def names(values: list[str] | None) -> tuple[str, ...] | None:
    """A list of names, stripped, empty items left out; unset stays None."""
    return tuple(h.strip() for h in values if h.strip()) if values is not None else None


def paths(values: list[str]) -> tuple[str, ...]:
    """A list of paths, stripped, empty items and repeats left out."""
    return tuple(dict.fromkeys(p.strip() for p in values if p.strip()))


def seconds_or_off(raw: str) -> int | None:
    """``DLRHOOK_RECONCILE_AFTER``: whole seconds, at least 1; empty means off, as unset does."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError("DLRHOOK_RECONCILE_AFTER: seconds, a whole number of at least 1 (empty: off)")
    return int(raw)


def basic_credentials(values: list[str]) -> tuple[BasicCredential, ...]:
    """``DLRHOOK_BASIC_AUTH``: ``user:password`` pairs, comma-separated; empty items left out."""
    creds = []
    for value in (v for v in values if v):
        user, sep, password = value.partition(":")
        if not sep or not user or not password:
            raise SettingsError("DLRHOOK_BASIC_AUTH: each entry must be user:password (comma-separated for rotation)")
        creds.append(BasicCredential(user, password))
    return tuple(creds)


def networks(values: list[str]) -> tuple[Network, ...]:
    """CIDRs and addresses; the word ``infobip`` (any case) stands for Infobip's published ranges."""
    nets: list[Network] = []
    for value in (v for v in values if v.strip()):
        if value.strip().lower() == safelist.KEYWORD:
            nets.extend(ipaddress.ip_network(cidr) for cidr in safelist.INFOBIP_RANGES)
            continue
        try:
            nets.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise SettingsError(
                f"DLRHOOK_ALLOWED_IPS: {value!r} is not an IP address, a CIDR or {safelist.KEYWORD!r} ({exc})"
            ) from exc
    return tuple(dict.fromkeys(nets))


def is_whsec(secret: str) -> bool:
    """True for ``whsec_<base64>`` with a non-empty key, as Standard Webhooks secrets are written."""
    prefix, _, key = secret.partition("_")
    if prefix != "whsec" or not key:
        return False
    try:
        return bool(base64.b64decode(key, validate=True))
    except ValueError:
        return False
