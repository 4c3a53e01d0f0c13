"""A stream entry the worker cannot read is quarantined and acknowledged, never retried: it holds
back neither its handler, nor the other reports of its batch, nor the stream's trimming."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis as redis_lib
from dlrhook_testplugin import calls
from flask import Flask

from dlrhook import quarantine
from dlrhook.settings import Settings
from dlrhook.store import keys
from dlrhook.workers import decode, stream
from tests.support import sample
from tests.support.poison import POISON, add_poison


def test_poison_entries_among_good_ones_are_quarantined_and_the_good_ones_delivered(
    conn: redis_lib.Redis,
    make_app: Callable[..., Flask],
    worker_env: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
) -> None:
    settings = worker_env(DLRHOOK_HANDLERS="test-record")
    stream.register(conn, ["test-record"])
    client = make_app().test_client()
    client.post("/notify", data=sample("v1-two-delivered.json"), content_type="application/json")
    add_poison(conn)
    client.post("/notify", data=sample("v3-one-delivered.json"), content_type="application/json")

    run_jobs(settings)

    assert len(calls(conn, "test-record")) == 3
    entries = quarantine.quarantined(conn)
    assert len(entries) == len(POISON)
    assert all(quarantine.UNREADABLE_WIRE in e["errors"] for e in entries)
    assert conn.xlen(keys.REPORTS) == 0  # trimmed past every one of them
    assert conn.xpending(keys.REPORTS, "test-record")["pending"] == 0


def test_the_deep_entry_is_kept_within_the_size_cap() -> None:
    (unreadable,) = decode.items([(b"1-0", {b"w": POISON["deep"]["w"]})])[1]
    _, text = quarantine.unreadable_entry(unreadable.raw, unreadable.error)
    entry = json.loads(text)
    assert "nests deeper" in json.dumps(entry["errors"]) or "RecursionError" in json.dumps(entry["errors"])
    assert isinstance(entry["raw"], (str, dict))
    assert len(text) < quarantine.RAW_MAX + 4096


def test_an_entry_shifting_its_neighbours_does_not_change_what_they_decode_to() -> None:
    wires = decode._decode_all([b'{"a": 1}', POISON["shifting"]["w"], b"[0", b"0]"])
    assert wires[0] == {"a": 1}
    assert all(isinstance(w, decode._Failed) for w in wires[1:])
