"""``python:dlrhook.gunicorn_conf``, the gunicorn config path of dlrhook 0.2, kept for users'
Procfiles and unit files. The settings live in :mod:`dlrhook.webhook.gunicorn_conf`.
"""

from dlrhook.webhook.gunicorn_conf import (
    accesslog,
    bind,
    child_exit,
    control_socket_disable,
    errorlog,
    graceful_timeout,
    keepalive,
    limit_request_line,
    on_exit,
    threads,
    timeout,
    worker_class,
    workers,
)

__all__ = [
    "accesslog",
    "bind",
    "child_exit",
    "control_socket_disable",
    "errorlog",
    "graceful_timeout",
    "keepalive",
    "limit_request_line",
    "on_exit",
    "threads",
    "timeout",
    "worker_class",
    "workers",
]
