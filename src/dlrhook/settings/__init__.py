"""Settings: every environment variable dlrhook reads for itself, parsed once at start.

:class:`Settings` is the table: each field made by :func:`~dlrhook.settings.declare.setting`
names its variable, how environs parses it, its default (a constant of :mod:`dlrhook.defaults`,
or "unset": None, empty) and its marshmallow check, once. :func:`load_settings` walks it and
collects every bad value before it fails, so one start reports them all, each under the
variable's name; the checks of :mod:`dlrhook.settings.checks` follow. :data:`VARIABLES` lists
the variables read.

No other module of dlrhook reads these variables. Elsewhere dlrhook's code uses the
environment only so: :mod:`dlrhook.multiproc` and :mod:`dlrhook.metrics` read (and
``multiproc`` sets) ``PROMETHEUS_MULTIPROC_DIR``, prometheus_client's own variable, and
``dlrhook local`` (:mod:`dlrhook.cli`) passes a copy of the environment on to the processes
it starts, with ``REDIS_URL``, ``PORT``, ``PATH`` and the metrics folder filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

from environs import Env, EnvValidationError
from marshmallow.validate import OneOf, Range, Regexp

from dlrhook import defaults
from dlrhook.errors import SettingsError
from dlrhook.settings import values
from dlrhook.settings.checks import CHECKS
from dlrhook.settings.declare import Setting, declared, setting
from dlrhook.settings.values import A_PATH, PATH_PATTERN, URL, BasicCredential, Network, PullMode

__all__ = ["PATH_PATTERN", "VARIABLES", "BasicCredential", "Setting", "Settings", "load_settings"]

_POSITIVE = Range(min=1)


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one dlrhook process.

    Secrets are excluded from ``repr`` so that logging a Settings object never leaks them.
    Every field but ``redis_is_embedded`` is one variable; a field's default is the value of
    its variable unset.
    """

    redis_url: str = setting("REDIS_URL", "str", None, convert=values.redis_url)
    #: True when ``REDIS_URL`` is unset: the embedded server's URL is used.
    redis_is_embedded: bool = True
    # Heroku's Redis (Key-Value Store) requires TLS with a self-signed certificate, and its
    # add-on rewrites REDIS_URL on maintenance: verification is switched off here, not in the URL.
    redis_tls_verify: bool = setting("DLRHOOK_REDIS_TLS_VERIFY", "bool", True)
    port: int = setting("PORT", "int", defaults.PORT, validate=Range(min=1, max=65535))
    web_concurrency: int = setting("WEB_CONCURRENCY", "int", defaults.WEB_CONCURRENCY, validate=Range(min=1, max=64))
    #: Every accepted push token: comma-separated, so that a new one can be added before the old goes.
    tokens: tuple[str, ...] = setting("DLRHOOK_TOKEN", "list", [], convert=values.tokens, secret=True)
    basic_auth: tuple[BasicCredential, ...] = setting(
        "DLRHOOK_BASIC_AUTH", "list", [], convert=values.basic_credentials, secret=True
    )
    allowed_ips: tuple[Network, ...] = setting("DLRHOOK_ALLOWED_IPS", "list", [], convert=values.networks)
    #: The allowlist alone admits pushes, knowingly (every Infobip customer shares its ranges).
    allowlist_only: bool = setting("DLRHOOK_ALLOWLIST_ONLY", "bool", False)
    trusted_proxies: int = setting(
        "DLRHOOK_TRUSTED_PROXIES", "int", defaults.TRUSTED_PROXIES, validate=Range(min=0, max=10)
    )
    handlers: tuple[str, ...] | None = setting("DLRHOOK_HANDLERS", "list", None, convert=values.names)
    retry_delays: tuple[int, ...] = setting(
        "DLRHOOK_RETRY_DELAYS", "list", list(defaults.RETRY_DELAYS), convert=values.delays
    )
    dedup_ttl: int = setting("DLRHOOK_DEDUP_TTL", "int", defaults.DEDUP_TTL, validate=_POSITIVE)
    max_body: int = setting("DLRHOOK_MAX_BODY", "int", defaults.MAX_BODY, validate=Range(min=1024))
    body_timeout: float = setting(
        "DLRHOOK_BODY_TIMEOUT", "float", defaults.BODY_TIMEOUT, validate=Range(min=0.1, max=25)
    )
    batch_size: int = setting("DLRHOOK_BATCH_SIZE", "int", defaults.BATCH_SIZE, validate=Range(min=1, max=10000))
    queue_name: str = setting("DLRHOOK_QUEUE", "str", defaults.QUEUE_NAME, validate=Regexp(r"^[A-Za-z0-9_.-]+$"))
    log_level: str = setting(
        "DLRHOOK_LOG_LEVEL", "str", defaults.LOG_LEVEL, validate=OneOf(["DEBUG", "INFO", "WARNING", "ERROR"])
    )
    infobip_base_url: str | None = setting("INFOBIP_BASE_URL", "str", None, validate=URL, convert=values.base_url)
    infobip_api_key: str | None = setting("INFOBIP_API_KEY", "str", None, convert=values.or_none, secret=True)
    infobip_username: str | None = setting("INFOBIP_USERNAME", "str", None, convert=values.or_none)
    infobip_password: str | None = setting("INFOBIP_PASSWORD", "str", None, convert=values.or_none, secret=True)
    pull_mode: PullMode = setting(  # noqa: RUF009  (a field, as every setting() is)
        "DLRHOOK_PULL_MODE", "str", defaults.PULL_MODE, validate=OneOf(["always", "fallback", "off"])
    )
    pull_quiet: int = setting("DLRHOOK_PULL_QUIET", "int", defaults.PULL_QUIET, validate=Range(min=0))
    pull_interval: float = setting("DLRHOOK_PULL_INTERVAL", "float", defaults.PULL_INTERVAL, validate=Range(min=0.01))
    pull_limit: int = setting("DLRHOOK_PULL_LIMIT", "int", defaults.PULL_LIMIT, validate=Range(min=1, max=10000))
    pull_path: str = setting("DLRHOOK_PULL_PATH", "str", defaults.PULL_PATH, validate=A_PATH)
    forward_url: str | None = setting("DLRHOOK_FORWARD_URL", "str", None, validate=URL, convert=values.or_none)
    forward_secret: str | None = setting("DLRHOOK_FORWARD_SECRET", "str", None, convert=values.or_none, secret=True)
    forward_timeout: float = setting(
        "DLRHOOK_FORWARD_TIMEOUT", "float", defaults.FORWARD_TIMEOUT, validate=Range(min=0.1)
    )
    pull_connect_timeout: float = setting(
        "DLRHOOK_PULL_CONNECT_TIMEOUT", "float", defaults.PULL_CONNECT_TIMEOUT, validate=Range(min=0.01, max=300)
    )
    pull_read_timeout: float = setting(
        "DLRHOOK_PULL_READ_TIMEOUT", "float", defaults.PULL_READ_TIMEOUT, validate=Range(min=0.01, max=600)
    )
    pull_backoff: float = setting("DLRHOOK_PULL_BACKOFF", "float", defaults.PULL_BACKOFF, validate=Range(min=0.001))
    pull_backoff_max: float = setting(
        "DLRHOOK_PULL_BACKOFF_MAX", "float", defaults.PULL_BACKOFF_MAX, validate=Range(min=0.001)
    )
    pull_auth_backoff: float = setting(
        "DLRHOOK_PULL_AUTH_BACKOFF", "float", defaults.PULL_AUTH_BACKOFF, validate=Range(min=0.001)
    )
    pull_lock_ttl: int = setting(
        "DLRHOOK_PULL_LOCK_TTL", "int", defaults.PULL_LOCK_TTL, validate=Range(min=1, max=3600)
    )
    drain_budget: float = setting(
        "DLRHOOK_DRAIN_BUDGET", "float", defaults.DRAIN_BUDGET, validate=Range(min=0.1, max=25)
    )
    abandon_after: int = setting(
        "DLRHOOK_ABANDON_AFTER", "int", defaults.ABANDON_AFTER, validate=Range(min=3, max=3600)
    )
    maintenance_interval: int = setting(
        "DLRHOOK_MAINTENANCE_INTERVAL", "int", defaults.MAINTENANCE_INTERVAL, validate=Range(min=1, max=600)
    )
    shutdown_grace: float = setting(
        "DLRHOOK_SHUTDOWN_GRACE", "float", defaults.SHUTDOWN_GRACE, validate=Range(min=0, max=28)
    )
    api_token: str | None = setting("DLRHOOK_API_TOKEN", "str", None, convert=values.or_none, secret=True)
    #: The console's login (``/console``); None: no console (404). At least 12 characters.
    console_password: str | None = setting(
        "DLRHOOK_CONSOLE_PASSWORD", "str", None, validate=values.CONSOLE_PASSWORD, convert=values.or_none, secret=True
    )
    status_ttl: int = setting("DLRHOOK_STATUS_TTL", "int", defaults.STATUS_TTL, validate=_POSITIVE)
    #: ``redis``, a database URL (``postgresql://``, ``postgres://``, ``sqlite:///``) or ``DATABASE_URL``
    #: (the URL in that variable, which Heroku's Postgres add-on keeps and rotates): a secret, it
    #: may carry a password.
    status_store: str = setting(
        "DLRHOOK_STATUS_STORE", "str", defaults.STATUS_STORE, convert=values.status_store, secret=True
    )
    database_url: str | None = setting("DATABASE_URL", "str", None, convert=values.or_none, secret=True)
    # Empty means off, as unset does (Heroku's app.json sets optional variables to "").
    reconcile_after: int | None = setting("DLRHOOK_RECONCILE_AFTER", "str", "", convert=values.seconds_or_off)
    handler_timeout: float = setting(
        "DLRHOOK_HANDLER_TIMEOUT", "float", defaults.HANDLER_TIMEOUT, validate=Range(min=0.01, max=3600)
    )
    max_crashes: int = setting("DLRHOOK_MAX_CRASHES", "int", defaults.MAX_CRASHES, validate=Range(min=1, max=100))
    redis_high_water: float = setting(
        "DLRHOOK_REDIS_HIGH_WATER", "float", defaults.REDIS_HIGH_WATER, validate=Range(min=0.1, max=1.0)
    )
    quarantine_ttl: int = setting("DLRHOOK_QUARANTINE_TTL", "int", defaults.QUARANTINE_TTL, validate=Range(min=60))
    max_reports: int = setting("DLRHOOK_MAX_REPORTS", "int", defaults.MAX_REPORTS, validate=Range(min=1, max=1_000_000))
    durability: str = setting(
        "DLRHOOK_DURABILITY",
        "str",
        defaults.DURABILITY,
        validate=OneOf(["auto", "memory", "disk", "replica"], error="must be one of auto, memory, disk, replica"),
    )
    durability_replicas: int = setting(
        "DLRHOOK_DURABILITY_REPLICAS", "int", defaults.DURABILITY_REPLICAS, validate=Range(min=1, max=16)
    )
    durability_timeout: float = setting(
        "DLRHOOK_DURABILITY_TIMEOUT", "float", defaults.DURABILITY_TIMEOUT, validate=Range(min=0.01, max=8)
    )
    redis_max_connections: int = setting(
        "DLRHOOK_REDIS_MAX_CONNECTIONS", "int", defaults.REDIS_MAX_CONNECTIONS, validate=Range(min=2, max=10000)
    )
    #: Every reports path the poller drains, each on its own (``DLRHOOK_PULL_PATHS``); empty: ``(pull_path,)``.
    pull_paths: tuple[str, ...] = setting(
        "DLRHOOK_PULL_PATHS", "list", [], validate=values.each(A_PATH), convert=values.paths
    )

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
    def status_url(self) -> str | None:
        """The status store's database URL, or None when status is kept in Redis."""
        if self.status_store == "redis":
            return None
        return self.database_url if self.status_store == "DATABASE_URL" else self.status_store

    @property
    def token(self) -> str | None:
        """The first of ``DLRHOOK_TOKEN``'s tokens (the one ``dlrhook simulate`` sends), or None."""
        return self.tokens[0] if self.tokens else None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value configured, for the log filter to blank wherever one appears."""
        found: list[str | None] = [*self.tokens, *(c.password for c in self.basic_auth)]
        found += [self.infobip_api_key, self.infobip_password, self.forward_secret, self.api_token]
        found.append(self.console_password)
        # REDIS_URL's password (a managed Redis's, or the embedded server's beside `make run`).
        found += values.url_passwords(self.redis_url)
        found += values.url_secrets(self.status_url)
        return tuple(s for s in found if s)

    @property
    def auth_mode(self) -> str:
        """Which push authentication is active, for /readyz and the start-up log line."""
        modes = []
        if self.tokens:
            modes.append("token")
        if self.basic_auth:
            modes.append("basic")
        if self.allowed_ips:
            modes.append("ip-allowlist")
        return "+".join(modes) if modes else "open"


#: The fields read from a variable, in order, each with its :class:`Setting`.
_DECLARED = declared(Settings)
#: Every variable :func:`load_settings` reads, in the order of the :class:`Settings` fields.
VARIABLES: tuple[str, ...] = tuple(s.variable for _, s in _DECLARED)


def load_settings() -> Settings:
    """Read and validate the process environment.

    Raises :class:`SettingsError` naming every variable whose value is invalid.
    """
    return _read(Env(eager=False))


def _read(env: Env) -> Settings:
    parsed = {name: s.read(env) for name, s in _DECLARED}
    try:
        env.seal()
    except EnvValidationError as exc:
        messages = exc.error_messages
        items = messages.items() if isinstance(messages, dict) else [("environment", messages)]
        problems = "; ".join(f"{name}: {values.error_text(msgs)}" for name, msgs in items)
        raise SettingsError(f"invalid environment: {problems}") from None
    for check in CHECKS:
        check(parsed)
    return Settings(
        redis_is_embedded=not parsed["redis_url"],
        **{name: s.value(parsed[name]) for name, s in _DECLARED},
    )
