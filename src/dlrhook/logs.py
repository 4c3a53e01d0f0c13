"""Logging: one JSON object per line on stdout; phone numbers masked, secrets never written.

Every process calls :func:`configure` once: it installs the JSON handler on the root logger
with a :class:`Redact` filter, which every record passes before it is written, whichever
library logged it (RQ's worker logs a failed job's arguments, which are reports). It masks
phone numbers and email addresses, drops ``callbackData`` values, ``?token=`` values and
``Authorization`` credentials, blanks every configured secret wherever it appears, and keeps
RQ's per-job chatter ("Job OK", "result is kept", "queue: job ...") out unless the level is
DEBUG. gunicorn's own loggers (``gunicorn.error``, ``gunicorn.access``) do not propagate to the
root: dlrhook.webhook.gunicorn_conf puts the same filter on their handlers.

Logging must never fail the work: a record that cannot be formatted is written as its message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

#: What a dropped value is written as.
DROPPED = "[dropped]"

# A phone number in free text: 8 to 15 digits (E.164), maybe after a "+", standing alone. Digits
# joined to letters, dots or dashes are not one: ids (q-1732960000123-ab12), hex, decimals, times.
_PHONE = re.compile(r"(?<![\w.+\-])\+?\d{8,15}(?![\w.\-])")
_EMAIL = re.compile(r"(?<![\w.+\-])([\w.+\-])[\w.+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
# A labelled callbackData value, as JSON, a dict's or a dataclass's repr, or key=value text.
_CALLBACK = re.compile(
    r"""(callback_?data['"]?\s*[:=]\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;)}\]]+)""",
    re.IGNORECASE,
)
# A token in a URL's query string (``/notify?token=...``: gunicorn logs a bad request line whole)
# and the credential after an Authorization scheme (``Bearer ...``, ``Basic ...``, Infobip's ``App ...``).
_QUERY_TOKEN = re.compile(r"""([?&;](?:token|access_token|api_key|apikey)=)[^&\s'"#]+""", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|App) [A-Za-z0-9._~+/=-]{6,}")
#: What a blanked secret is written as.
SECRET = "[secret]"  # noqa: S105  (the placeholder, not a secret)
#: Secrets shorter than this are not searched for in text (they would blank ordinary words).
MIN_SECRET = 6
#: Keys (extras, and inside dicts they hold) whose values are phone numbers or email addresses.
_ADDRESS_KEYS = frozenset({"to", "from", "sender", "destination"})
#: RQ's worker logs the arguments of a failed job: reports, raw and all. Never written.
_RQ_DROPPED_EXTRAS = frozenset({"arguments", "kwargs"})
#: RQ's INFO lines about every job and every maintenance run (rq 3's format strings), and parts
#: of them for other versions: DEBUG detail, not INFO, for a worker that runs a job a second.
_RQ_CHATTER = frozenset(
    {
        "Worker %s: %s: %s (%s)",
        "Worker %s: %s: %s",
        "Worker %s: job %s result discarded immediately",
        "Worker %s: job %s result is kept for %s seconds",
        "Successfully completed %s job in %ss on worker %s",
        "Successfully completed job %s in %ss on worker %s",
        "Worker %s: cleaning registries for queue: %s",
        "Worker %s: cleaning group registries",
    }
)
_RQ_CHATTER_PARTS = ("Job OK", "result is kept", "result discarded", "Successfully completed", "cleaning registries")


def mask_phone(number: str | None) -> str | None:
    """``41793026727`` -> ``4179*****27``: enough to tell numbers apart, not to dial one.

    An email address (the email channel's ``to``) becomes ``j***@example.com``.
    """
    if not number:
        return number
    if "@" in number:  # an email address on the email channel
        local, _, domain = number.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(number) <= 6:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]


def blank_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """*text* with every one of *secrets* (of at least :data:`MIN_SECRET` characters), query-string
    tokens and Authorization credentials replaced by :data:`SECRET`."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET and secret in text:
            text = text.replace(secret, SECRET)
    if "=" in text:
        text = _QUERY_TOKEN.sub(lambda m: m.group(1) + SECRET, text)
    return _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {SECRET}", text)


def redact_text(text: str) -> str:
    """*text* with phone numbers and email addresses masked, labelled callbackData dropped, and
    query-string tokens and Authorization credentials blanked."""
    text = blank_secrets(text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    if "allback" in text or "ALLBACK" in text:
        text = _CALLBACK.sub(lambda m: m.group(1) + DROPPED, text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)


def redact_value(key: str, value: Any, depth: int = 0) -> Any:
    """*value*, found under *key*, with what :func:`redact_text` masks masked, in strings,
    lists and dicts alike (four levels deep; anything deeper is dropped)."""
    name = key.lower().replace("_", "")
    if name == "callbackdata":
        return DROPPED if value is not None else None
    if isinstance(value, str):
        return mask_phone(value) if name in _ADDRESS_KEYS else redact_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 4:
        return DROPPED
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v, depth + 1) for v in value]
    return redact_text(str(value))


def _is_rq_chatter(record: logging.LogRecord) -> bool:
    if not record.name.startswith("rq.") or record.levelno != logging.INFO:
        return False
    template = str(record.msg)
    return template in _RQ_CHATTER or any(part in template for part in _RQ_CHATTER_PARTS)


class Redact(logging.Filter):
    """Masks personal data and blanks secrets (each of *secrets*, wherever it appears in the text)
    in every record it passes, and holds back RQ's per-job INFO lines unless *debug*. Never
    raises: a record it cannot clean is replaced by a note saying so."""

    def __init__(self, debug: bool = False, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.debug = debug
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_rq_chatter(record):
            if not self.debug:
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        try:
            self._clean(record)
        except Exception as exc:  # logging must never fail the work
            record.msg, record.args = f"(a log line that could not be cleaned: {type(exc).__name__})", None
            record.exc_info = record.exc_text = None
        return True

    def _clean(self, record: logging.LogRecord) -> None:
        if getattr(record, "_dlrhook_redacted", False):
            return  # a record passes every handler's filter: clean it once
        record.msg, record.args = redact_text(blank_secrets(record.getMessage(), self.secrets)), None
        for key in [k for k in record.__dict__ if k not in _RESERVED and not k.startswith("_")]:
            if record.name.startswith("rq.") and key in _RQ_DROPPED_EXTRAS:
                del record.__dict__[key]
            else:
                record.__dict__[key] = redact_value(key, record.__dict__[key])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(blank_secrets(record.exc_text, self.secrets))
        if record.stack_info:
            record.stack_info = redact_text(blank_secrets(record.stack_info, self.secrets))
        record._dlrhook_redacted = True


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with ``ts``, ``level``, ``logger``, ``msg`` and extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_text:  # formatted (and redacted) by Redact
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            return json.dumps(out, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            return json.dumps({"ts": out["ts"], "level": out["level"], "msg": str(out["msg"])})


def configure(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    """Send every logger's records to stdout as JSON lines, through :class:`Redact` (idempotent).

    Every dlrhook process calls this once at start (web, worker, poller, pull). The ``rq.worker``
    logger gets *level* too, as ``Worker.work(logging_level=...)`` would set it; RQ's per-job
    INFO lines are held back by the filter unless *level* is DEBUG. Handlers other code adds
    later to the root logger are not filtered: add :class:`Redact` to them. *secrets* (the
    settings' ``secrets``) are blanked wherever they appear.
    """
    root = logging.getLogger()
    debug = level == "DEBUG"
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        stdout = logging.StreamHandler(sys.stdout)
        stdout.setFormatter(JsonFormatter())
        root.handlers[:] = [stdout]
    for handler in root.handlers:
        handler.filters[:] = [f for f in handler.filters if not isinstance(f, Redact)]
        handler.addFilter(Redact(debug=debug, secrets=secrets))
    root.setLevel(level)
    logging.getLogger("rq.worker").setLevel(level)
