"""The channels ``dlrhook simulate`` sends for, and where each one's reports go."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dlrhook.errors import SimulateError


@dataclass(frozen=True)
class Channel:
    """How one channel's reports look: its name in the Messages API, who sends, and what the
    recipient's address is."""

    messages_api: str | None  # the Messages API's channel name; None: not on the Messages API
    sender: str | None
    seen: bool  # Infobip sends seen reports for it (WhatsApp, Viber, RCS)
    email: bool = False
    names_itself: bool = False  # the body carries "channel" (RCS)
    xml_root: str | None = None  # the spec's XML root of its delivery reports; None: JSON only


#: ``--channel`` names (the ``/notify/<channel>`` URL names) and their reports (docs/infobip.md).
CHANNELS: dict[str, Channel] = {
    "sms": Channel("SMS", "InfoSMS", seen=False, xml_root="DeliveryReports"),
    "mms": Channel("MMS", "InfoMMS", seen=False, xml_root="DeliveryReports"),
    "whatsapp": Channel("WHATSAPP", "447860099299", seen=True),
    "viber": Channel("VIBER_BM", "InfobipViber", seen=True, xml_root="DeliveryReports"),
    "viber-bot": Channel("VIBER_BOT", "InfobipBot", seen=False, xml_root="DeliveryReports"),
    "rcs": Channel("RCS", "DemoAgent", seen=True, names_itself=True, xml_root="RcsWebhookDeliveryReports"),
    "email": Channel(None, None, seen=False, email=True),
}
#: The Messages API's XML root; it writes each report as ``<results>`` inside ``<results>``.
MESSAGES_API_XML_ROOT = "MessagesApiDeliveryReportResponse"


def check_channel(channel: str, *, seen: float, messages_api: bool, fmt: str = "json", events: float = 0.0) -> None:
    """Raise :class:`SimulateError` for a channel, seen or event fraction or form Infobip would
    not send (its OpenAPI spec 3.210.0 has XML delivery reports only, for SMS, MMS, Viber, Viber
    Bot, RCS and the Messages API; user events for Email only)."""
    if channel not in CHANNELS:
        raise SimulateError(f"--channel is one of {', '.join(CHANNELS)}, not {channel!r}")
    if not 0 <= seen <= 1:
        raise SimulateError("--seen is a fraction in [0, 1]")
    if messages_api and CHANNELS[channel].messages_api is None:
        raise SimulateError(f"--messages-api: the Messages API does not carry {channel}")
    if seen and not (CHANNELS[channel].seen or messages_api):
        raise SimulateError("--seen: Infobip sends seen reports for whatsapp, viber and rcs (or --messages-api)")
    if not 0 <= events <= 1:
        raise SimulateError("--events is a fraction in [0, 1]")
    if events and (not CHANNELS[channel].email or messages_api):
        raise SimulateError("--events: Infobip sends user events (opened, clicked, ...) for --channel email")
    if fmt != "json":
        if CHANNELS[channel].xml_root is None and not messages_api:
            raise SimulateError(f"--xml: Infobip's spec has no XML reports for {channel}")
        if seen:
            raise SimulateError("--xml: Infobip's spec has JSON seen reports only; leave out --seen")


def channel_url(url: str, name: str) -> str:
    """*url* with ``/<name>`` after a path ending in ``/notify`` (plain ``/notify`` is SMS already)."""
    if name == "sms":
        return url
    parts = urlsplit(url)
    if not parts.path.rstrip("/").endswith("/notify"):
        return url
    return parts._replace(path=parts.path.rstrip("/") + "/" + name).geturl()
