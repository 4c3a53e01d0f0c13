"""Stream entries no worker can read, as they could get into ``dlrhook:reports`` (written
straight into Redis): a report nested 975 levels deep, bytes that are no text, values of other
types, an entry that would shift its neighbours in a joined parse, an entry without a wire."""

from __future__ import annotations

import redis as redis_lib

from dlrhook.store import keys
from tests.support import sample

#: name -> the entry's fields.
POISON: dict[str, dict[str, bytes]] = {
    "deep": {"w": sample("hostile/deep-wire.json")},
    "garbage": {"w": sample("hostile/garbage.bin")},
    "number": {"w": b"12345"},
    "list": {"w": b"[1, 2, 3]"},
    "shifting": {"w": b"1,2"},
    "wrong field types": {"w": b'{"report": 5, "raw": {"messageId": "typed"}, "key": [], "received_at": 7}'},
    "no wire": {"x": b"1"},
}


def add_poison(conn: redis_lib.Redis) -> list[bytes]:
    """Append every :data:`POISON` entry to the report stream; returns their entry ids."""
    return [conn.xadd(keys.REPORTS, fields) for fields in POISON.values()]  # type: ignore[misc]
