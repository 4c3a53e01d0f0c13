"""Realistic reports of one message each, as Infobip writes them (docs/infobip.md)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dlrhook.dev.simulate.channels import CHANNELS

_OK_ERROR = {
    "groupId": 0,
    "groupName": "OK",
    "id": 0,
    "name": "NO_ERROR",
    "description": "No Error",
    "permanent": False,
}
_PERMANENT = {
    "groupId": 1,
    "groupName": "HANDSET_ERRORS",
    "id": 1,
    "name": "EC_UNKNOWN_SUBSCRIBER",
    "description": "Unknown subscriber",
    "permanent": True,
}
_TEMPORARY = {
    "groupId": 1,
    "groupName": "HANDSET_ERRORS",
    "id": 27,
    "name": "EC_ABSENT_SUBSCRIBER",
    "description": "Absent subscriber",
    "permanent": False,
}
_STATUS = {
    "delivered": (3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", "Message delivered to handset"),
    "pending": (1, "PENDING", 7, "PENDING_ENROUTE", "Message sent to next instance"),
    "undeliverable": (2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered"),
    "expired": (4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired"),
}
_REJECTIONS = (
    (8, "REJECTED_PREFIX_MISSING", "Number prefix missing"),
    (10, "REJECTED_DND", "Destination on DND list"),
    (12, "REJECTED_NOT_ENOUGH_CREDITS", "Not enough credits"),
    (14, "REJECTED_DESTINATION_BLOCKLISTED", "Destination blocklisted"),
)
#: (number prefix, digits after it, mcc/mnc, price per message EUR): mobile ranges that exist.
_NETWORKS = (
    ("4179", 7, "22801", 0.045),
    ("4178", 7, "22803", 0.045),
    ("4176", 7, "22802", 0.045),
    ("49151", 8, "26201", 0.07),
    ("49172", 8, "26202", 0.07),
    ("447", 9, "23410", 0.035),
    ("38591", 7, "21901", 0.04),
)


def _ts(moment: datetime) -> str:
    """Infobip's time format: ``2015-02-12T09:51:43.123+0000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class ReportFactory:
    """Makes reports; all randomness comes from one seeded ``random.Random``.

    *channel* is a :data:`CHANNELS` name; *seen* the chance that a delivered message is also
    reported seen; *events* the chance that a delivered email is opened (user events: OPENED,
    then maybe CLICKED, UNSUBSCRIBED or COMPLAINED); *messages_api* writes the Messages API's
    form (``event``, ``channel``, ``destination``, an integer ``mccMnc``).
    """

    def __init__(
        self,
        rng: random.Random,
        v3: bool = False,
        now: datetime | None = None,
        *,
        channel: str = "sms",
        seen: float = 0.0,
        messages_api: bool = False,
        events: float = 0.0,
    ) -> None:
        self.rng = rng
        self.events = events
        self.v3 = v3 or channel != "sms" or messages_api
        self.now = now or datetime.now(UTC).replace(microsecond=0)
        self.bulk_id = self._uuid()
        self.channel_name = channel
        self.channel = CHANNELS[channel]
        self.seen = seen
        self.messages_api = messages_api

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _status(self, kind: str) -> dict[str, Any]:
        if kind == "rejected":
            sid, name, description = self.rng.choice(_REJECTIONS)
            group_id, group = 5, "REJECTED"
        else:
            group_id, group, sid, name, description = _STATUS[kind]
        return {"groupId": group_id, "groupName": group, "id": sid, "name": name, "description": description}

    def message(self, kind: str, room: int = 3) -> list[dict[str, Any]]:
        """The reports of one message of *kind* (a mix name): one, or two for pending-delivered,
        and a seen report after a delivered one (with chance ``seen``) when *room* allows."""
        prefix, digits, mcc_mnc, price = self.rng.choice(_NETWORKS)
        to = prefix + "".join(self.rng.choices("0123456789", k=digits))
        if self.channel.email:
            to = f"{self.rng.choice(('anna', 'ben', 'chen', 'dara'))}.{self.rng.randrange(10**4)}@example.com"
        message_id = self._uuid()
        sent = self.now - timedelta(seconds=self.rng.uniform(5, 3600))
        sms_count = self.rng.choice((1, 1, 1, 2))
        base: dict[str, Any] = {
            "bulkId": self.bulk_id,
            "messageId": message_id,
            "to": to,
            "sentAt": _ts(sent),
            "mccMnc": mcc_mnc,
            "price": {"pricePerMessage": price, "currency": "EUR"},
            "callbackData": f"order-{self.rng.randrange(10**6):06d}",
        }
        delay = self.rng.lognormvariate(1.5, 1.0)  # seconds: most in a few, some in minutes
        if kind == "pending-delivered":
            steps = [("pending", delay / 4, _OK_ERROR), ("delivered", delay, _OK_ERROR)]
        elif kind == "undeliverable-permanent":
            steps = [("undeliverable", delay, _PERMANENT)]
        elif kind == "undeliverable-temporary":
            steps = [("undeliverable", delay * 10, _TEMPORARY)]
        elif kind == "expired":
            steps = [("expired", 48 * 3600.0, _TEMPORARY)]
        elif kind == "rejected":
            steps = [("rejected", self.rng.uniform(0.01, 0.5), _OK_ERROR)]
        else:
            steps = [("delivered", delay, _OK_ERROR)]
        reports = []
        for status, seconds, error in steps:
            report = dict(base)
            report["doneAt"] = _ts(sent + timedelta(seconds=seconds))
            report["status"] = self._status(status)
            report["error"] = dict(error)
            if not self.v3 and error is _OK_ERROR:
                report["error"]["groupName"] = "Ok"  # as Infobip's v1 examples spell it
            reports.append(self._names(report, sms_count))
        last = steps[-1]
        if last[0] == "delivered" and len(reports) < room and self.seen and self.rng.random() < self.seen:
            seen_at = sent + timedelta(seconds=last[1] + self.rng.lognormvariate(4, 1.5))
            reports.append(self._seen(base, seen_at))
        if last[0] == "delivered" and self.events and self.rng.random() < self.events:
            reports.extend(self._events(base, sent)[: max(0, room - len(reports))])
        return reports

    def _events(self, base: dict[str, Any], sent: datetime) -> list[dict[str, Any]]:
        """Email user events of a delivered email, as the spec's examples write them: an open,
        and after it perhaps a click, an unsubscribe or a complaint."""
        names = ["OPENED"]
        if self.rng.random() < 0.4:
            names.append("CLICKED")
        if self.rng.random() < 0.05:
            names.append("UNSUBSCRIBED")
        if self.rng.random() < 0.01:
            names.append("COMPLAINED")
        out = []
        for name in names:
            event: dict[str, Any] = {
                "notificationType": name,
                "eventId": self._uuid(),
                "domain": "example.com",
                "recipient": base["to"],
                "sendDateTime": int(sent.timestamp() * 1000),
                "messageId": base["messageId"],
                "bulkId": base["bulkId"],
                "callbackData": base["callbackData"],
            }
            if name == "CLICKED":
                event["url"] = f"https://www.example.com/offer/{self.rng.randrange(100)}"
            if name == "COMPLAINED":
                event["sender"] = "noreply@example.com"
            else:
                event["recipientInfo"] = {"deviceType": "Phone", "os": "iOS 17", "deviceName": "Apple"}
                event["geoLocation"] = {"countryName": "Switzerland", "city": "Zurich"}
            out.append(event)
        return out

    def _seen(self, base: dict[str, Any], seen_at: datetime) -> dict[str, Any]:
        """A seen report of the message *base* describes (docs/infobip.md, "Seen reports")."""
        platform = {"entityId": "promotional-traffic", "applicationId": "marketing-automation"}
        if self.messages_api:
            return {
                "event": "SEEN",
                "channel": self.channel.messages_api,
                "sender": self.channel.sender,
                "destination": base["to"],
                "sentAt": base["sentAt"],
                "seenAt": _ts(seen_at),
                "bulkId": base["bulkId"],
                "messageId": base["messageId"],
                "platform": platform,
            }
        # The channels' own seen reports, as the spec's examples write them: the business in
        # `from`, the recipient in `to` (docs/infobip.md, "Where the spec disagrees with itself").
        return {
            "messageId": base["messageId"],
            "from": self.channel.sender,
            "to": base["to"],
            "sentAt": base["sentAt"],
            "seenAt": _ts(seen_at),
            **platform,
        }

    def _names(self, report: dict[str, Any], sms_count: int) -> dict[str, Any]:
        if self.messages_api:
            report["event"] = "DELIVERY"
            report["channel"] = self.channel.messages_api
            report["sender"] = self.channel.sender
            report["destination"] = report.pop("to")
            report["messageCount"] = sms_count
            report["mccMnc"] = int(report["mccMnc"])  # an integer on the Messages API
            report["platform"] = {"entityId": "promotional-traffic", "applicationId": "marketing-automation"}
            return report
        if self.channel.email:
            del report["mccMnc"]
            report["smsCount"] = 1
            report["browserLink"] = f"https://email.example.com/view/{report['messageId']}"
            report["sendingIp"] = "192.0.2.10"
            return report
        if self.channel_name != "sms":
            if self.channel.sender:
                report["sender"] = self.channel.sender
            report["messageCount"] = sms_count
            if self.channel.names_itself:
                report["channel"] = self.channel.messages_api
            return report
        if self.v3:
            report["sender"] = "InfoSMS"
            report["messageCount"] = sms_count
            report["platform"] = {"entityId": "promotional-traffic", "applicationId": "marketing-automation"}
        else:
            report["from"] = "InfoSMS"
            report["smsCount"] = sms_count
            report["entityId"] = "promotional-traffic"
            report["applicationId"] = "marketing-automation"
        return report
