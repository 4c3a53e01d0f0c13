"""The shapes of dlrhook's own answers, for ``/openapi.json``: a push's 200 answer and the
problem details of every error answer.
"""

from __future__ import annotations

from marshmallow import Schema, fields


class PushAnswerSchema(Schema):
    """The 200 answer to a push."""

    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    quarantined = fields.Integer(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "field errors by report index, of the first 100 quarantined reports"},
    )
    errors_omitted = fields.Integer(
        data_key="errorsOmitted",
        metadata={"description": "quarantined reports whose errors the answer leaves out (over 100)"},
    )


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error answer carries them."""

    type = fields.String()
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "field errors, for validation problems"})
