"""gunicorn settings for the web process (``gunicorn -c python:dlrhook.webhook.gunicorn_conf``).

gevent workers: a notify URL is public, and gunicorn's thread workers give each connection a
thread from the moment its request line arrives, so 8 clients that send half a header (2
processes x 4 threads) or trickle a body took the web down in 0.2. gevent's workers hold a
connection as a greenlet (a few KiB), up to ``worker_connections`` each; gunicorn cuts a header
that has not arrived whole, or a kept-alive connection idle, after ``keepalive`` seconds, and
dlrhook.webhook.body cuts a body that has not arrived within ``DLRHOOK_BODY_TIMEOUT`` (408).
gunicorn's own documentation names async workers for clients that are slow, when no buffering
proxy stands in front: Heroku's router buffers headers but streams bodies, and compose and the
systemd unit expose gunicorn directly (README, "Security"). The process count comes from
``WEB_CONCURRENCY`` (the convention Heroku sets), default 2.

gevent's monkeypatching happens first, here, before anything imports ``ssl`` (redis-py does,
for ``rediss://``): patched later, in each worker as gunicorn does it, gevent warns that ssl was
imported before it and may misbehave (a managed Redis over TLS is the usual production setup).
gunicorn's worker patches again, which does nothing more. Flask, redis-py (its sockets and pool
locks) and prometheus_client (files and a lock) are pure Python over the patched modules.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402 (after the monkeypatching, on purpose)
from typing import Any  # noqa: E402

from gunicorn.glogging import Logger  # noqa: E402

from dlrhook import activity, multiproc, store  # noqa: E402
from dlrhook.errors import SettingsError  # noqa: E402
from dlrhook.logs import Redact  # noqa: E402
from dlrhook.settings import load_settings  # noqa: E402
from dlrhook.store import durability  # noqa: E402

# Before any worker imports prometheus_client: /metrics must see every worker's values.
multiproc.prepare()

try:
    _settings = load_settings()
    # A DLRHOOK_DURABILITY level the server cannot give stops the start here too, once, rather
    # than in every worker's create_app (gunicorn would only say "Worker failed to boot").
    durability.check_server(_settings)
except SettingsError as exc:
    # Stop the start with the variable's name, not with a traceback from inside a worker.
    sys.stderr.write(f"dlrhook: {exc}\n")
    sys.exit(2)

# The console's per-minute counts: each gunicorn worker writes its own, once a second, on a
# connection of its own (dlrhook.activity), never in a push's path.
activity.tally.arm(lambda: store.connect(_settings))

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
worker_class = "gevent"
# Open connections a worker holds at once (gunicorn's default, stated): hostile ones included.
# Each is a file descriptor: the systemd unit and compose raise the limit to match.
worker_connections = 1000
# Heroku's router gives a request 30 s; a push answered later than that is retried anyway. Under
# gevent this is the worker's heartbeat: a worker that has not run its loop for 30 s is replaced.
timeout = 30
graceful_timeout = 25
# Seconds a kept-alive connection may sit idle, and that a request's headers may take to arrive
# whole (gevent workers read each request's headers under this timeout); then the socket is closed.
keepalive = 5
# Longest request line (method, path with its query string, where ?token= travels, and HTTP
# version) in bytes: gunicorn's own default, stated so that it is seen; past it gunicorn answers
# 400 before the app runs. It does not bound the body: DLRHOOK_MAX_BODY does, in the app.
limit_request_line = 8190
accesslog = None
errorlog = "-"


class RedactedLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's logger with dlrhook's :class:`~dlrhook.logs.Redact` filter on every handler:
    gunicorn writes a bad request line whole (``Invalid HTTP request line: 'POST /notify?token=...'``)
    and its access log writes every path with its query string."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.filters[:] = [f for f in handler.filters if not isinstance(f, Redact)]
                handler.addFilter(Redact(secrets=_settings.secrets))


logger_class = RedactedLogger
# gunicorn >= 25 opens a control socket at ~/.gunicorn/gunicorn.ctl by default: one path shared
# by every gunicorn of the user (several on one host collide), and a write into $HOME that a
# read-only container or systemd's ProtectHome refuses. dlrhook does not use gunicornc.
control_socket_disable = True


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges from the shared metrics folder."""
    multiproc.process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """gunicorn stops: remove the metrics folder if it was made for this run."""
    multiproc.remove_own_folder()
