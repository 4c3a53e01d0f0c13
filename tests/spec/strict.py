"""The spec's webhook request-body schemas, tightened into "a report Infobip could send".

The spec's report schemas require nothing and allow any further property. A generated instance
of them as they are is mostly not a report (no ``messageId``, a ``status`` of ``{}``, an
``event`` of ``"x"``, a ``sentAt`` of ``"?"``). :func:`strict` adds, and only adds, what
docs/infobip.md ("What dlrhook requires beyond the spec") lists, and widens one type the
spec's own examples contradict (a user event's ``messageId``: ``number`` in the schema, text
in every example; RCS's ``conversation.id``: ``string``, and ``null`` in its examples: every
optional property may be null, and must be taken so):

- every report has a ``messageId`` with a visible character; a delivery report a ``status`` with ``groupId``
  and ``groupName``; a seen report ``seenAt``; a user event ``notificationType``;
- the Messages API's ``event`` is its webhook's (``DELIVERY`` or ``SEEN``);
- times (``sentAt``, ``doneAt``, ``seenAt``) are written as the spec's descriptions say,
  ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` (or RFC 3339's ``Z``/``+01:00``), in years 1970 to 2099;
- ``format: int32``/``int64`` integers are within their type's range;
- text is no longer than dlrhook reads (``dlrhook.schemas.fields``: ids 200 characters,
  ``callbackData`` 4,000, addresses 320, a clicked ``url`` 8,192, any other text 1,000), or
  the spec's own ``maxLength`` where it is shorter;
- objects hold the properties the spec defines and no others (``allOf`` wrappers are merged
  into their object first, so this keeps every property the spec names).
"""

from __future__ import annotations

import copy
from typing import Any

from dlrhook.schemas.fields import MAX_ADDRESS, MAX_CALLBACK_DATA, MAX_ID, MAX_TEXT, MAX_URL

TIME_PATTERN = (
    r"^(19[7-9][0-9]|20[0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}(Z|[+-](0[0-9]|1[0-3]):?[0-5][0-9])\Z"
)
TIME_NAMES = frozenset({"sentAt", "doneAt", "seenAt"})
NON_BLANK = r"[!-~]"  # a visible ASCII character (\S differs between regex engines: \x1f)
RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
#: Longest text dlrhook reads, by property name (the rest: MAX_TEXT).
TEXT_LIMITS = {
    "messageId": MAX_ID,
    "bulkId": MAX_ID,
    "eventId": MAX_ID,
    "callbackData": MAX_CALLBACK_DATA,
    "to": MAX_ADDRESS,
    "from": MAX_ADDRESS,
    "sender": MAX_ADDRESS,
    "destination": MAX_ADDRESS,
    "recipient": MAX_ADDRESS,
    "url": MAX_URL,
}


def _merge_all_of(node: dict[str, Any]) -> None:
    for sub in node.pop("allOf", []):
        _merge_all_of(sub)
        node.setdefault("properties", {}).update(sub.get("properties", {}))
        node["required"] = sorted(set(node.get("required", [])) | set(sub.get("required", [])))
        for key, value in sub.items():
            if key not in ("properties", "required"):
                node.setdefault(key, value)
    if not node.get("required"):
        node.pop("required", None)


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    _merge_all_of(node)
    if node.get("type") == "integer" and node.get("format") in RANGES:
        low, high = RANGES[node["format"]]
        node.setdefault("minimum", low)
        node.setdefault("maximum", high)
    if "properties" in node or node.get("type") == "object":
        node["additionalProperties"] = False
        for name, sub in node.get("properties", {}).items():
            if not isinstance(sub, dict):
                continue
            _merge_all_of(sub)
            if name in TIME_NAMES and sub.get("type") == "string":
                sub.pop("format", None)
                sub["pattern"] = TIME_PATTERN
            if sub.get("type") == "string" or "string" in (sub.get("type") or []):
                limit = TEXT_LIMITS.get(name, MAX_TEXT)
                sub["maxLength"] = min(sub.get("maxLength", limit), limit)
            if isinstance(sub.get("type"), str) and name not in node.get("required", []):
                sub["type"] = [sub["type"], "null"]
                if "enum" in sub:
                    sub["enum"] = [*sub["enum"], None]
    for key, value in node.items():
        if key not in ("enum", "const", "default", "required"):
            _walk(value)


def _require(node: dict[str, Any], *names: str) -> None:
    """*names* required, and not null."""
    node["required"] = sorted(set(node.get("required", [])) | set(names))
    for name in names:
        sub = node["properties"][name]
        if isinstance(sub.get("type"), list):
            sub["type"] = [t for t in sub["type"] if t != "null"] or sub["type"]
        if "enum" in sub:
            sub["enum"] = [v for v in sub["enum"] if v is not None]


def strict(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    """*schema* (a webhook's request body) tightened for a report of *kind* (see the module)."""
    body = copy.deepcopy(schema)
    _walk(body)
    if kind == "event":
        item = body
    else:
        _require(body, "results")
        results = body["properties"]["results"]
        results.update(type="array", minItems=1, maxItems=3)
        item = results["items"]
    props = item["properties"]
    _require(item, "messageId")
    if kind == "event":
        props["messageId"]["type"] = ["string", "number"]
    props["messageId"]["pattern"] = NON_BLANK  # applies to text only
    if kind == "delivery":
        _require(item, "status")
        _require(props["status"], "groupId", "groupName")
    if kind == "seen":
        _require(item, "seenAt")
    if kind == "event":
        _require(item, "notificationType")
        props["notificationType"]["pattern"] = NON_BLANK
    if "event" in props:
        props["event"]["enum"] = ["DELIVERY" if kind == "delivery" else "SEEN"]
        props["event"]["type"] = "string"
    return body
