"""The few exception classes dlrhook raises, under one base.

Which HTTP status each one becomes is decided in one place: ``dlrhook.problems``.
"""

from __future__ import annotations

from typing import Any


class DlrhookError(Exception):
    """Base of every dlrhook error."""


class SettingsError(DlrhookError):
    """An environment variable has an invalid value; the message names it."""


class PushRejected(DlrhookError):
    """A push cannot be accepted as a whole; ``kind`` picks the HTTP answer in dlrhook.problems."""

    def __init__(self, kind: str, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors


class StoreUnavailable(DlrhookError):
    """Redis could not take the batch; nothing of it was stored."""


class HandlerLoadError(DlrhookError):
    """A configured handler cannot be found or imported; the message names it."""


class ApiRejected(DlrhookError):
    """A read-API request (``/messages``, ``/bulks``) without the right ``DLRHOOK_API_TOKEN``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
