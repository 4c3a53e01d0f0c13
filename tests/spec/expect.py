"""What the spec says each webhook's report gives a handler, written apart from dlrhook's schemas.

:func:`examples` lists the extracted examples (``tests/samples/spec/`` or the folder named by
``DLRHOOK_SPEC_SAMPLES``, which ``make spec-check`` sets); :func:`expected` is the attributes a
handler must see for one raw report of a webhook, as the README "Channels" table maps them;
:data:`RAW_ONLY` names the spec's properties that are deliberately left in ``report.raw``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.support import SAMPLES


def spec_dir() -> Path:
    """The folder of extracted spec samples the tests read."""
    return Path(os.environ.get("DLRHOOK_SPEC_SAMPLES") or SAMPLES / "spec")


def manifest() -> dict[str, Any]:
    return json.loads((spec_dir() / "manifest.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Example:
    webhook: str
    url: str
    kind: str
    file: str
    content_type: str

    @property
    def body(self) -> bytes:
        return (spec_dir() / self.file).read_bytes()

    def __str__(self) -> str:
        return self.file


def examples() -> list[Example]:
    return [
        Example(w["id"], w["url"], w["kind"], e["file"], e["contentType"])
        for w in manifest()["webhooks"]
        for e in w["examples"]
    ]


def schemas() -> list[tuple[str, str, dict[str, Any]]]:
    """(webhook id, kind, request-body schema) of every report webhook."""
    return [
        (w["id"], w["kind"], json.loads((spec_dir() / w["schema"]).read_text(encoding="utf-8")))
        for w in manifest()["webhooks"]
    ]


#: Properties of the spec's report schemas that dlrhook maps onto no attribute; a handler reads
#: them in ``report.raw`` (README "Channels"). A property in neither this set nor the mapping
#: below fails ``test_every_property_of_the_spec_is_mapped_or_kept_in_raw``.
RAW_ONLY = frozenset(
    {
        "contact",  # WhatsApp: the end user's contact details
        "conversation",  # RCS
        "interactionType",  # RCS
        "trafficType",  # RCS price
        "deviceDetails",  # Messages API
        "networkId",  # Messages API
        "attemptCount",  # Email
        "timeToFirstAttempt",  # Email
        "browserLink",  # Email
        "sendingIp",  # Email
        "smtp",  # Email
        "domain",  # Email user events
        "recipientInfo",  # Email user events: device
        "geoLocation",  # Email user events: geo
    }
)
#: Spec property -> the attribute it maps onto (nested objects are compared field by field).
MAPPED = {
    "messageId": "message_id",
    "bulkId": "bulk_id",
    "to": "to",
    "destination": "to",
    "recipient": "to",
    "from": "sender",
    "sender": "sender",
    "sentAt": "sent_at",
    "sendDateTime": "sent_at",
    "doneAt": "done_at",
    "seenAt": "seen_at",
    "smsCount": "message_count",
    "messageCount": "message_count",
    "mccMnc": "mcc_mnc",
    "price": "price",
    "callbackData": "callback_data",
    "status": "status",
    "error": "error",
    "entityId": "entity_id",
    "applicationId": "application_id",
    "platform": "entity_id, application_id",
    "campaignReferenceId": "campaign_reference_id",
    "channel": "channel",
    "event": "kind",
    "notificationType": "event",
    "url": "url",
    "eventId": "event_id",
}


def _time(text: Any) -> str:
    if text is None:
        return "None"
    value = str(text)
    if value[-5] in "+-" and value[-3] != ":":  # Infobip's +0100 -> +01:00
        value = value[:-2] + ":" + value[-2:]
    return repr(datetime.fromisoformat(value))


def _int(value: Any) -> str:
    return "None" if value is None else repr(int(value))


def _text(value: Any) -> str:
    return "None" if value is None else repr(str(value))


def _price(value: Any) -> str:
    """The README's rule: more than 17 significant digits -> the shortest decimal of that double."""
    if value is None:
        return "None"
    exact = Decimal(str(value))
    return repr(Decimal(repr(float(exact))) if len(exact.as_tuple().digits) > 17 else exact)


def _flag(value: Any) -> str:
    if value is None:
        return "None"
    return repr(value if isinstance(value, bool) else str(value).lower() == "true")


def expected(raw: dict[str, Any], kind: str, url_channel: str) -> dict[str, str]:
    """The attributes (as reprs, like the ``test-record`` handler writes them) a handler must get
    for *raw*, a report of a webhook of *kind* pushed to a URL whose channel is *url_channel*."""
    platform = raw.get("platform") or {}
    out = {
        "message_id": repr(str(raw["messageId"])),
        "bulk_id": _text(raw.get("bulkId")),
        "to": _text(raw.get("to", raw.get("destination", raw.get("recipient")))),
        "sender": _text(raw.get("from", raw.get("sender"))),
        "sent_at": _time(raw.get("sentAt")),
        "done_at": "None" if kind != "delivery" else _time(raw.get("doneAt")),
        "seen_at": _time(raw.get("seenAt")),
        "message_count": _int(raw.get("smsCount", raw.get("messageCount"))),
        "mcc_mnc": _text(raw.get("mccMnc")),
        "callback_data": _text(raw.get("callbackData")),
        "entity_id": _text(raw.get("entityId", platform.get("entityId"))),
        "application_id": _text(raw.get("applicationId", platform.get("applicationId"))),
        "campaign_reference_id": _text(raw.get("campaignReferenceId")),
        "channel": repr(str(raw.get("channel") or ("EMAIL" if kind == "event" else url_channel)).upper()),
        "kind": repr(kind),
        "event": _text(raw.get("notificationType")),
        "url": _text(raw.get("url")),
        "event_id": _text(raw.get("eventId")),
    }
    if kind == "event" and raw.get("sendDateTime") is not None:
        out["sent_at"] = repr(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(raw["sendDateTime"])))
    price = raw.get("price") or {}
    out["price.price_per_message"] = _price(price.get("pricePerMessage")) if raw.get("price") else "None"
    out["price.currency"] = _text(price.get("currency")) if raw.get("price") else "None"
    status = raw.get("status") if kind == "delivery" else None
    for name in ("group_id", "group_name", "id", "name", "description", "action"):
        spec = {"group_id": "groupId", "group_name": "groupName"}.get(name, name)
        value = None if status is None else status.get(spec)
        if name in ("group_id", "id"):
            out[f"status.{name}"] = _int(value)
        elif name == "group_name" and value is not None:
            out[f"status.{name}"] = repr(str(value).upper())
        else:
            out[f"status.{name}"] = _text(value)
    error = raw.get("error") if kind == "delivery" else None
    for name in ("group_id", "group_name", "id", "name", "description", "permanent"):
        spec = {"group_id": "groupId", "group_name": "groupName"}.get(name, name)
        value = None if error is None else error.get(spec)
        if name in ("group_id", "id"):
            out[f"error.{name}"] = _int(value)
        elif name == "permanent":
            out[f"error.{name}"] = _flag(value)
        elif name == "group_name" and value is not None:
            out[f"error.{name}"] = repr(str(value).upper())
        else:
            out[f"error.{name}"] = _text(value)
    return out


def url_channel(url: str) -> str:
    """The channel a notify URL names (``/notify/viber-bot`` -> ``VIBER_BOT``)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return "SMS" if name == "notify" else name.replace("-", "_").upper()
