"""Every exception class dlrhook defines, in one module.

The hierarchy::

    Exception
     +-- DlrhookError                 base of every dlrhook error
     |    +-- SettingsError           a bad environment variable; the message names it
     |    |    +-- DurabilityUnsupported  the server cannot give DLRHOOK_DURABILITY's level
     |    +-- PushRejected            a push refused as a whole (4xx; ``kind`` picks the answer)
     |    +-- ApiRejected             a read-API request without the right token (401)
     |    +-- StoreUnavailable        Redis could not take a batch; nothing was stored (503)
     |    |    +-- NotDurable         stored, but not on disk/replicas in time (503; retry = duplicates)
     |    +-- StatusUnavailable       the status store (Redis or a database) did not answer (503)
     |    +-- HandlerLoadError        a configured handler cannot be found or imported
     |    +-- EmbeddedServerError     the embedded Redis could not be found or started
     |    +-- SimulateError           a bad ``dlrhook simulate`` option (also a ValueError)
     |    +-- PollerBusy              another poller holds this account's lock
     |    +-- PullFailed              a pull stopped on an error; carries what it did ingest
     |    +-- ReconcileFailed         a reconcile pass stopped on an error; carries its totals
     |    +-- InfobipError            a request to Infobip did not return what was asked
     |         +-- InfobipUnavailable     429, 5xx, timeout, network: retry later
     |         +-- InfobipAuthError       401/403: the credential named by ``setting``
     |         +-- InfobipRequestError    any other non-200: asking again will not help
     +-- PartialFailure               raised by a batch handler: only ``failed`` are retried
     +-- ForwardError                 the forward handler's receiver refused a report
    BaseException
     +-- HandlerTimeout               raised inside a handler call past DLRHOOK_HANDLER_TIMEOUT

``PartialFailure`` and ``DlrhookError`` are public (re-exported by :mod:`dlrhook`); the rest is
internal. Which HTTP status each error becomes is decided in one place:
:mod:`dlrhook.webhook.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlrhook.pull.pages import PullTotals
    from dlrhook.pull.reconcile import ReconcileTotals
    from dlrhook.report import DeliveryReport


class DlrhookError(Exception):
    """Base of every dlrhook error."""


class SettingsError(DlrhookError):
    """An environment variable has an invalid value; the message names it."""


class DurabilityUnsupported(SettingsError):
    """The Redis server cannot give the level ``DLRHOOK_DURABILITY`` asks for (too old, no AOF);
    the message names the level, the server and what to change."""


class PushRejected(DlrhookError):
    """A push cannot be accepted as a whole; ``kind`` picks the answer in dlrhook.webhook.problems."""

    def __init__(self, kind: str, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors


class ApiRejected(DlrhookError):
    """A read-API request (``/messages``, ``/bulks``) without the right ``DLRHOOK_API_TOKEN``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StoreUnavailable(DlrhookError):
    """Redis could not take the batch; nothing of it was stored."""


class NotDurable(StoreUnavailable):
    """The batch was stored but did not reach ``DLRHOOK_DURABILITY``'s level within
    ``DLRHOOK_DURABILITY_TIMEOUT``: it may be lost in a crash or failover, so it is not
    acknowledged; Infobip's retry of it counts its reports as duplicates if they survived."""


class StatusUnavailable(DlrhookError):
    """The status store did not answer a read or a fold (down, slow past its timeout, or its
    schema missing); the message says which, never the database URL. A fold that raises it
    folded nothing (one transaction), so the status handler's retry is safe."""


class HandlerLoadError(DlrhookError):
    """A configured handler cannot be found or imported; the message names it."""


class EmbeddedServerError(DlrhookError):
    """The embedded server could not be found or started."""


class SimulateError(DlrhookError, ValueError):
    """A bad ``dlrhook simulate`` option value; the message names it."""


class PollerBusy(DlrhookError):
    """Another poller holds this account's lock."""


class PullFailed(DlrhookError):
    """A pull stopped on an error (the ``__cause__``); ``totals`` counts the pages it did ingest."""

    def __init__(self, message: str, totals: PullTotals) -> None:
        super().__init__(message)
        self.totals = totals


class ReconcileFailed(DlrhookError):
    """A reconcile pass stopped on an error (the ``__cause__``); ``totals`` counts what it did."""

    def __init__(self, message: str, totals: ReconcileTotals) -> None:
        super().__init__(message)
        self.totals = totals


class InfobipError(DlrhookError):
    """A request to Infobip did not return a page of reports."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InfobipUnavailable(InfobipError):
    """429, a 5xx, a timeout or a network error: retry later; ``retry_after`` is Infobip's wish."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class InfobipAuthError(InfobipError):
    """401/403: the credential is wrong or lacks the reports scope; ``setting`` names it."""

    def __init__(self, message: str, status: int, setting: str) -> None:
        super().__init__(message, status)
        self.setting = setting


class InfobipRequestError(InfobipError):
    """Any other non-200 answer (400, 404, ...): asking again the same way will not help."""


class PartialFailure(Exception):
    """Raised by a batch handler when only some reports failed: only *failed* are retried."""

    def __init__(self, failed: Iterable[DeliveryReport], message: str = "") -> None:
        self.failed = list(failed)
        super().__init__(message or f"{len(self.failed)} reports failed")


class ForwardError(Exception):
    """The forward handler's receiver did not take the report (non-2xx answer); it is retried."""


class HandlerTimeout(BaseException):
    """Raised inside a handler call that outlived ``DLRHOOK_HANDLER_TIMEOUT``.

    A BaseException, so that a handler's own ``except Exception`` cannot swallow it.
    """
