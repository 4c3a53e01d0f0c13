"""What a worker process's jobs share: its settings and its shutdown deadline.

Jobs are called by RQ with plain JSON arguments only, so the settings the process started
with, and the handlers it runs, live here. ``dlrhook worker`` calls :func:`configure` once; a process that never did
(an in-process ``SimpleWorker`` in a script) reads the environment on first use.
"""

from __future__ import annotations

import time

from dlrhook.settings import Settings, load_settings

_settings: Settings | None = None
_stop_at: float | None = None
_handlers: frozenset[str] | None = None


def configure(settings: Settings) -> None:
    """Use *settings* for every job this process runs from now on (and forget a shutdown)."""
    global _settings, _stop_at
    _settings = settings
    _stop_at = None


def settings() -> Settings:
    """The process's settings, read from the environment on first use if never configured."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def select(handler_names: list[str]) -> None:
    """Run jobs of these handlers only, from now on (``dlrhook worker``, after choosing them)."""
    global _handlers
    _handlers = frozenset(handler_names)


def runs(handler_name: str) -> bool:
    """Whether this process runs *handler_name*'s jobs (every handler, unless :func:`select` was called)."""
    return _handlers is None or handler_name in _handlers


def request_shutdown(grace: float) -> None:
    """Record that the process must stop: running jobs hand back their work after *grace* s.

    Called from the worker's SIGTERM handler; a second call never extends the deadline.
    """
    global _stop_at
    deadline = time.monotonic() + grace
    _stop_at = deadline if _stop_at is None else min(_stop_at, deadline)


def stopping() -> bool:
    """True once a shutdown was requested: take no new work."""
    return _stop_at is not None


def past_deadline() -> bool:
    """True once the shutdown grace is spent: hand unfinished work back now."""
    return _stop_at is not None and time.monotonic() >= _stop_at


def reset() -> None:
    """Forget the configured settings and any shutdown, as in a fresh process (for tests)."""
    global _settings, _stop_at, _handlers
    _settings = _stop_at = _handlers = None
