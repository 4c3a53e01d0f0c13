"""gunicorn settings for the web process (``gunicorn -c python:webhook.gunicorn_conf``).

gthread workers: a push spends most of its time waiting on Redis, so a few threads per
process keep both cores busy through bursts without one process per connection. The process
count comes from ``WEB_CONCURRENCY`` (the convention Heroku sets), default 2.
"""

import sys

from webhook.errors import SettingsError
from webhook.settings import load_settings

try:
    _settings = load_settings()
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
# Never buffer a push body in gunicorn beyond the limit Flask enforces.
limit_request_line = 8190
accesslog = None
errorlog = "-"
# gunicorn 27's runtime control socket lives at one fixed path per user: several web processes
# on one host (tests, scale-out) would fight over it, and dlrhook needs none of its commands.
control_socket_disable = True
