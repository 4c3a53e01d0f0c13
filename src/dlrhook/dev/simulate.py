"""``dlrhook simulate``: POST realistic Infobip delivery-report batches to a receiver.

How a user checks a deployment and how the benchmarks drive load. Reports follow docs/infobip.md:
v1 (or v3) field names, JSON or the XML ``reportResponse`` form, a mix of statuses with
permanent and temporary errors, "pending then delivered" pairs for one message, and exact
re-sends of earlier reports (which the receiver must count as duplicates). For another
channel (``--channel whatsapp``) it sends that channel's reports to ``/notify/<channel>``,
with seen reports for a fraction of the delivered messages (``--seen``), or the Messages API's
form (``--messages-api``) to ``/notify/messages``.

Sending uses one keep-alive ``http.client`` connection per thread; every batch is encoded
before the clock starts, so the numbers measure the receiver, not the encoder. Nothing here
prints a phone number or a credential.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape

from dlrhook.errors import SimulateError

#: Mix names and the default weights (percent).
DEFAULT_MIX: dict[str, float] = {
    "delivered": 70,
    "pending-delivered": 10,
    "undeliverable-permanent": 6,
    "undeliverable-temporary": 4,
    "expired": 5,
    "rejected": 5,
}

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


@dataclass(frozen=True)
class Channel:
    """How one channel's reports look: its name in the Messages API, who sends, and what the
    recipient's address is."""

    messages_api: str | None  # the Messages API's channel name; None: not on the Messages API
    sender: str | None
    seen: bool  # Infobip sends seen reports for it (WhatsApp, Viber, RCS)
    email: bool = False
    names_itself: bool = False  # the body carries "channel" (RCS)


#: ``--channel`` names (the ``/notify/<channel>`` URL names) and their reports (docs/infobip.md).
CHANNELS: dict[str, Channel] = {
    "sms": Channel("SMS", "InfoSMS", seen=False),
    "mms": Channel("MMS", "InfoMMS", seen=False),
    "whatsapp": Channel("WHATSAPP", "447860099299", seen=True),
    "viber": Channel("VIBER_BM", "InfobipViber", seen=True),
    "rcs": Channel("RCS", "DemoAgent", seen=True, names_itself=True),
    "email": Channel(None, None, seen=False, email=True),
}


def parse_mix(text: str | None) -> dict[str, float]:
    """``"delivered=80,rejected=20"`` -> weights; names from :data:`DEFAULT_MIX`, None -> default."""
    if not text:
        return dict(DEFAULT_MIX)
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.strip().partition("=")
        if not sep or name not in DEFAULT_MIX:
            raise SimulateError(f"--mix: {part.strip()!r} is not name=weight with a name in {', '.join(DEFAULT_MIX)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise SimulateError(f"--mix: weight {weight!r} of {name} is not a number") from None
        if mix[name] < 0:
            raise SimulateError(f"--mix: weight of {name} is negative")
    if sum(mix.values()) <= 0:
        raise SimulateError("--mix: the weights add up to zero")
    return mix


def _ts(moment: datetime) -> str:
    """Infobip's time format: ``2015-02-12T09:51:43.123+0000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class ReportFactory:
    """Makes reports; all randomness comes from one seeded ``random.Random``.

    *channel* is a :data:`CHANNELS` name; *seen* the chance that a delivered message is also
    reported seen; *messages_api* writes the Messages API's form (``event``, ``channel``,
    ``destination``, an integer ``mccMnc``).
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
    ) -> None:
        self.rng = rng
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
        return reports

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
        # The channels' own seen reports: the end user in `from`, the business in `to`.
        return {
            "messageId": base["messageId"],
            "from": base["to"],
            "to": self.channel.sender,
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


def check_channel(channel: str, *, seen: float, messages_api: bool, fmt: str = "json") -> None:
    """Raise :class:`SimulateError` for a channel, seen fraction or form Infobip would not send."""
    if channel not in CHANNELS:
        raise SimulateError(f"--channel is one of {', '.join(CHANNELS)}, not {channel!r}")
    if not 0 <= seen <= 1:
        raise SimulateError("--seen is a fraction in [0, 1]")
    if messages_api and CHANNELS[channel].messages_api is None:
        raise SimulateError(f"--messages-api: the Messages API does not carry {channel}")
    if seen and not (CHANNELS[channel].seen or messages_api):
        raise SimulateError("--seen: Infobip sends seen reports for whatsapp, viber and rcs (or --messages-api)")
    if fmt != "json" and (channel != "sms" or messages_api):
        raise SimulateError("--format xml is for SMS reports only")


def channel_url(url: str, name: str) -> str:
    """*url* with ``/<name>`` after a path ending in ``/notify`` (plain ``/notify`` is SMS already)."""
    if name == "sms":
        return url
    parts = urlsplit(url)
    if not parts.path.rstrip("/").endswith("/notify"):
        return url
    return parts._replace(path=parts.path.rstrip("/") + "/" + name).geturl()


def generate(
    count: int,
    *,
    mix: dict[str, float],
    duplicates: float,
    v3: bool,
    rng: random.Random,
    now: datetime | None = None,
    channel: str = "sms",
    seen: float = 0.0,
    messages_api: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """*count* reports in sending order, and how many of them are re-sends of earlier ones.

    A pending report comes before its delivered one; a re-send comes after its original; a
    seen report (*seen*: the chance a delivered message has one) mostly after its delivery
    report, sometimes before (Infobip promises no order). Times are set back from *now*
    (default: the current time).
    """
    if count < 0:
        raise SimulateError("--count cannot be negative")
    if not 0 <= duplicates < 1:
        raise SimulateError("--duplicates is a fraction in [0, 1)")
    check_channel(channel, seen=seen, messages_api=messages_api)
    n_dup = min(round(count * duplicates), count - 1) if count else 0
    n_orig = count - n_dup
    factory = ReportFactory(rng, v3=v3, now=now, channel=channel, seen=seen, messages_api=messages_api)
    names, weights = list(mix), list(mix.values())
    keyed: list[tuple[float, dict[str, Any]]] = []
    while len(keyed) < n_orig:
        kind = rng.choices(names, weights)[0]
        if kind == "pending-delivered" and n_orig - len(keyed) < 2:
            kind = "delivered"
        position = float(len(keyed))
        for step, report in enumerate(factory.message(kind, room=n_orig - len(keyed))):
            # A seen report may overtake its delivery report, as it may at Infobip.
            offset = rng.uniform(-10, 50) if "seenAt" in report else rng.uniform(1, 50)
            keyed.append((position + step * offset, report))
    originals = list(keyed)
    for _ in range(n_dup):
        position, report = rng.choice(originals)
        keyed.append((position + rng.uniform(0.5, 100), report))
    keyed.sort(key=lambda pair: pair[0])
    return [report for _, report in keyed], n_dup


def _xml_value(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_xml_value(k, v) for k, v in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def encode(reports: list[dict[str, Any]], fmt: str, v3: bool = False) -> bytes:
    """One push body: ``{"results": [...]}``, or XML (``reportResponse``, v3 ``DeliveryReports``)."""
    if fmt == "json":
        return json.dumps({"results": reports}, separators=(",", ":")).encode()
    root = "DeliveryReports" if v3 else "reportResponse"
    results = "".join(_xml_value("result", r) for r in reports)
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}><results>{results}</results></{root}>'.encode()


@dataclass
class Target:
    """Where to POST: connection details and the headers every request carries."""

    scheme: str
    host: str
    port: int
    path: str
    headers: dict[str, str]
    timeout: float

    @classmethod
    def from_options(
        cls, url: str, *, token: str | None, basic: str | None, content_type: str, timeout: float
    ) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulateError(f"--url must be an http(s):// URL, not {url!r}")
        query = parts.query
        if token:
            query = f"{query}&{urlencode({'token': token})}" if query else urlencode({"token": token})
        path = (parts.path or "/") + (f"?{query}" if query else "")
        headers = {"Content-Type": content_type, "Accept": "application/json", "User-Agent": "dlrhook-simulate"}
        if basic:
            if ":" not in basic:
                raise SimulateError("--basic must be user:password")
            headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, path, headers, timeout)

    @property
    def display(self) -> str:
        """The URL without its query string (which may hold the token)."""
        return f"{self.scheme}://{self.host}:{self.port}{self.path.split('?', 1)[0]}"

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)


@dataclass
class Summary:
    """What the run did, from the receiver's answers."""

    target: str
    reports: int = 0
    resent: int = 0
    batches: int = 0
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def failed(self) -> int:
        """Batches not answered 200 (a batch never sent counts as failed too)."""
        return max(self.batches, self.requests) - self.statuses.get("200", 0)

    def percentile(self, q: float) -> float:
        """Latency percentile *q* (0-100) in seconds, nearest-rank; 0 with no requests."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "reports": self.reports,
            "resent": self.resent,
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "failed": self.failed,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "elapsed_s": round(self.elapsed, 3),
            "reports_per_s": round(self.reports / self.elapsed, 1) if self.elapsed else 0.0,
            "requests_per_s": round(self.requests / self.elapsed, 1) if self.elapsed else 0.0,
            "latency_p50_ms": round(self.percentile(50) * 1000, 2),
            "latency_p99_ms": round(self.percentile(99) * 1000, 2),
            "first_failures": self.failures[:5],
        }

    def text(self) -> str:
        d = self.as_dict()
        statuses = ", ".join(f"{k}: {v}" for k, v in d["statuses"].items()) or "none"
        lines = [
            f"target        {d['target']}",
            f"reports sent  {d['reports']} ({d['resent']} of them re-sends)",
            f"requests      {d['requests']} ({statuses}); failed {d['failed']}",
            f"answers       accepted {d['accepted']}, duplicates {d['duplicates']}, quarantined {d['quarantined']}",
            f"throughput    {d['reports_per_s']} reports/s, {d['requests_per_s']} requests/s over {d['elapsed_s']} s",
            f"latency       p50 {d['latency_p50_ms']} ms, p99 {d['latency_p99_ms']} ms",
        ]
        lines += [f"failure       {f}" for f in d["first_failures"]]
        return "\n".join(lines)


# A kept-alive connection the server already closed fails at once on reuse; resending is safe
# (the receiver deduplicates) and is what every HTTP client library does.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest)


class _Sender(threading.Thread):
    def __init__(self, run: _Run) -> None:
        super().__init__(daemon=True)
        self.run_state = run
        self.conn: http.client.HTTPConnection | None = None

    def _post(self, body: bytes) -> tuple[int, bytes]:
        target = self.run_state.target
        for attempt in (1, 2):
            fresh = self.conn is None
            conn = self.conn = self.conn or target.connect()
            try:
                conn.request("POST", target.path, body=body, headers=target.headers)
                response = conn.getresponse()
                data = response.read()
            except _STALE:
                conn.close()
                self.conn = None
                if fresh or attempt == 2:
                    raise
                continue
            except BaseException:
                conn.close()
                self.conn = None
                raise
            if response.will_close:
                conn.close()
                self.conn = None
            return response.status, data
        raise AssertionError("unreachable")

    def run(self) -> None:
        state = self.run_state
        for due, body in state.jobs():
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                status, data = self._post(body)
            except Exception as exc:  # any failure is one failed request, reported in the summary
                state.record(None, b"", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
                continue
            failure = None if status == 200 else f"HTTP {status}: {data[:200].decode(errors='replace')}"
            state.record(status, data, time.perf_counter() - started, failure)
        if self.conn is not None:
            self.conn.close()


class _Run:
    def __init__(self, target: Target, bodies: list[tuple[int, bytes]], rate: float, summary: Summary) -> None:
        self.target = target
        self.bodies = bodies
        self.rate = rate
        self.summary = summary
        self.lock = threading.Lock()
        self.next = 0
        self.sent_reports = 0
        self.t0 = 0.0

    def jobs(self) -> Iterator[tuple[float, bytes]]:
        """Hand out batches in order, each with the time it is due (from ``--rate``)."""
        while True:
            with self.lock:
                if self.next >= len(self.bodies):
                    return
                n_reports, body = self.bodies[self.next]
                self.next += 1
                due = self.t0 + self.sent_reports / self.rate if self.rate > 0 else 0.0
                self.sent_reports += n_reports
            yield due, body

    def record(self, status: int | None, data: bytes, latency: float, failure: str | None) -> None:
        answer: dict[str, Any] = {}
        if status == 200:
            try:
                answer = json.loads(data)
            except ValueError:
                failure = "HTTP 200 with a body that is not JSON"
        with self.lock:
            s = self.summary
            s.requests += 1
            s.statuses[str(status) if status is not None else "error"] += 1
            s.latencies.append(latency)
            if failure:
                s.failures.append(failure)
            if isinstance(answer, dict):
                s.accepted += int(answer.get("accepted", 0))
                s.duplicates += int(answer.get("duplicates", 0))
                s.quarantined += int(answer.get("quarantined", 0))


def simulate(
    url: str,
    *,
    count: int = 100,
    batch_size: int = 100,
    rate: float = 0.0,
    concurrency: int = 4,
    fmt: str = "json",
    mix: dict[str, float] | None = None,
    duplicates: float = 0.0,
    v3: bool = False,
    token: str | None = None,
    basic: str | None = None,
    seed: int | None = None,
    timeout: float = 30.0,
    channel: str = "sms",
    seen: float = 0.0,
    messages_api: bool = False,
) -> Summary:
    """Send *count* reports in batches of *batch_size* and return what the receiver answered.

    *channel* (a :data:`CHANNELS` name) other than sms, or *messages_api*, sends that form to
    ``/notify/<channel>`` (``/notify/messages``): a *url* ending in ``/notify`` gets the name
    appended. *seen* is the chance that a delivered message is also reported seen.

    *rate* is reports per second over the whole run (0: as fast as *concurrency* connections
    allow). With a *seed* the reports (message ids and times included) are the same on every
    run of the same UTC day, so a rerun against the same receiver is all duplicates.
    """
    if batch_size < 1:
        raise SimulateError("--batch-size must be at least 1")
    if concurrency < 1:
        raise SimulateError("--concurrency must be at least 1")
    if rate < 0:
        raise SimulateError("--rate cannot be negative")
    if fmt not in ("json", "xml"):
        raise SimulateError("--format is json or xml")
    check_channel(channel, seen=seen, messages_api=messages_api, fmt=fmt)
    url = channel_url(url, "messages" if messages_api else channel)
    content_type = "application/json" if fmt == "json" else "application/xml"
    target = Target.from_options(url, token=token, basic=basic, content_type=content_type, timeout=timeout)
    rng = random.Random(seed)  # test data, not secrets
    # With a seed the times are anchored to today's midnight UTC, so a rerun the same day
    # sends the very same reports (same identities: the receiver answers duplicates).
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else None
    reports, resent = generate(
        count,
        mix=mix or dict(DEFAULT_MIX),
        duplicates=duplicates,
        v3=v3,
        rng=rng,
        now=now,
        channel=channel,
        seen=seen,
        messages_api=messages_api,
    )
    bodies = [
        (len(reports[i : i + batch_size]), encode(reports[i : i + batch_size], fmt, v3))
        for i in range(0, len(reports), batch_size)
    ]
    summary = Summary(target=target.display, reports=len(reports), resent=resent, batches=len(bodies))
    run = _Run(target, bodies, rate, summary)
    threads = [_Sender(run) for _ in range(min(concurrency, max(len(bodies), 1)))]
    run.t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary.elapsed = time.perf_counter() - run.t0
    return summary
