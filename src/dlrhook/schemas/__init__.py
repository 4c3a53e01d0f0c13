"""marshmallow schemas: Infobip's reports (v1 and v3 field names alike) and dlrhook's answers.

``ReportSchema().load(raw)`` turns one raw report (from JSON or from XML, where every leaf is
text) into a plain dict with snake_case keys, aware datetimes and Decimal money. The same
schemas document the API in ``/openapi.json``, so the document cannot drift from validation.
The modules: :mod:`~dlrhook.schemas.fields` (fields and bounds), :mod:`~dlrhook.schemas.base`
(the lean loading loop), :mod:`~dlrhook.schemas.report` (a report, a push),
:mod:`~dlrhook.schemas.answers` (what dlrhook answers).
"""

from dlrhook.schemas.answers import ProblemSchema, PushAnswerSchema
from dlrhook.schemas.fields import SharedNested
from dlrhook.schemas.report import ErrorSchema, PriceSchema, PushSchema, ReportSchema, StatusSchema

__all__ = [
    "ErrorSchema",
    "PriceSchema",
    "ProblemSchema",
    "PushAnswerSchema",
    "PushSchema",
    "ReportSchema",
    "SharedNested",
    "StatusSchema",
]
