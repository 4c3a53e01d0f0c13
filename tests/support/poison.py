"""Stream entries no worker can read, as they could get into ``dlrhook:reports`` (written
straight into Redis): a report nested 975 levels deep, bytes that are no text, values of other
types, an entry that would shift its neighbours in a joined parse, an entry without a wire."""

from __future__ import annotations

import json

import redis as redis_lib

from dlrhook.store import keys
from tests.support import sample


def _wire_with(key_field: bytes) -> bytes:
    """A real wire (the deep sample without its deep field) whose ``key`` is *key_field*."""
    wire = json.loads(sample("hostile/deep-wire.json").replace(b'"deep":' + b"[" * 975 + b"]" * 975 + b",", b""))
    text = json.dumps(wire).encode()
    return text.replace(b'"key": "' + wire["key"].encode() + b'"', key_field)


#: name -> the entry's fields.
POISON: dict[str, dict[str, bytes]] = {
    "deep": {"w": sample("hostile/deep-wire.json")},
    "garbage": {"w": sample("hostile/garbage.bin")},
    "number": {"w": b"12345"},
    "list": {"w": b"[1, 2, 3]"},
    "shifting": {"w": b"1,2"},
    "wrong field types": {"w": b'{"report": 5, "raw": {"messageId": "typed"}, "key": [], "received_at": 7}'},
    "no wire": {"x": b"1"},
    # A wire that rebuilds (from_wire trusts its types) but whose key no Redis command takes.
    "list key": {"w": _wire_with(b'"key":[1]')},
}


def add_poison(conn: redis_lib.Redis) -> list[bytes]:
    """Append every :data:`POISON` entry to the report stream; returns their entry ids."""
    return [conn.xadd(keys.REPORTS, fields) for fields in POISON.values()]  # type: ignore[misc]
