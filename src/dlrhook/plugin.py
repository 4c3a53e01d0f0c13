"""The plugin API: how a handler is written.

A per-report handler is any callable ``handler(report: DeliveryReport) -> None``; one marked
with :func:`batch_handler` is called ``handler(reports: list[DeliveryReport])``. Returning means
delivered. Raising means failed: a per-report handler fails that report; a batch handler fails
the whole batch, unless it raises :class:`dlrhook.PartialFailure` naming the reports that failed.
Only the failed reports are retried, for that handler alone.

Handlers are installed as entry points in the group ``dlrhook.handlers`` (see
:mod:`dlrhook.workers.handlers` for how a worker finds and loads them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def batch_handler(func: F) -> F:
    """Mark *func* as a batch handler: it is called ``func(reports)`` with a list of reports."""
    func.dlrhook_batch = True  # type: ignore[attr-defined]
    return func
