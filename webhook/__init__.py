"""dlrhook: the notify URL for Infobip delivery reports.

The public, stable API for handler plugins is what this module exports (``__all__``)::

    from dlrhook import DeliveryReport, batch_handler, PartialFailure

Everything else (``dlrhook.ingest``, ``dlrhook.workers.dispatch``, ...) is internal and may
change in any release. The package's layout: this folder of the repository (``webhook/``) is
the ``dlrhook`` package itself, the receiving side and what both sides share;
``dlrhook.workers`` (the repository's ``workers/``) is the background side. Only
``dlrhook.app`` and ``dlrhook.problems`` import Flask, so importing ``dlrhook`` does not.
"""

from dlrhook.report import DeliveryReport, Error, Price, Status
from dlrhook.workers.handlers import PartialFailure, batch_handler

__all__ = ["DeliveryReport", "Error", "PartialFailure", "Price", "Status", "batch_handler"]
