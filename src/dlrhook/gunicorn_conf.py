"""``python:dlrhook.gunicorn_conf``, the gunicorn config path of dlrhook 0.2, kept for users'
Procfiles and unit files. The settings live in :mod:`dlrhook.webhook.gunicorn_conf`.

Everything is taken from there, so a setting added to it is in force under the old path too
(gunicorn reads the module's names and ignores those that are not its settings).
"""

from dlrhook.webhook.gunicorn_conf import *  # noqa: F403
