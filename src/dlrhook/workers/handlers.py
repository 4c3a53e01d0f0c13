"""Finding and loading handler plugins.

A handler is a callable found through the entry-point group ``dlrhook.handlers`` or named as
``module:attr`` in ``DLRHOOK_HANDLERS``. How a handler is written (per report, or marked with
:func:`dlrhook.batch_handler`, and what raising means) is the plugin API: :mod:`dlrhook.plugin`.

A handler may carry ``dlrhook_unconfigured(settings) -> str | None``: a reason it cannot run
with these settings. Named explicitly, such a handler stops the worker's start; picked up by
default (every installed plugin), it is skipped with a warning.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from dlrhook.errors import HandlerLoadError
from dlrhook.settings import Settings

GROUP = "dlrhook.handlers"
log = logging.getLogger("dlrhook.handlers")


@dataclass(frozen=True)
class Handler:
    """A loaded handler: its name (as retry jobs carry it), the callable, and its calling style."""

    name: str
    func: Callable[..., Any]
    batch: bool


_cache: dict[str, Handler] = {}


def _installed() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str) -> Handler:
    """Load one handler by entry-point name or ``module:attr`` (cached per process).

    Raises :class:`HandlerLoadError` naming the handler when it cannot be found or imported.
    """
    if name in _cache:
        return _cache[name]
    try:
        if ":" in name:
            module_name, _, attr = name.partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        else:
            installed = _installed()
            if name not in installed:
                known = ", ".join(sorted(installed)) or "none"
                raise HandlerLoadError(f"handler {name!r}: no such entry point in {GROUP!r} (installed: {known})")
            obj = installed[name].load()
    except HandlerLoadError:
        raise
    except Exception as exc:
        raise HandlerLoadError(f"handler {name!r} cannot be imported: {type(exc).__name__}: {exc}") from exc
    if not callable(obj):
        raise HandlerLoadError(f"handler {name!r} is not callable")
    handler = Handler(name, obj, bool(getattr(obj, "dlrhook_batch", False)))
    _cache[name] = handler
    return handler


def select(settings: Settings) -> list[Handler]:
    """The handlers this process runs: ``DLRHOOK_HANDLERS``, or every installed plugin.

    Raises :class:`HandlerLoadError` for a handler that cannot be loaded or, when named
    explicitly, cannot run with *settings*.
    """
    explicit = settings.handlers is not None
    names: Sequence[str] = settings.handlers if settings.handlers is not None else sorted(_installed())
    chosen = []
    for name in names:
        handler = load(name)
        check = getattr(handler.func, "dlrhook_unconfigured", None)
        reason = check(settings) if callable(check) else None
        if reason and explicit:
            raise HandlerLoadError(f"handler {name!r} cannot run: {reason}")
        if reason:
            log.warning("handler %s is installed but skipped: %s", name, reason)
            continue
        chosen.append(handler)
    return chosen
