"""The console's login limit against guesses sent all at once, through the real gunicorn web
(gevent: each worker takes many connections at a time): every attempt is counted before its
password is compared, so no more than the limit's failures get an answer, however many arrive
together."""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable

from dlrhook.webhook.console import guard
from tests.support.web import Web

PASSWORD = "a console password for the tests"
GUESSES = 60


def login_form(web: Web) -> tuple[str, str]:
    """A session cookie and the CSRF token of the login form it goes with."""
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.request("GET", "/console/login")
        answer = conn.getresponse()
        page = answer.read().decode()
        cookie = (answer.getheader("Set-Cookie") or "").split(";")[0]
    finally:
        conn.close()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found and cookie, page
    return cookie, found.group(1)


def test_guesses_sent_all_at_once_get_no_more_than_the_limit(start_web: Callable[..., Web]) -> None:
    web = start_web(DLRHOOK_CONSOLE_PASSWORD=PASSWORD)
    forms = [login_form(web) for _ in range(GUESSES)]
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    go = threading.Barrier(GUESSES)

    def guess(n: int) -> None:
        cookie, token = forms[n]
        body = urllib.parse.urlencode({"password": f"guess {n}", "csrf_token": token})
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
        go.wait()
        try:
            conn.request(
                "POST",
                "/console/login",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
            )
            status = conn.getresponse().status
        finally:
            conn.close()
        with lock:
            answers[status] += 1

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Exactly the limit's worth of guesses was compared (401); every other one was held back (429).
    assert answers == Counter({401: guard.MAX_FAILURES, 429: GUESSES - guard.MAX_FAILURES}), answers
