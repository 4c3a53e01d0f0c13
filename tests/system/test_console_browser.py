"""The console in a real browser (Debian's chromium, driven by Playwright) against the real
``dlrhook web`` (gunicorn, two workers) and a real ``dlrhook worker``: log in, find a message
by id, replay a dead letter and watch it leave the list, delete a quarantine entry, be refused
without the CSRF token, be held back after wrong passwords; and no console without its password.

With ``DLRHOOK_CONSOLE_SHOTS=<folder>`` the test also saves a screenshot of each page there
(docs/console/shoot.sh makes the README's pictures so).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from tests.support import sample, wait_until
from tests.support.supervisor import Supervised
from tests.support.web import Web

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a console password for the tests"
IDS = ["bcfb828b-7df9-4e7b-8715-f34f5c61271a", "12db39c3-7822-4e72-a3ec-c87442c0ffc5"]
SHOTS = os.environ.get("DLRHOOK_CONSOLE_SHOTS")

if not Path(CHROMIUM).exists():  # `make test` installs it (`make chromium`)
    pytest.skip(f"{CHROMIUM} is not installed: run `make chromium`", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()


def shot(page: object, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def push(web: Web, body: bytes) -> dict[str, int]:
    status, answer = web.request("POST", "/notify", body, "application/json")
    assert status == 200, answer
    return json.loads(answer)  # type: ignore[no-any-return]


def test_without_its_password_the_console_is_a_404_on_the_real_web(start_web: Callable[..., Web]) -> None:
    web = start_web()
    for path in ("/console", "/console/", "/console/login"):
        assert web.request("GET", path)[0] == 404


def test_an_operator_logs_in_finds_a_message_replays_a_dead_letter_and_deletes_a_quarantine_entry(
    start_web: Callable[..., Web],
    supervise: Callable[..., Supervised],
    conn: redis_lib.Redis,
    browser: object,
    tmp_path: Path,
) -> None:
    web = start_web(DLRHOOK_CONSOLE_PASSWORD=PASSWORD, DLRHOOK_LOG_LEVEL="INFO")
    conn.sadd("test:fail:test-batch", IDS[0])  # test-batch fails the first message: a dead letter
    supervise(1, DLRHOOK_HANDLERS="status,test-batch", DLRHOOK_RETRY_DELAYS="")
    wait_until(lambda: conn.hlen("dlrhook:handlers") == 2, 30, "the worker to register its handlers")
    assert push(web, sample("v1-two-delivered.json"))["accepted"] == 2
    invalid = json.loads(sample("v1-two-delivered.json"))["results"][0]
    del invalid["status"]
    assert push(web, json.dumps({"results": [invalid]}).encode())["quarantined"] == 1
    dlrhook = str(Path(sys.executable).parent / "dlrhook")
    for args in (["--count", "150", "--duplicates", "0.1"], ["--count", "30", "--channel", "whatsapp"]):
        run = subprocess.run(
            [dlrhook, "simulate", "--url", web.url, "--batch-size", "25", *args], capture_output=True, timeout=120
        )
        assert run.returncode == 0, run.stdout + run.stderr
    assert web.request("POST", "/notify", b"<results/>", "text/plain")[0] == 415  # refused
    wait_until(lambda: conn.zcard("rq:failed:dlrhook") >= 1, 30, "test-batch's dead letter")
    wait_until(lambda: conn.exists(f"dlrhook:msg:{IDS[1]}") == 1, 30, "the status handler")

    page = browser.new_page(base_url=f"http://127.0.0.1:{web.port}")  # type: ignore[attr-defined]
    page.goto("/console/")
    assert "/console/login" in page.url
    shot(page, "login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_selector("h1:has-text('Overview')")

    # The overview counts what /metrics counts (each gunicorn worker writes its counts once a second).
    samples = web.scrape()
    accepted, duplicates = (
        int(sum(v for k, v in samples.items() if k.startswith("dlrhook_reports_total{") and f'"{o}"' in k))
        for o in ("accepted", "duplicate")
    )
    assert accepted == 2 + 150 + 30 - duplicates and duplicates > 0
    legend = f"accepted: {accepted}<"
    for _ in range(100):
        if legend in page.content():
            break
        page.wait_for_timeout(200)
        page.reload()
    content = page.content()
    assert legend in content and f"duplicates: {duplicates}<" in content and "quarantined: 1<" in content
    assert "refused 415 Unsupported Media Type: 1<" in content
    assert "<td>SMS</td>" in content and "<td>WHATSAPP</td>" in content  # the last push per channel
    assert page.inner_text("#handlers").count("test-batch") == 1
    shot(page, "overview")

    # Find a message by its id.
    page.fill("input[name=id]", IDS[1])
    page.click("button:has-text('Find')")
    page.wait_for_selector(f"h1:has-text('{IDS[1]}')")
    assert "DELIVERED_TO_HANDSET" in page.inner_text("#status")
    assert "4179*****27" in page.content() and "41793026727" not in page.content()
    handlers = page.inner_text("#handlers")
    assert re.search(r"status\s+delivered", handlers) and re.search(r"test-batch\s+delivered", handlers)
    page.click("a:has-text('08fe4407')")  # its bulk
    page.wait_for_selector("#bulk-summary:has-text('1 message, 1 final (100%)')")
    page.goto(f"/console/find?id={IDS[0]}")  # the one test-batch gave up on: its raw report is kept
    assert re.search(r"test-batch\s+dead-lettered", page.inner_text("#handlers"))
    assert '"messageId": "bcfb828b' in page.content().replace("&quot;", '"') and "4179*****31" in page.content()
    shot(page, "message")
    largest = max(conn.keys("dlrhook:bulk:*"), key=lambda k: int(conn.hget(k, "messages") or 0))
    page.goto(f"/console/bulks/{largest.decode().removeprefix('dlrhook:bulk:')}")
    summary = page.inner_text("#bulk-summary")
    assert int(summary.split()[0]) >= 100 and "<svg" in page.content()
    shot(page, "bulk")

    # Replay the dead letter once the receiver is back, and watch it leave the list.
    page.click("a:has-text('Dead letters')")
    row = page.locator("#dead-letters tr[data-job]")
    assert row.count() == 1 and "test-batch" in row.inner_text()
    shot(page, "dead-letters")
    job_id = row.get_attribute("data-job")
    page.click(f"tr[data-job='{job_id}'] a")
    page.wait_for_selector("#reason")
    assert "PartialFailure" in page.inner_text("#reason")
    shot(page, "dead-letter")
    page.go_back()

    # Without its CSRF token the same form is refused, and nothing changes.
    page.locator(f"tr[data-job='{job_id}'] form:has(button:has-text('Replay')) input[name=csrf_token]").evaluate(
        "e => e.remove()"
    )
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.click(f"tr[data-job='{job_id}'] button:has-text('Replay')")
    assert refused.value.status == 403
    assert "Nothing was changed" in page.content()
    assert conn.zcard("rq:failed:dlrhook") == 1

    conn.delete("test:fail:test-batch")
    calls = conn.llen("test:calls:test-batch")
    page.goto("/console/dead-letters")
    page.click(f"tr[data-job='{job_id}'] button:has-text('Replay')")
    page.wait_for_selector(".flash:has-text('Re-queued 1 dead letter(s): 1 report(s) for test-batch')")
    wait_until(lambda: conn.llen("test:calls:test-batch") > calls, 30, "the worker to deliver the replayed report")
    for _ in range(50):
        page.goto("/console/dead-letters")
        if page.locator("#dead-letters tr[data-job]").count() == 0:
            break
        page.wait_for_timeout(200)
    assert page.locator("tr[data-job]").count() == 0 and "0 dead letters match" in page.inner_text("#count")

    # Delete the quarantine entry.
    page.click("a:has-text('Quarantine')")
    entry = page.locator("#quarantine tr[data-entry]")
    assert entry.count() == 1 and IDS[0] in entry.inner_text()
    shot(page, "quarantine")
    qid = entry.get_attribute("data-entry")
    page.click(f"tr[data-entry='{qid}'] a")
    page.wait_for_selector("#raw")
    assert '"status"' in page.inner_text("#errors") and "4179*****31" in page.inner_text("#raw")
    shot(page, "quarantine-entry")
    page.click("button:has-text('Delete')")
    page.wait_for_selector(".flash:has-text('deleted 1')")
    assert page.locator("tr[data-entry]").count() == 0
    assert conn.hlen("dlrhook:quarantine") == 0
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("web-*.log"))
    assert f"console: re-queued 1 dead letter(s) (1 report(s) for test-batch) from 127.0.0.1: {job_id}" in logs
    assert f"console: quarantine delete of 1 entr(ies) from 127.0.0.1: deleted 1 ({qid})" in logs
    assert PASSWORD not in logs


def test_wrong_passwords_are_held_back_across_the_web_workers(start_web: Callable[..., Web], browser: object) -> None:
    web = start_web(DLRHOOK_CONSOLE_PASSWORD=PASSWORD)
    page = browser.new_page(base_url=f"http://127.0.0.1:{web.port}")  # type: ignore[attr-defined]
    statuses = []
    for n in range(6):
        page.goto("/console/login")
        page.fill("input[name=password]", f"not the password {n}")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button:has-text('Log in')")
        statuses.append(answer.value.status)
    assert statuses == [401] * 5 + [429]
    assert "Too many failed attempts" in page.content()
    page.goto("/console/login")
    page.fill("input[name=password]", PASSWORD)  # the right one, but within the window: still held
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("button:has-text('Log in')")
    assert answer.value.status == 429
