"""Settings: every environment variable dlrhook reads, parsed once at start.

Nothing else in the code base reads ``os.environ``. :func:`load_settings` collects every bad
value before it fails, so one start reports them all, each under the variable's name.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from environs import Env, EnvValidationError
from marshmallow.validate import OneOf, Range, Regexp

from dlrhook import defaults, safelist
from dlrhook.errors import SettingsError

PullMode = Literal["always", "fallback", "off"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class BasicCredential:
    """One accepted ``user:password`` pair for push authentication."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one dlrhook process.

    Secrets are excluded from ``repr`` so that logging a Settings object never leaks them.
    """

    redis_url: str
    redis_is_embedded: bool
    redis_tls_verify: bool
    port: int
    web_concurrency: int
    token: str | None = field(repr=False)
    basic_auth: tuple[BasicCredential, ...] = field(repr=False)
    allowed_ips: tuple[Network, ...]
    trusted_proxies: int
    handlers: tuple[str, ...] | None
    retry_delays: tuple[int, ...]
    dedup_ttl: int
    max_body: int
    batch_size: int
    queue_name: str
    log_level: str
    infobip_base_url: str | None
    infobip_api_key: str | None = field(repr=False)
    infobip_username: str | None
    infobip_password: str | None = field(repr=False)
    pull_mode: PullMode
    pull_quiet: int
    pull_interval: float
    pull_limit: int
    pull_path: str
    forward_url: str | None
    forward_secret: str | None = field(repr=False)
    forward_timeout: float
    pull_connect_timeout: float = defaults.PULL_CONNECT_TIMEOUT
    pull_read_timeout: float = defaults.PULL_READ_TIMEOUT
    pull_backoff: float = defaults.PULL_BACKOFF
    pull_backoff_max: float = defaults.PULL_BACKOFF_MAX
    pull_auth_backoff: float = defaults.PULL_AUTH_BACKOFF
    pull_lock_ttl: int = defaults.PULL_LOCK_TTL
    drain_budget: float = defaults.DRAIN_BUDGET
    abandon_after: int = defaults.ABANDON_AFTER
    maintenance_interval: int = defaults.MAINTENANCE_INTERVAL
    shutdown_grace: float = defaults.SHUTDOWN_GRACE
    api_token: str | None = field(default=None, repr=False)
    status_ttl: int = defaults.STATUS_TTL
    reconcile_after: int | None = None
    handler_timeout: float = defaults.HANDLER_TIMEOUT
    max_crashes: int = defaults.MAX_CRASHES
    redis_high_water: float = defaults.REDIS_HIGH_WATER
    quarantine_ttl: int = defaults.QUARANTINE_TTL
    max_reports: int = defaults.MAX_REPORTS
    #: Every reports path the poller drains, each on its own (``DLRHOOK_PULL_PATHS``); empty: ``(pull_path,)``.
    pull_paths: tuple[str, ...] = ()

    @property
    def report_paths(self) -> tuple[str, ...]:
        """The reports paths to drain: ``DLRHOOK_PULL_PATHS``, else ``DLRHOOK_PULL_PATH`` alone."""
        return self.pull_paths or (self.pull_path,)

    @property
    def primary_pull_path(self) -> str:
        """The path whose lock and page store keep 0.2's key names (``DLRHOOK_PULL_PATH``, or the
        first of ``DLRHOOK_PULL_PATHS`` when that is not among them): pages an older poller left
        are ingested after an upgrade, and an older poller still running is kept out of it."""
        paths = self.report_paths
        return self.pull_path if self.pull_path in paths else paths[0]

    @property
    def auth_mode(self) -> str:
        """Which push authentication is active, for /readyz and the start-up log line."""
        modes = []
        if self.token:
            modes.append("token")
        if self.basic_auth:
            modes.append("basic")
        if self.allowed_ips:
            modes.append("ip-allowlist")
        return "+".join(modes) if modes else "open"


#: A reports path: ``/sms/1/reports``, ``/viber/2/reports``, ``/messages-api/1/reports``, ...
PATH_PATTERN = r"^/[A-Za-z0-9/_-]+$"


def _each(check: Callable[[str], object]) -> Callable[[list[str]], None]:
    """A list validator applying *check* to every non-empty item."""

    def validate(values: list[str]) -> None:
        for value in values:
            if value.strip():
                check(value.strip())

    return validate


def _basic_credentials(values: list[str]) -> tuple[BasicCredential, ...]:
    creds = []
    for value in values:
        user, sep, password = value.partition(":")
        if not sep or not user or not password:
            raise SettingsError("DLRHOOK_BASIC_AUTH: each entry must be user:password (comma-separated for rotation)")
        creds.append(BasicCredential(user, password))
    return tuple(creds)


def _networks(values: list[str]) -> tuple[Network, ...]:
    """CIDRs and addresses; the word ``infobip`` (any case) stands for Infobip's published ranges."""
    nets: list[Network] = []
    for value in values:
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


def load_settings() -> Settings:
    """Read and validate the process environment.

    Raises :class:`SettingsError` naming every variable whose value is invalid.
    """
    return _read(Env(eager=False))


def _read(env: Env) -> Settings:
    positive = Range(min=1)
    url = Regexp(r"^https?://[^\s/]+", error="must be an http(s):// URL")
    redis_url = env.str("REDIS_URL", None)
    # Heroku's Redis (Key-Value Store) requires TLS with a self-signed certificate, and its
    # add-on rewrites REDIS_URL on maintenance: verification is switched off here, not in the URL.
    redis_tls_verify = env.bool("DLRHOOK_REDIS_TLS_VERIFY", True)
    port = env.int("PORT", defaults.PORT, validate=Range(min=1, max=65535))
    web_concurrency = env.int("WEB_CONCURRENCY", 2, validate=Range(min=1, max=64))
    token = env.str("DLRHOOK_TOKEN", None) or None
    basic: list[str] = env.list("DLRHOOK_BASIC_AUTH", [])
    allowed: list[str] = env.list("DLRHOOK_ALLOWED_IPS", [])
    trusted = env.int("DLRHOOK_TRUSTED_PROXIES", 0, validate=Range(min=0, max=10))
    handlers = env.list("DLRHOOK_HANDLERS", None)
    delays = env.list("DLRHOOK_RETRY_DELAYS", list(defaults.RETRY_DELAYS), subcast=int)
    dedup_ttl = env.int("DLRHOOK_DEDUP_TTL", defaults.DEDUP_TTL, validate=positive)
    max_body = env.int("DLRHOOK_MAX_BODY", defaults.MAX_BODY, validate=Range(min=1024))
    max_reports = env.int("DLRHOOK_MAX_REPORTS", defaults.MAX_REPORTS, validate=Range(min=1, max=1_000_000))
    batch_size = env.int("DLRHOOK_BATCH_SIZE", defaults.BATCH_SIZE, validate=Range(min=1, max=10000))
    queue_name = env.str("DLRHOOK_QUEUE", defaults.QUEUE_NAME, validate=Regexp(r"^[A-Za-z0-9_.-]+$"))
    log_level = env.str("DLRHOOK_LOG_LEVEL", "INFO", validate=OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    base_url = env.str("INFOBIP_BASE_URL", None, validate=url) or None
    api_key = env.str("INFOBIP_API_KEY", None) or None
    ib_user = env.str("INFOBIP_USERNAME", None) or None
    ib_password = env.str("INFOBIP_PASSWORD", None) or None
    pull_mode = env.str("DLRHOOK_PULL_MODE", "fallback", validate=OneOf(["always", "fallback", "off"]))
    pull_quiet = env.int("DLRHOOK_PULL_QUIET", defaults.PULL_QUIET, validate=Range(min=0))
    pull_interval = env.float("DLRHOOK_PULL_INTERVAL", defaults.PULL_INTERVAL, validate=Range(min=0.01))
    pull_limit = env.int("DLRHOOK_PULL_LIMIT", defaults.PULL_LIMIT, validate=Range(min=1, max=10000))
    a_path = Regexp(PATH_PATTERN, error="must be a path")
    pull_path = env.str("DLRHOOK_PULL_PATH", defaults.PULL_PATH, validate=a_path)
    pull_paths: list[str] = env.list("DLRHOOK_PULL_PATHS", [], validate=_each(a_path))
    pull_connect_timeout = env.float(
        "DLRHOOK_PULL_CONNECT_TIMEOUT", defaults.PULL_CONNECT_TIMEOUT, validate=Range(min=0.01, max=300)
    )
    pull_read_timeout = env.float(
        "DLRHOOK_PULL_READ_TIMEOUT", defaults.PULL_READ_TIMEOUT, validate=Range(min=0.01, max=600)
    )
    pull_backoff = env.float("DLRHOOK_PULL_BACKOFF", defaults.PULL_BACKOFF, validate=Range(min=0.001))
    pull_backoff_max = env.float("DLRHOOK_PULL_BACKOFF_MAX", defaults.PULL_BACKOFF_MAX, validate=Range(min=0.001))
    pull_auth_backoff = env.float("DLRHOOK_PULL_AUTH_BACKOFF", defaults.PULL_AUTH_BACKOFF, validate=Range(min=0.001))
    pull_lock_ttl = env.int("DLRHOOK_PULL_LOCK_TTL", defaults.PULL_LOCK_TTL, validate=Range(min=1, max=3600))
    forward_url = env.str("DLRHOOK_FORWARD_URL", None, validate=url) or None
    forward_secret = env.str("DLRHOOK_FORWARD_SECRET", None) or None
    forward_timeout = env.float("DLRHOOK_FORWARD_TIMEOUT", 10.0, validate=Range(min=0.1))
    drain_budget = env.float("DLRHOOK_DRAIN_BUDGET", defaults.DRAIN_BUDGET, validate=Range(min=0.1, max=25))
    abandon_after = env.int("DLRHOOK_ABANDON_AFTER", defaults.ABANDON_AFTER, validate=Range(min=3, max=3600))
    maintenance = env.int("DLRHOOK_MAINTENANCE_INTERVAL", defaults.MAINTENANCE_INTERVAL, validate=Range(min=1, max=600))
    shutdown_grace = env.float("DLRHOOK_SHUTDOWN_GRACE", defaults.SHUTDOWN_GRACE, validate=Range(min=0, max=28))
    api_token = env.str("DLRHOOK_API_TOKEN", None) or None
    status_ttl = env.int("DLRHOOK_STATUS_TTL", defaults.STATUS_TTL, validate=positive)
    # Empty means off, as unset does (Heroku's app.json sets optional variables to "").
    reconcile_raw = env.str("DLRHOOK_RECONCILE_AFTER", "").strip()
    handler_timeout = env.float("DLRHOOK_HANDLER_TIMEOUT", defaults.HANDLER_TIMEOUT, validate=Range(min=0.01, max=3600))
    max_crashes = env.int("DLRHOOK_MAX_CRASHES", defaults.MAX_CRASHES, validate=Range(min=1, max=100))
    high_water = env.float("DLRHOOK_REDIS_HIGH_WATER", defaults.REDIS_HIGH_WATER, validate=Range(min=0.1, max=1.0))
    quarantine_ttl = env.int("DLRHOOK_QUARANTINE_TTL", defaults.QUARANTINE_TTL, validate=Range(min=60))
    try:
        env.seal()
    except EnvValidationError as exc:
        messages = exc.error_messages
        items = messages.items() if isinstance(messages, dict) else [("environment", messages)]
        problems = "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in items)
        raise SettingsError(f"invalid environment: {problems}") from None

    reconcile_after = None
    if reconcile_raw:
        if not reconcile_raw.isdigit() or int(reconcile_raw) < 1:
            raise SettingsError("DLRHOOK_RECONCILE_AFTER: seconds, a whole number of at least 1 (empty: off)")
        reconcile_after = int(reconcile_raw)
    if any(d < 0 for d in delays):
        raise SettingsError("DLRHOOK_RETRY_DELAYS: delays are seconds and cannot be negative")
    if base_url and not api_key and not (ib_user and ib_password):
        raise SettingsError(
            "INFOBIP_BASE_URL is set but neither INFOBIP_API_KEY nor INFOBIP_USERNAME/INFOBIP_PASSWORD is"
        )
    if pull_backoff_max < pull_backoff:
        raise SettingsError("DLRHOOK_PULL_BACKOFF_MAX must not be smaller than DLRHOOK_PULL_BACKOFF")
    if forward_secret and not _is_whsec(forward_secret):
        raise SettingsError("DLRHOOK_FORWARD_SECRET: must be whsec_ followed by base64 (the Standard Webhooks form)")
    if bool(ib_user) != bool(ib_password):
        raise SettingsError("INFOBIP_USERNAME and INFOBIP_PASSWORD must be set together")

    return Settings(
        redis_url=redis_url or defaults.EMBEDDED_REDIS_URL,
        redis_is_embedded=not redis_url,
        redis_tls_verify=redis_tls_verify,
        port=port,
        web_concurrency=web_concurrency,
        token=token,
        basic_auth=_basic_credentials([b for b in basic if b]),
        allowed_ips=_networks([a for a in allowed if a.strip()]),
        trusted_proxies=trusted,
        handlers=tuple(h.strip() for h in handlers if h.strip()) if handlers is not None else None,
        retry_delays=tuple(delays),
        dedup_ttl=dedup_ttl,
        max_body=max_body,
        batch_size=batch_size,
        queue_name=queue_name,
        log_level=log_level,
        infobip_base_url=base_url.rstrip("/") if base_url else None,
        infobip_api_key=api_key,
        infobip_username=ib_user,
        infobip_password=ib_password,
        pull_mode=pull_mode,  # type: ignore[arg-type]  # validated by OneOf above
        pull_quiet=pull_quiet,
        pull_interval=pull_interval,
        pull_limit=pull_limit,
        pull_path=pull_path,
        pull_paths=tuple(dict.fromkeys(p.strip() for p in pull_paths if p.strip())),
        forward_url=forward_url,
        forward_secret=forward_secret,
        forward_timeout=forward_timeout,
        pull_connect_timeout=pull_connect_timeout,
        pull_read_timeout=pull_read_timeout,
        pull_backoff=pull_backoff,
        pull_backoff_max=pull_backoff_max,
        pull_auth_backoff=pull_auth_backoff,
        pull_lock_ttl=pull_lock_ttl,
        drain_budget=drain_budget,
        abandon_after=abandon_after,
        maintenance_interval=maintenance,
        shutdown_grace=shutdown_grace,
        api_token=api_token,
        status_ttl=status_ttl,
        reconcile_after=reconcile_after,
        handler_timeout=handler_timeout,
        max_crashes=max_crashes,
        redis_high_water=high_water,
        quarantine_ttl=quarantine_ttl,
        max_reports=max_reports,
    )


def _is_whsec(secret: str) -> bool:
    """True for ``whsec_<base64>`` with a non-empty key, as Standard Webhooks secrets are written."""
    prefix, _, key = secret.partition("_")
    if prefix != "whsec" or not key:
        return False
    try:
        return bool(base64.b64decode(key, validate=True))
    except ValueError:
        return False
