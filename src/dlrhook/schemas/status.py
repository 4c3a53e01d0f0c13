"""The read API's shapes (``GET /messages/<id>``, ``GET /bulks/<id>``), for ``/openapi.json``."""

from __future__ import annotations

from marshmallow import Schema, fields


class StatusOutSchema(Schema):
    """A status as the read API shows it (Infobip's names)."""

    groupId = fields.Integer(allow_none=True)  # the wire names are Infobip's
    groupName = fields.String(allow_none=True)
    id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)


class ErrorOutSchema(StatusOutSchema):
    """An error as the read API shows it."""

    permanent = fields.Boolean(allow_none=True)


class PriceOutSchema(Schema):
    """Money as exact decimal text, never a float."""

    pricePerMessage = fields.String(allow_none=True, metadata={"description": "decimal, as text"})
    currency = fields.String(allow_none=True)


class HistoryEntrySchema(Schema):
    """One distinct report of the message."""

    status = fields.String(allow_none=True, metadata={"description": "status name"})
    group = fields.String(allow_none=True, metadata={"description": "status group name"})
    final = fields.Boolean(required=True)
    doneAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    source = fields.String(required=True, metadata={"enum": ["push", "pull", "logs"]})
    receivedAt = fields.String(required=True, metadata={"format": "date-time"})


class MessageStatusSchema(Schema):
    """``GET /messages/<messageId>``: the message's folded status."""

    messageId = fields.String(required=True)
    bulkId = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    to = fields.String(allow_none=True)
    status = fields.Nested(StatusOutSchema, allow_none=True, metadata={"description": "null: only seen so far"})
    error = fields.Nested(ErrorOutSchema, allow_none=True)
    final = fields.Boolean(required=True)
    sentAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    doneAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    seenAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    openedAt = fields.String(allow_none=True, metadata={"format": "date-time", "description": "first OPENED event"})
    clickedAt = fields.String(allow_none=True, metadata={"format": "date-time", "description": "first CLICKED event"})
    unsubscribedAt = fields.String(
        allow_none=True, metadata={"format": "date-time", "description": "first UNSUBSCRIBED event"}
    )
    events = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Email user events: the first time of each (OPENED, CLICKED, COMPLAINED, ...)"},
    )
    callbackData = fields.String(allow_none=True)
    price = fields.Nested(PriceOutSchema, allow_none=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True)


class BulkSummarySchema(Schema):
    """``GET /bulks/<bulkId>``: counts of the bulk's messages (Redis: counters kept by the fold;
    SQL: one GROUP BY over an index)."""

    bulkId = fields.String(required=True)
    messages = fields.Integer(required=True, metadata={"description": "messages with a known status"})
    final = fields.Integer(required=True, metadata={"description": "messages in a final status"})
    byStatusGroup = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True, metadata={"description": "current status group"}
    )
    secondsToFinal = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={
            "description": "messages by the seconds from sentAt to the doneAt of their first final report, per "
            'bucket (not cumulative): keys "1", "5", "15", "60", "300", "900", "3600", "21600", "86400", "+Inf", the '
            "upper bounds; a message without sentAt or doneAt is not counted"
        },
    )
