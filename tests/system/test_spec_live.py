"""Every example of Infobip's OpenAPI spec through the real processes: `dlrhook web`
(gunicorn) answers each push, a supervised `dlrhook worker` hands each report to the
``test-record`` handler and the ``status`` handler, and the handler sees the fields the spec
gives it (``tests/spec/expect.py``); the read API shows an email's first open.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib

from tests.plugins.dlrhook_testplugin import calls
from tests.spec.expect import examples, expected, url_channel
from tests.support import wait_until
from tests.support.supervisor import Supervised
from tests.support.web import Web

pytestmark = pytest.mark.slow


def _items(body: bytes, content_type: str) -> list[dict[str, Any]]:
    from dlrhook.parsing import parse_body

    if "xml" in content_type:
        return parse_body(body, content_type)
    document = json.loads(body)
    return document.get("results", [document])  # type: ignore[no-any-return]


def test_every_spec_example_reaches_a_handler_through_the_real_web_and_worker(
    conn: redis_lib.Redis, start_web: Callable[..., Web], supervise: Callable[..., Supervised]
) -> None:
    web = start_web(DLRHOOK_API_TOKEN="read-token")
    supervise(1, DLRHOOK_HANDLERS="test-record,status")
    accepted = 0
    candidates: dict[str, list[dict[str, str]]] = {}
    for example in examples():
        status, answer = web.request("POST", example.url, example.body, example.content_type)
        assert status == 200, (example.file, answer)
        result = json.loads(answer)
        assert result["quarantined"] == 0, (example.file, result)
        accepted += result["accepted"]
        for raw in _items(example.body, example.content_type):
            want = expected(raw, example.kind, url_channel(example.url))
            candidates.setdefault(str(raw["messageId"]), []).append(want)

    assert accepted >= 20  # the distinct reports (its XML examples repeat its JSON ones)
    wait_until(lambda: len(calls(conn, "test-record")) >= accepted, 60, f"{accepted} reports at the handler")
    got = calls(conn, "test-record")
    assert len(got) == accepted
    for report in got:
        wants = candidates[eval(report["message_id"])]  # noqa: S307 - our own repr of a str
        assert any({k: report[k] for k in want} == want for want in wants), report

    opened = next(e for e in examples() if e.file.endswith("open-reports.json"))
    message_id = json.loads(opened.body)["messageId"]

    def folded() -> dict[str, Any] | None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{web.port}/messages/{message_id}", headers={"Authorization": "Bearer read-token"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError:
            return None

    wait_until(lambda: (record := folded()) is not None and record["openedAt"] is not None, 30, "the folded open")
    record = folded()
    assert record is not None
    assert record["status"] is None and record["final"] is False  # an event is no status
    assert set(record["events"]) == {"OPENED", "CLICKED", "UNSUBSCRIBED", "COMPLAINED", "LATE_BOUNCE"}


@pytest.mark.parametrize(
    "options",
    [
        {"channel": "email", "events": 0.8},
        {"channel": "rcs", "fmt": "xml"},
        {"channel": "mms", "fmt": "xml"},
        {"channel": "sms", "fmt": "xml", "messages_api": True},
    ],
    ids=["email-events", "rcs-xml", "mms-xml", "messages-api-xml"],
)
def test_dlrhook_simulate_sends_each_spec_shape_and_the_real_web_takes_all(
    start_web: Callable[..., Web], options: dict[str, Any]
) -> None:
    from dlrhook.dev.simulate import simulate

    web = start_web()
    summary = simulate(web.url, count=200, batch_size=50, concurrency=2, seed=1, **options)

    assert summary.failed == 0
    assert (summary.accepted + summary.duplicates, summary.quarantined) == (200, 0)


@pytest.mark.parametrize(
    "flags", [["--channel", "rcs", "--xml"], ["--channel", "email", "--events", "0.7"]], ids=["rcs-xml", "email-events"]
)
def test_the_simulate_command_takes_xml_and_events_flags(
    start_web: Callable[..., Web], process_env: dict[str, str], flags: list[str]
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    web = start_web()
    dlrhook = str(Path(sys.executable).parent / "dlrhook")
    command = [dlrhook, "simulate", "--url", web.url, "--count", "100", "--json", *flags]
    done = subprocess.run(command, env=process_env, capture_output=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    assert (summary["accepted"] + summary["duplicates"], summary["quarantined"]) == (100, 0)
