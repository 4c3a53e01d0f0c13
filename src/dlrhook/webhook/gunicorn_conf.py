"""gunicorn settings for the web process (``gunicorn -c python:dlrhook.webhook.gunicorn_conf``).

gthread workers: a push spends most of its time waiting on Redis, so a few threads per
process keep both cores busy through bursts without one process per connection. The process
count comes from ``WEB_CONCURRENCY`` (the convention Heroku sets), default 2.
"""

import sys
from typing import Any

from dlrhook import multiproc
from dlrhook.errors import SettingsError
from dlrhook.settings import load_settings
from dlrhook.store import durability

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

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
worker_class = "gthread"
threads = 4
# Heroku's router gives a request 30 s; a push answered later than that is retried anyway.
timeout = 30
graceful_timeout = 25
keepalive = 5
# Longest request line (method, path with its query string, where ?token= travels, and HTTP
# version) in bytes: gunicorn's own default, stated so that it is seen; past it gunicorn answers
# 400 before the app runs. It does not bound the body: DLRHOOK_MAX_BODY does, in the app.
limit_request_line = 8190
accesslog = None
errorlog = "-"
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
