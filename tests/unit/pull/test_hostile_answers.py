"""Whatever answers at the Infobip URL (a real HTTP server here), a request is bounded: a body
past DLRHOOK_PULL_LIMIT's byte cap, or a gzip bomb past it once decompressed, is given up
after reading little more than the cap; an answer trickled a byte at a time ends at the
deadline (connect + read timeout); nothing of them is stored."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
import redis as redis_lib

from dlrhook.errors import InfobipUnavailable
from dlrhook.pull.infobip import InfobipClient, max_answer_bytes
from dlrhook.settings import Settings
from dlrhook.store import keys
from tests.fake_infobip import Answer, FakeInfobip, make_reports


def gzip_of_spaces(size: int) -> bytes:
    """A gzip body that decompresses to *size* spaces, built a megabyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    mb = b" " * 1_000_000
    parts = [packer.compress(mb) for _ in range(size // 1_000_000)]
    return b"".join(parts) + packer.flush()


def peak_of(call: Callable[[], object]) -> tuple[int, str]:
    """Peak bytes Python allocated while *call* ran (it must raise InfobipUnavailable), and the error."""
    tracemalloc.start()
    try:
        with pytest.raises(InfobipUnavailable) as caught:
            call()
        return tracemalloc.get_traced_memory()[1], str(caught.value)
    finally:
        tracemalloc.stop()


def test_an_answer_past_the_byte_cap_is_given_up_without_reading_it(
    fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    client = InfobipClient.from_settings(pull_env(DLRHOOK_PULL_LIMIT="10"))
    assert client.max_bytes == max_answer_bytes(10) == 64 * 1024 + 10 * 16 * 1024
    fake.inject(Answer(size=150_000_000))

    peak, error = peak_of(lambda: client.fetch(10))

    assert "larger than 229376 bytes" in error
    assert peak < 4 * client.max_bytes  # 150 MB peaked at 1.1 GB before
    assert fake.log()[-1].size == 150_000_000


def test_a_gzip_bomb_is_given_up_once_its_decompressed_bytes_pass_the_cap(
    fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    client = InfobipClient.from_settings(pull_env(DLRHOOK_PULL_LIMIT="10"))
    bomb = gzip_of_spaces(300_000_000)
    assert len(bomb) < 400_000
    fake.inject(Answer(body=bomb, headers={"Content-Encoding": "gzip"}))

    peak, error = peak_of(lambda: client.fetch(10))

    assert "larger than" in error
    assert peak < 4 * client.max_bytes + len(bomb)  # 299 KB of gzip peaked at 2.1 GB before


def test_a_gzip_page_within_the_cap_is_read(fake: FakeInfobip, pull_env: Callable[..., Settings]) -> None:
    client = InfobipClient.from_settings(pull_env())
    page = json.dumps({"results": make_reports(3)}).encode()
    fake.inject(Answer(body=gzip.compress(page), headers={"Content-Encoding": "gzip"}))

    assert client.fetch(10) == page


def test_an_answer_trickled_a_byte_at_a_time_ends_at_the_deadline(
    fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    client = InfobipClient.from_settings(pull_env(DLRHOOK_PULL_CONNECT_TIMEOUT="0.5", DLRHOOK_PULL_READ_TIMEOUT="1.5"))
    page = json.dumps({"results": make_reports(2)}).encode()
    fake.inject(Answer(body=page, trickle=0.1))  # every byte well within the read timeout

    started = time.monotonic()
    with pytest.raises(InfobipUnavailable, match=r"no whole answer within 2 s"):
        client.fetch(10)
    took = time.monotonic() - started

    assert 1.9 < took < 3.0  # the headers alone take 10 s at that pace


def test_the_poller_stores_nothing_of_a_hostile_answer_and_goes_on(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings]
) -> None:
    from dlrhook import store
    from dlrhook.pull.fetch import PathFetcher

    settings = pull_env(DLRHOOK_PULL_LIMIT="10")
    fake.add_reports(make_reports(4))
    fake.inject(Answer(size=50_000_000), Answer(body=gzip_of_spaces(50_000_000), headers={"Content-Encoding": "gzip"}))

    totals = PathFetcher(settings, store.connect(settings)).pull(attempts=5)

    assert totals.accepted == 4
    assert conn.hlen(keys.PULL_PAGES) == 0 and conn.hlen(keys.PULL_REJECTED) == 0


def test_the_rejected_store_keeps_the_newest_pages_each_cut_at_its_byte_cap(
    conn: redis_lib.Redis, fake: FakeInfobip, pull_env: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlrhook import store
    from dlrhook.pull import pages
    from dlrhook.pull.fetch import PathFetcher

    monkeypatch.setattr(pages, "REJECTED_MAX", 3)
    monkeypatch.setattr(pages, "REJECTED_BODY_MAX", 1000)
    settings = pull_env()
    fake.inject(*[Answer(body=b"not json %d " % n + b"x" * 5000) for n in range(5)])
    fetcher = PathFetcher(settings, store.connect(settings))
    for _ in range(5):
        assert fetcher.client is not None and fetcher.lock is not None
        fetcher.lock.hold()
        fetcher.step(10)

    rejected = [json.loads(v) for v in conn.hvals(keys.PULL_REJECTED)]
    assert len(rejected) == 3
    assert sorted(e["body"][:10] for e in rejected) == [b"not json %d".decode() % n for n in (2, 3, 4)]
    assert all(len(e["body"]) == 1000 and e["truncated"] == len(b"not json 0 ") + 5000 for e in rejected)
