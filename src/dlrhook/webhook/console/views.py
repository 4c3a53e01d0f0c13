"""The console's read-only pages: the overview, a message, a bulk, and the search between them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from flask import redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response as BaseResponse

from dlrhook import activity
from dlrhook.logs import mask_phone, redact_value
from dlrhook.webhook.console import bp, charts, reads, st
from dlrhook.wire import dumps

#: The overview reloads itself this often (a <meta refresh>: no script).
REFRESH = 10
#: Upper bounds of a bulk's time-to-final buckets, as its read names them (shared-shapes #2).
TO_FINAL = ("1", "5", "15", "60", "300", "900", "3600", "21600", "86400", "+Inf")
_SPAN = {"1": "1 s", "5": "5 s", "15": "15 s", "60": "1 min", "300": "5 min", "900": "15 min"}
_SPAN.update({"3600": "1 h", "21600": "6 h", "86400": "1 d"})


def hhmm(when: float) -> str:
    """A unix time as ``HH:MM`` UTC."""
    return datetime.fromtimestamp(when, UTC).strftime("%H:%M")


def ago(when: float | None, now: float | None = None) -> str:
    """How long ago *when* was, in words an operator reads at a glance."""
    if when is None:
        return "never"
    seconds = max(0.0, (now or time.time()) - when)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def pretty(value: Any) -> str:
    """*value* (Decimals included) as indented JSON, phone numbers and emails masked."""
    return json.dumps(json.loads(dumps(redact_value("", value))), indent=2, ensure_ascii=False)


def outcome_series(series: activity.Series) -> list[tuple[str, list[int]]]:
    """The overview chart's series: the push outcomes, each refusal status, 503s, pulls."""
    out = [
        ("accepted", series.counts.get("push:accepted", [0] * len(series.minutes))),
        ("duplicates", series.counts.get("push:duplicates", [0] * len(series.minutes))),
        ("quarantined", series.counts.get("push:quarantined", [0] * len(series.minutes))),
    ]
    for name in series.fields("refused:"):
        code = int(name.partition(":")[2])
        out.append((f"refused {code} {HTTP_STATUS_CODES.get(code, '')}".strip(), series.counts[name]))
    if "unavailable" in series.counts:
        out.append(("503 (store unavailable)", series.counts["unavailable"]))
    for name in series.fields("pull:") + series.fields("logs:"):
        if series.total(name):
            out.append((name.replace(":", " "), series.counts[name]))
    return out


def handler_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per handler: backlog, oldest undelivered, dead letters, calls and failures per minute."""
    series: activity.Series = data["series"]
    # The last 5 minutes: 4 whole ones and what has passed of the current one.
    elapsed = 4 + max(data["now"] - series.minutes[-1], 1.0) / 60
    names = set(data["handlers"]) | {f.split(":")[1] for f in series.fields("calls:")}
    rows = []
    for name in sorted(names):
        ok = series.counts.get(f"calls:{name}:ok", [0] * len(series.minutes))
        failed = series.counts.get(f"calls:{name}:failed", [0] * len(series.minutes))
        backlog = data["handlers"].get(name, {})
        rows.append(
            {
                "name": name,
                "waiting": backlog.get("waiting"),
                "oldest": backlog.get("oldest_undelivered_seconds"),
                "dead_letters": backlog.get("dead_letters"),
                "calls_per_min": sum(ok[-5:]) / elapsed,
                "failures_per_min": sum(failed[-5:]) / elapsed,
                "calls_spark": charts.spark(ok),
                "failures_spark": charts.spark(failed, colour=charts.PALETTE[3]),
            }
        )
    return rows


@bp.route("/")
def overview() -> str:
    """What came in over the last hour, what each handler has left, the pull paths, Redis."""
    data = reads.overview(st().conn, st().settings)
    series: activity.Series = data["series"]
    chart = charts.stacked_bars(
        outcome_series(series),
        [hhmm(m) for m in series.minutes],
        title="Reports per minute by outcome, and refused pushes, over the last hour (UTC)",
    )
    memory = data["memory"]
    share = memory["used"] / memory["max"] if memory["max"] else None
    return render_template(
        "console/overview.html",
        data=data,
        chart=chart,
        handlers=handler_rows(data),
        share=share,
        refresh=REFRESH,
        ago=ago,
    )


@bp.route("/find")
def find() -> BaseResponse:
    """The search box: a message id, or a bulk id when only a bulk of that id is known."""
    ident = (request.args.get("id") or "").strip()[:200]
    if not ident:
        return redirect(url_for("console.overview"))
    statuses = st().statuses
    if reads.status_of(statuses, "message", ident) is None and reads.status_of(statuses, "bulk", ident) is not None:
        return redirect(url_for("console.bulk", bulk_id=ident))
    return redirect(url_for("console.message", message_id=ident))


@bp.route("/messages/<path:message_id>")
def message(message_id: str) -> str:
    """One message: its folded status and history, its reports Redis still holds (raw), and
    where each handler is with it."""
    conn, settings = st().conn, st().settings
    record = reads.status_of(st().statuses, "message", message_id)
    if record is not None:
        record = {
            **record,
            "to": mask_phone(record.get("to")),
            "callbackData": redact_value("callbackData", record.get("callbackData")),
        }
    found = reads.whereabouts(conn, settings, message_id)
    return render_template(
        "console/message.html",
        message_id=message_id,
        record=record,
        found=found,
        pretty=pretty,
        scan=reads.STREAM_SCAN,
        quarantine_scan=reads.QUARANTINE_SCAN,
        dead_scan=reads.DEAD_SCAN,
    )


@bp.route("/bulks/<path:bulk_id>")
def bulk(bulk_id: str) -> str:
    """One bulk: its messages by status group, and its times to a final status when known."""
    record = reads.status_of(st().statuses, "bulk", bulk_id)
    groups = to_final = Markup("")
    if record is not None:
        items = sorted(record["byStatusGroup"].items(), key=lambda kv: -kv[1])
        groups = charts.bars(items, title="Messages by status group")
        buckets = record.get("secondsToFinal")
        if buckets:
            labels = [("> 1 d" if b == "+Inf" else f"≤ {_SPAN[b]}", int(buckets.get(b, 0))) for b in TO_FINAL]
            to_final = charts.bars(labels, title="Messages by time from sentAt to their first final status")
    return render_template("console/bulk.html", bulk_id=bulk_id, record=record, groups=groups, to_final=to_final)
