"""Message status: every report folded into one record per message, and the reads of it.

Two stores keep it, chosen by ``DLRHOOK_STATUS_STORE``: Redis (the default) or a SQL
database (PostgreSQL, or SQLite on a laptop). :func:`open_store` gives the process's store
(:mod:`~dlrhook.status.stores`); the ``status`` handler (``dlrhook.workers.builtin.status``)
folds each batch with its ``fold``, and every reader (``GET /messages``, ``GET /bulks``,
``dlrhook status``, ``dlrhook reconcile``, the ``dlrhook_messages_intermediate`` gauge) reads
with its ``message``, ``bulk``, ``intermediate_ids`` and ``count_intermediate``. No Flask here.

Modules: :mod:`~dlrhook.status.fold` and :mod:`~dlrhook.status.reads` (Redis),
:mod:`~dlrhook.status.sql`, :mod:`~dlrhook.status.sqlfold` and :mod:`~dlrhook.status.schema`
(SQL; migrations in ``status/migrations``), :mod:`~dlrhook.status.buckets` (a bulk's
``secondsToFinal``). The functions :func:`fold`, :func:`message`, :func:`bulk`, ... are the
Redis store's, on a Redis client. The read API's shapes are :mod:`dlrhook.schemas.status`.

In Redis the fold is one Lua script per batch, so a batch costs one round trip and is atomic: several
workers folding reports of the same message at once cannot lose an update. The rule it applies
makes the record independent of arrival order: the current status is the report with the
greatest rank ``(final, doneAt, report key)``. So a final status is never replaced by an
intermediate one whatever its ``doneAt``; an intermediate one is replaced by a final one or by
a later intermediate one; a final one only by a later final one (a correction); the key breaks
ties so that every order of the same reports folds to the same record. A report without
``doneAt`` ranks as the earliest of its kind. The history keeps each distinct report (by
``report.key``, so a redelivered report changes nothing), read back ordered by ``doneAt``. A
seen report (no status) sets ``seenAt`` only (the earliest).

In SQL it is one transaction per batch, one upsert statement per table whose ``WHERE``
compares the stored rank (:mod:`dlrhook.status.sqlfold`): the same rule, under the row's lock.

Redis keys, each kept for ``DLRHOOK_STATUS_TTL`` after its last change:

- ``dlrhook:msg:<messageId>``: the record, a hash (fields in the script's comment): the current
  status, the message's details, and one field per distinct report (its history entry).
- ``dlrhook:bulk:<bulkId>``: hash ``messages``, ``final``, ``g:<status group>`` counts, moved in
  the same script when a message's group or finality changes (no scans, ever).
- ``dlrhook:status:intermediate``: sorted set of the ids of messages whose status is still
  intermediate, scored by the time (ms) their status last changed. ``dlrhook reconcile`` and
  the ``dlrhook_messages_intermediate`` gauge read it; the script removes final messages and
  entries older than the TTL.

The script derives the bulk and message keys from their prefixes instead of declaring them
all in KEYS: fine on the single Redis/Valkey dlrhook runs on (README, "Scale out"), not on a
Redis Cluster.
"""

from dlrhook.status.fold import channel_of, fold
from dlrhook.status.reads import bulk, count_intermediate, intermediate_ids, message
from dlrhook.status.stores import RedisStatusStore, StatusStore, open_store

__all__ = [
    "RedisStatusStore",
    "StatusStore",
    "bulk",
    "channel_of",
    "count_intermediate",
    "fold",
    "intermediate_ids",
    "message",
    "open_store",
]
