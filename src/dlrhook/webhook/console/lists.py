"""Dead letters and quarantine: listed newest first, filtered, shown one by one, replayed or
deleted one at a time or everything a filter shows.

The actions are :mod:`dlrhook.replay`'s, the ones ``dlrhook failed`` and ``dlrhook quarantine``
run: a replay from the page is the replay of the command line. Each action is a POST with the
form's CSRF token, logged with the ids it touched, and answered with a redirect back to the list.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from dlrhook import quarantine, replay, store
from dlrhook.logs import redact_text
from dlrhook.store import keys
from dlrhook.webhook.console import bp, guard, reads, st
from dlrhook.webhook.console.views import pretty

log = logging.getLogger("dlrhook.console")

#: Rows a listing shows (an action on "everything the filter shows" takes every match).
SHOW = 200


def _filters(values: Any) -> dict[str, str]:
    return {name: (values.get(name) or "").strip()[:200] for name in ("handler", "reason", "since", "source")}


def _back(endpoint: str, f: dict[str, str]) -> BaseResponse:
    """The redirect to the list, with the filter the action came from."""
    args: dict[str, Any] = {k: v for k, v in f.items() if v}
    return redirect(url_for(endpoint, **args))


def _since(choice: str) -> datetime | None:
    return reads.since_of(choice, datetime.now(UTC))


# --- dead letters -------------------------------------------------------------------------------


def _dead_letters(f: dict[str, str]) -> list[replay.DeadLetter]:
    """The dead letters the filter picks, newest first."""
    q = store.queue(st().conn, st().settings)
    found = replay.dead_letters(q, handler=f["handler"] or None, since=_since(f["since"]))
    reason = f["reason"].lower()
    return [e for e in reversed(found) if reason in e.error.lower()]


@bp.route("/dead-letters")
def dead_letters() -> str:
    """Dead letters, newest first, by handler, reason (words of the error) and time."""
    f = _filters(request.args)
    entries = _dead_letters(f)
    handlers = sorted({store.text(h) for h in st().conn.hkeys(keys.HANDLERS)} | {e.handler for e in entries})
    return render_template(
        "console/dead_letters.html",
        entries=entries[:SHOW],
        total=len(entries),
        f=f,
        handlers=handlers,
        since_choices=reads.SINCE_CHOICES,
        redact=redact_text,
    )


@bp.route("/dead-letters/<job_id>")
def dead_letter(job_id: str) -> str:
    """One dead letter: handler, attempts, reason and every report (masked)."""
    try:
        entry, wires = replay.dead_letter(store.queue(st().conn, st().settings), job_id)
    except LookupError:
        abort(404)
    return render_template("console/dead_letter.html", e=entry, wires=wires, pretty=pretty, redact=redact_text)


@bp.route("/dead-letters/<action>", methods=["POST"])
def dead_letters_action(action: str) -> BaseResponse:
    """Replay or delete the dead letters named (``job_id`` fields), or all the filter picks."""
    if action not in ("replay", "delete"):
        abort(404)
    f = _filters(request.form)
    q = store.queue(st().conn, st().settings)
    ids = request.form.getlist("job_id")
    try:
        entries = replay.lookup(q, ids) if ids else _dead_letters(f) if request.form.get("every") else []
        done = replay.replay_failed(q, entries) if action == "replay" else replay.delete_failed(q, entries)
    except LookupError as exc:
        flash(f"Nothing done: {exc} (replayed or deleted meanwhile?)")
        return _back("console.dead_letters", f)
    summary = ", ".join(f"{n} report(s) for {h}" for h, n in sorted(done.items())) or "none"
    verb = "re-queued" if action == "replay" else "deleted"
    log.info(
        "console: %s %d dead letter(s) (%s) from %s: %s",
        verb,
        len(entries),
        summary,
        guard.client_of(request),
        guard.describe([e.job_id for e in entries]),
        extra={"action": f"dead-letters {action}", "jobs": [e.job_id for e in entries], "filter": f},
    )
    flash(f"{verb.capitalize()} {len(entries)} dead letter(s): {summary}.")
    return _back("console.dead_letters", f)


# --- quarantine ---------------------------------------------------------------------------------


def _quarantined(f: dict[str, str]) -> list[dict[str, Any]]:
    """The quarantine entries the filter picks, newest first (of the newest QUARANTINE_SCAN)."""
    since = _since(f["since"])
    found = quarantine.newest(st().conn, reads.QUARANTINE_SCAN, int(since.timestamp() * 1000) if since else None)
    reason = f["reason"].lower()
    return [
        e
        for e in found
        if reason in json.dumps(e.get("errors"), ensure_ascii=False).lower()
        and (not f["source"] or e.get("source") == f["source"])
    ]


def message_id_of(entry: dict[str, Any]) -> str:
    """The message id a quarantined report names, ``-`` for none."""
    raw = entry.get("raw")
    return str(raw.get("messageId") or "-") if isinstance(raw, dict) else "-"


@bp.route("/quarantine")
def quarantined() -> str:
    """Quarantined reports, newest first, by reason (words of the errors), source and time."""
    f = _filters(request.args)
    entries = _quarantined(f)
    return render_template(
        "console/quarantine.html",
        entries=entries[:SHOW],
        total=len(entries),
        f=f,
        since_choices=reads.SINCE_CHOICES,
        scan=reads.QUARANTINE_SCAN,
        message_id_of=message_id_of,
        errors_text=lambda e: redact_text(json.dumps(e.get("errors"), ensure_ascii=False)),
    )


@bp.route("/quarantine/<qid>")
def quarantine_entry(qid: str) -> str:
    """One quarantined report: when and how it came, its errors and its raw body (masked)."""
    try:
        entry = quarantine.get(st().conn, qid)
    except LookupError:
        abort(404)
    return render_template(
        "console/quarantine_entry.html", e=entry, pretty=pretty, replayable=quarantine.replayable(entry)
    )


@bp.route("/quarantine/<action>", methods=["POST"])
def quarantine_action(action: str) -> BaseResponse:
    """Replay (validate and ingest again) or delete the entries named (``qid`` fields), or all
    the filter picks."""
    if action not in ("replay", "delete"):
        abort(404)
    conn, settings = st().conn, st().settings
    f = _filters(request.form)
    ids = request.form.getlist("qid") or (
        [str(e.get("id")) for e in _quarantined(f)] if request.form.get("every") else []
    )
    try:
        if action == "replay":
            result = replay.replay_quarantine(conn, settings, ids)
            summary = (
                f"accepted {len(result.accepted)}, duplicates {len(result.duplicates)}, "
                f"still invalid {len(result.still_invalid)}"
            )
        else:
            summary = f"deleted {replay.delete_quarantine(conn, ids)}"
    except LookupError as exc:
        flash(f"Nothing done: {exc} (replayed or deleted meanwhile?)")
        return _back("console.quarantined", f)
    log.info(
        "console: quarantine %s of %d entr(ies) from %s: %s (%s)",
        action,
        len(ids),
        guard.client_of(request),
        summary,
        guard.describe(ids),
        extra={"action": f"quarantine {action}", "entries": ids, "filter": f},
    )
    flash(f"Quarantine {action} of {len(ids)} entr{'y' if len(ids) == 1 else 'ies'}: {summary}.")
    return _back("console.quarantined", f)
