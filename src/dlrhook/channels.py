"""Channels: Infobip's channel names, and the channel a notify URL or a pull path stands for.

Most channels' report bodies do not say which channel they are about (docs/infobip.md, "Other
channels"): only the URL Infobip was given, or the reports path the poller reads, can. The
Messages API's bodies name their channel in every report; its URL and path name none.
"""

from __future__ import annotations

import re

#: The channel of a report whose body names none, pushed to plain ``/notify`` or pulled from a
#: path that names none: what dlrhook received before it read channels.
DEFAULT_CHANNEL = "SMS"

#: Infobip's channel names (its channel APIs and the Messages API's ``channel`` values). Any
#: other name is still a channel; metrics count it as ``OTHER``, so a body cannot invent labels.
KNOWN = frozenset(
    {
        "SMS",
        "MMS",
        "WHATSAPP",
        "VIBER",
        "VIBER_BM",
        "VIBER_BOT",
        "RCS",
        "EMAIL",
        "ZALO",
        "APPLE_MB",
        "INSTAGRAM_DM",
        "LINE_ON",
        "MESSENGER",
    }
)

#: ``/notify/<name>``: letters, digits, ``_`` and ``-``, at most 32 of them (read in lower case).
URL_PATTERN = r"[A-Za-z0-9_-]{1,32}"
URL_NAME = re.compile(f"^{URL_PATTERN}$")

#: URL names and pull-path prefixes of forms whose every report names its channel.
NAMED_IN_BODY = frozenset({"messages", "messages-api"})


def from_url_name(name: str) -> str | None:
    """The channel ``/notify/<name>`` stands for: ``whatsapp`` (or ``WhatsApp``) -> ``WHATSAPP``,
    ``viber-bm`` -> ``VIBER_BM``; None for ``messages`` (the Messages API: each report names its own).

    Raises ValueError for a name that is not :data:`URL_PATTERN`.
    """
    if not URL_NAME.match(name):
        raise ValueError(f"{name!r} is not a channel name: letters, digits, _ and -, at most 32")
    name = name.lower()
    if name in NAMED_IN_BODY:
        return None
    return name.replace("-", "_").upper()


def from_pull_path(path: str) -> str | None:
    """The channel of reports pulled from *path*: its first segment (``/viber/2/reports`` ->
    ``VIBER``, ``/sms/3/reports`` -> ``SMS``); None for ``/messages-api/1/reports``, whose
    reports name their channel."""
    first = path.strip("/").split("/", 1)[0].lower()
    if not first or first in NAMED_IN_BODY:
        return None
    return first.replace("-", "_").upper()


def metric_label(channel: str | None) -> str:
    """*channel* as a metrics label: a known name, ``NONE`` when unknown yet, else ``OTHER``."""
    if channel is None or channel == "":
        return "NONE"
    return channel if channel in KNOWN else "OTHER"
