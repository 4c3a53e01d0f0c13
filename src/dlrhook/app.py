"""``dlrhook.app:create_app()``, the WSGI app path of dlrhook 0.2, kept for users' Procfiles.

The app lives in :mod:`dlrhook.webhook.app`; new deploys name ``dlrhook.webhook.app:create_app()``.
"""

from dlrhook.webhook.app import create_app

__all__ = ["create_app"]
