"""dlrhook: the notify URL for Infobip delivery reports.

The public, stable API for handler plugins is what this module exports (``__all__``, pinned by
a test)::

    from dlrhook import DeliveryReport, batch_handler, PartialFailure

Everything else is internal and may change in any release. The package's layout (README,
"Development", has the module map): this module and its siblings are the core both sides
share (the report model, settings, the Redis store, ingest); ``dlrhook.webhook`` is the HTTP
side, ``dlrhook.workers`` the dispatch to handlers, ``dlrhook.pull`` the poller,
``dlrhook.cli`` the command line and ``dlrhook.dev`` the local tools. Importing ``dlrhook``
imports none of them, and neither Flask nor RQ.
"""

from dlrhook.errors import DlrhookError, PartialFailure
from dlrhook.plugin import batch_handler
from dlrhook.report import DeliveryReport, Error, Price, Status

__all__ = ["DeliveryReport", "DlrhookError", "Error", "PartialFailure", "Price", "Status", "batch_handler"]
