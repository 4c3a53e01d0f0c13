"""The operator's commands on what dlrhook keeps: ``handlers``, ``quarantine`` and ``status``
(the last reads the status store DLRHOOK_STATUS_STORE names).

``failed`` (dead letters) is :mod:`dlrhook.cli.failed`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dlrhook.cli.common import settings_or_exit


@click.group()
def handlers() -> None:
    """The handlers reports are kept for, and how many wait for each."""


@handlers.command("list")
def handlers_list() -> None:
    """One line per registered handler: name and reports not yet delivered to it."""
    from dlrhook import store
    from dlrhook.workers import stream

    conn = store.connect(settings_or_exit())
    waiting = stream.backlog(conn)
    names = stream.registered(conn)
    if not names:
        click.echo("no handler registered yet (a worker registers its handlers when it starts)")
        return
    click.echo("HANDLER\tWAITING")
    for name in names:
        click.echo(f"{name}\t{waiting.get(name, 0)}")


@handlers.command("forget")
@click.argument("name")
def handlers_forget(name: str) -> None:
    """Stop keeping reports for NAME, a handler no worker runs any more (its waiting reports are dropped)."""
    from dlrhook import store
    from dlrhook.workers import stream

    settings = settings_or_exit()
    conn = store.connect(settings)
    if name not in stream.registered(conn):
        click.echo(f"dlrhook: no registered handler {name!r}", err=True)
        sys.exit(1)
    dropped = stream.forget(conn, store.queue(conn, settings), name)
    click.echo(f"forgot handler {name}: {dropped} waiting reports are no longer kept for it")


@click.group()
def quarantine() -> None:
    """Reports that failed validation, kept raw with their errors."""


@quarantine.command("list")
def quarantine_list() -> None:
    """One line per quarantined report: id, received at, source, message id, errors."""
    from dlrhook import store
    from dlrhook.quarantine import quarantined

    settings = settings_or_exit()
    entries = quarantined(store.connect(settings))
    if not entries:
        click.echo("quarantine is empty")
        return
    click.echo("ID\tRECEIVED AT\tSOURCE\tMESSAGE ID\tERRORS")
    for e in entries:
        raw = e.get("raw")
        message_id = raw.get("messageId", "-") if isinstance(raw, dict) else "-"
        errors = json.dumps(e.get("errors"), separators=(",", ":"))
        click.echo(f"{e.get('id')}\t{e.get('received_at')}\t{e.get('source')}\t{message_id}\t{errors}")


@quarantine.command("show")
@click.argument("entry_id")
@click.option("--unmasked", is_flag=True, help="print phone numbers and email addresses as received")
def quarantine_show(entry_id: str, unmasked: bool) -> None:
    """One quarantined report: when and how it came, its field errors and its raw body (masked
    as in the logs unless --unmasked)."""
    from dlrhook import quarantine as kept
    from dlrhook import store
    from dlrhook.logs import redact_value
    from dlrhook.wire import dumps

    settings = settings_or_exit()
    try:
        entry = kept.get(store.connect(settings), entry_id)
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(f"id          {entry.get('id')}")
    click.echo(f"received at {entry.get('received_at')}")
    click.echo(f"source      {entry.get('source')}")
    click.echo(f"channel     {entry.get('channel') or '-'}")
    click.echo("errors      " + json.dumps(entry.get("errors"), ensure_ascii=False))
    raw = entry.get("raw")
    shown = raw if unmasked else redact_value("", raw)
    click.echo("raw report:")
    click.echo(json.dumps(json.loads(dumps(shown)), indent=2, ensure_ascii=False))


@quarantine.command("delete")
@click.argument("entry_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="delete every quarantined report")
@click.option("--yes", is_flag=True, help="with --all: do not ask")
def quarantine_delete(entry_ids: tuple[str, ...], every: bool, yes: bool) -> None:
    """Delete quarantined reports for good (IDs, or --all): they stop counting in the gauge."""
    from dlrhook import quarantine as kept
    from dlrhook import store
    from dlrhook.replay import delete_quarantine

    if bool(entry_ids) == every:
        raise click.UsageError("give IDs or --all")
    conn = store.connect(settings_or_exit())
    ids = [str(e.get("id")) for e in kept.quarantined(conn)] if every else list(entry_ids)
    if every and ids and not yes:
        click.confirm(f"delete {len(ids)} quarantined report(s) for good?", abort=True)
    try:
        deleted = delete_quarantine(conn, ids)
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(f"deleted {deleted} quarantined report(s)")


@quarantine.command("replay")
@click.argument("entry_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="replay every quarantined report")
def quarantine_replay(entry_id: str | None, replay_all: bool) -> None:
    """Validate one entry (ID) or all (--all) again; ingest those now valid, keep the others."""
    from dlrhook import store
    from dlrhook.replay import replay_quarantine

    if bool(entry_id) == replay_all:
        raise click.UsageError("give an ID or --all")
    settings = settings_or_exit()
    try:
        result = replay_quarantine(store.connect(settings), settings, None if replay_all else [str(entry_id)])
    except LookupError as exc:
        click.echo(f"dlrhook: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"accepted {len(result.accepted)}, duplicates {len(result.duplicates)}, "
        f"still invalid {len(result.still_invalid)}"
    )
    for qid in result.still_invalid:
        click.echo(f"  still invalid: {qid}")


@click.command("status")
@click.argument("message_id", required=False)
@click.option("--bulk-id", default=None, help="a bulk's counts by status group instead of one message")
@click.option("--json", "as_json", is_flag=True, help="print the answer GET /messages or GET /bulks gives, as JSON")
@click.option("--unmasked", is_flag=True, help="print the phone number (or email address) and callbackData as received")
def status_command(message_id: str | None, bulk_id: str | None, as_json: bool, unmasked: bool) -> None:
    """A message's folded status (MESSAGE_ID) or a bulk's counts (--bulk-id), as the status
    handler keeps them; the recipient masked as in the logs unless --unmasked. Exit code 1
    when nothing is known of it."""
    from dlrhook import status
    from dlrhook.logs import mask_phone, redact_value

    if bool(message_id) == bool(bulk_id):
        raise click.UsageError("give a MESSAGE_ID or --bulk-id")
    statuses = status.open_store(settings_or_exit())
    found = statuses.bulk(str(bulk_id)) if bulk_id else statuses.message(str(message_id))
    if found is None:
        what = f"bulk {bulk_id}" if bulk_id else f"message {message_id}"
        click.echo(
            f"dlrhook: no status is known for {what} (no report folded by the status handler, "
            "or older than DLRHOOK_STATUS_TTL)",
            err=True,
        )
        sys.exit(1)
    if message_id and not unmasked:
        found = {
            **found,
            "to": mask_phone(found.get("to")),
            "callbackData": redact_value("callbackData", found.get("callbackData")),
        }
    if as_json:
        click.echo(json.dumps(found, indent=2))
    elif bulk_id:
        click.echo(_bulk_text(found))
    else:
        click.echo(_message_text(found))


def _message_text(m: dict[str, Any]) -> str:
    st = m.get("status") or {}
    err = m.get("error") or {}
    lines = [
        f"message   {m['messageId']}",
        f"bulk      {m.get('bulkId') or '-'}",
        f"channel   {m.get('channel') or '-'}",
        f"to        {m.get('to') or '-'}",
        f"status    {st.get('name') or '-'} ({st.get('groupName') or 'no status yet'}), "
        + ("final" if m.get("final") else "intermediate: a further report may follow"),
        f"error     {err.get('name') or '-'}" + (" (permanent)" if err.get("permanent") else ""),
        f"sent at   {m.get('sentAt') or '-'}",
        f"done at   {m.get('doneAt') or '-'}",
        f"seen at   {m.get('seenAt') or '-'}",
    ]
    # Email user events (opened, clicked, unsubscribed): the earliest time of each.
    lines += [f"{name.lower():<9} {at}" for name, at in sorted((m.get("events") or {}).items())]
    lines += [
        "history (by doneAt):",
    ]
    for h in m.get("history") or []:
        lines.append(
            f"  {h.get('doneAt') or '(no doneAt)':<32} {h.get('status') or '-'} ({h.get('group')})"
            f"{', final' if h.get('final') else ''}  via {h.get('source')}, received {h.get('receivedAt')}"
        )
    return "\n".join(lines)


def _bulk_text(b: dict[str, Any]) -> str:
    total = b["messages"]
    share = f" ({100 * b['final'] / total:.0f}%)" if total else ""
    lines = [f"bulk {b['bulkId']}: {total} messages, {b['final']} final{share}"]
    for group, count in sorted(b["byStatusGroup"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {group:<14} {count}")
    buckets = {k: v for k, v in (b.get("secondsToFinal") or {}).items() if v}
    if buckets:
        lines.append("seconds to final (up to): " + ", ".join(f"{k} s: {v}" for k, v in buckets.items()))
    return "\n".join(lines)
