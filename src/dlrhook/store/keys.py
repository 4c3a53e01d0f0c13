"""Every key name dlrhook writes in Redis, and the job paths RQ stores, in one place.

Every key starts with ``dlrhook:`` (RQ's own keys start with ``rq:``). The shapes are described
beside each name; docs/workers.md and docs/poller.md tell the story of each.
"""

from __future__ import annotations

import hashlib

PREFIX = "dlrhook:"
#: Stream of accepted reports, one entry ``{w: <wire JSON>}`` each. Every handler reads it through
#: a consumer group of its own name, so each handler progresses (and fails) alone; an entry is
#: trimmed once every group has acknowledged it (see :mod:`dlrhook.workers.dispatch`).
REPORTS = PREFIX + "reports"
#: Hash: handler name -> unix time a worker last registered it. Ingest wakes these handlers.
HANDLERS = PREFIX + "handlers"
#: ``dlrhook:drain:pending:<handler>`` = id of a queued drain job for that handler; ingest queues
#: one only when it is absent (with an expiry, as a safety net).
DRAIN_PENDING_PREFIX = PREFIX + "drain:pending:"
#: ``dlrhook:active:<handler>``: sorted set of that handler's running drain jobs (score: lease end).
ACTIVE_PREFIX = PREFIX + "active:"
#: ``dlrhook:crashes:<handler>``: hash report key -> calls of it during which the worker died.
CRASHES_PREFIX = PREFIX + "crashes:"
#: Before 0.2: the list of accepted reports and the drain jobs' claims. A worker moves what it
#: finds there into :data:`REPORTS` at start.
LEGACY_INBOX = PREFIX + "inbox"
LEGACY_CLAIMED_PREFIX = PREFIX + "claimed:"
#: Hash: quarantine id -> JSON {raw, errors, source, received_at}.
QUARANTINE = PREFIX + "quarantine"
#: Sorted set: quarantine id -> ms since epoch when quarantined. Worker maintenance deletes
#: entries older than ``DLRHOOK_QUARANTINE_TTL`` through it, reading only the expired ones.
QUARANTINE_TIMES = PREFIX + "quarantine:times"
#: Unix time of the last push received (the poller's fallback mode reads it).
LAST_PUSH = PREFIX + "last-push"
#: Prefix of the dedup keys: ``dlrhook:s:`` + the first 12 bytes of the report key, raw. Short on
#: purpose: Redis spends ~71 bytes a key plus its name, and there is one key per report for 48 h.
SEEN_PREFIX = (PREFIX + "s:").encode()


def seen_key(report_key: str) -> bytes:
    """The dedup key of a report (96 bits of its identity: no collision in any real volume)."""
    return SEEN_PREFIX + bytes.fromhex(report_key)[:12]


#: Hash: page id -> raw body of an Infobip pull page not yet ingested, for the primary reports
#: path (``Settings.primary_pull_path``); every other path has its own, :func:`pull_pages_key`.
PULL_PAGES = PREFIX + "pull:pages"
#: Hash: page id -> JSON {id, error, body or body_b64, rejected_at, truncated?}: fetched pages that
#: could not be parsed, kept for an operator to inspect: the newest 100, each body up to 1 MiB
#: (``dlrhook.pull.pages.REJECTED_MAX`` and ``REJECTED_BODY_MAX``).
PULL_REJECTED = PREFIX + "pull:rejected"
#: Hash: reports path -> unix time the poller holding its lock last ended a round without an
#: error (``dlrhook_pull_last_ok_timestamp_seconds``); one field a path, written every round.
PULL_OK = PREFIX + "pull:ok"
#: Prefix of the poller locks: ``dlrhook:pull:lock:<hash of base URL and credential identity>``,
#: followed by ``:<path>`` for every path but the primary one (:func:`pull_lock_key`).
PULL_LOCK_PREFIX = PREFIX + "pull:lock:"


def pull_pages_key(path: str, *, primary: bool) -> str:
    """The page store of reports *path*: :data:`PULL_PAGES` for the primary path (its name
    before several paths were polled), ``dlrhook:pull:pages:<path>`` for the others."""
    return PULL_PAGES if primary else f"{PULL_PAGES}:{path}"


def account_id(base_url: str, api_key: str | None, username: str | None) -> str:
    """A stable, non-reversible name of (Infobip account, credential): the poller locks' key part
    (the poller and the console's pull state both derive it)."""
    identity = f"key:{api_key}" if api_key else f"basic:{username}"
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{identity}".encode()).hexdigest()[:32]


def pull_lock_key(account_id: str, path: str, *, primary: bool) -> str:
    """The one-poller lock of (account, *path*); the primary path keeps the account's own."""
    return PULL_LOCK_PREFIX + account_id if primary else f"{PULL_LOCK_PREFIX}{account_id}:{path}"


#: The drain job: ``drain(handler_name)`` delivers that handler's share of :data:`REPORTS`.
DRAIN_FUNC = "dlrhook.workers.dispatch.drain"
#: The retry job: ``deliver(handler_name, wires, attempt)`` for one handler and some reports.
DELIVER_FUNC = "dlrhook.workers.dispatch.deliver"


#: ``dlrhook:msg:<messageId>``: hash, the folded status of one message (the ``status`` handler).
MESSAGE_PREFIX = PREFIX + "msg:"
#: ``dlrhook:bulk:<bulkId>``: hash, status group -> count of the bulk's messages in it.
BULK_PREFIX = PREFIX + "bulk:"
#: Sorted set: messageId -> ms since epoch of its last change, for messages not yet final.
STATUS_INTERMEDIATE = PREFIX + "status:intermediate"
#: ``dlrhook:activity:<minute start, unix s>``: hash of that minute's counts (dlrhook.activity), 2 h.
ACTIVITY_PREFIX = PREFIX + "activity:"
#: Hash: channel (a metrics label) -> unix time of the last push to its notify URL.
LAST_PUSH_CHANNELS = PREFIX + "last-push:channels"
#: The console's per-deployment secret: its session signing key is derived from it and the password.
CONSOLE_SECRET = PREFIX + "console:secret"
#: ``dlrhook:console:login:<client address>``: failed console logins in the current window.
CONSOLE_LOGIN_PREFIX = PREFIX + "console:login:"
#: Prefix of drain job ids (``drain-<hex>``), so that dead-letter listings can tell them apart.
DRAIN_JOB_PREFIX = "drain-"


def handler_queue_name(queue_name: str, handler: str) -> str:
    """The RQ queue of *handler*'s own jobs (``<DLRHOOK_QUEUE>:<handler>``): only workers that run
    that handler listen to it (:func:`dlrhook.drains.park`)."""
    return f"{queue_name}:{handler}"


def pending_key(handler: str) -> str:
    """The key naming the queued drain job of *handler* (:mod:`dlrhook.drains`)."""
    return DRAIN_PENDING_PREFIX + handler
