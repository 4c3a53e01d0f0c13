"""The Infobip reports API client: one ``GET {base}{path}`` and what its answer means.

:meth:`InfobipClient.fetch` makes exactly one request and never retries: Infobip's reports
endpoint is consume-once, so deciding when to ask again (after checking Redis, the lock and a
stop request) belongs to the poller. Its answer is the raw body, or one of three errors that
tell the poller how to wait: :class:`InfobipUnavailable` (429, 5xx, network: back off and
retry), :class:`InfobipAuthError` (401/403: a human must fix a credential) and
:class:`InfobipRequestError` (any other answer: a configuration problem, such as a wrong path).

Whatever answers at the Infobip URL, a request is bounded: its body is read as a stream and
given up (:class:`InfobipUnavailable`) past :attr:`InfobipClient.max_bytes` (counted after
any decompression, so a gzip bomb stops there too), and the whole request, headers and body,
ends within :attr:`InfobipClient.deadline` seconds: a watchdog then cuts its socket, however
slowly the server trickles bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from dlrhook import defaults
from dlrhook.errors import InfobipAuthError, InfobipRequestError, InfobipUnavailable
from dlrhook.pull.bounded import REPORT_BYTES, Sockets, TooLarge, max_answer_bytes, read_capped, watched_adapter
from dlrhook.settings import Settings, values
from dlrhook.store import keys


def _version() -> str:
    try:
        return version("dlrhook")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "0+unknown"


#: Every request names the installed release, so that Infobip's logs tell which one asked.
USER_AGENT = f"dlrhook-poller/{_version()}"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None.

    A date in the past means 0; a value that is neither form is ignored (None). The parsing is
    urllib3's, the same its own Retry uses.
    """
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(Retry().parse_retry_after(value.strip())))
    except InvalidHeader:
        return None


class InfobipClient:
    """Fetches report pages from one Infobip account.

    Every request has a connect and a read timeout and an overall :attr:`deadline` (the two
    added), sends ``Accept: application/json`` and the account's ``Authorization`` header
    (``App <key>`` or Basic), never asks for more than ``max_limit`` reports and reads at most
    :attr:`max_bytes` of the answer. The credential is never logged nor part of any error message.
    """

    def __init__(
        self,
        base_url: str,
        path: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        max_limit: int,
        connect_timeout: float,
        read_timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key and not (username and password):
            raise ValueError("an API key or a username and password is required")
        problem = values.base_url_problem(base_url)
        if problem:
            # Never the URL itself: it may hold credentials. Error texts below name self.url.
            raise ValueError(f"the Infobip base URL {problem}")
        self.url = base_url.rstrip("/") + path
        self.base_url = base_url.rstrip("/")
        self.path = path
        self.max_limit = max_limit
        self.timeout = (connect_timeout, read_timeout)
        #: Seconds a request may take in all, whatever the server sends (and however slowly).
        self.deadline = connect_timeout + read_timeout
        #: Bytes a reports answer may have (``DLRHOOK_PULL_LIMIT`` reports at most).
        self.max_bytes = max_answer_bytes(max_limit)
        self.session = session or requests.Session()
        self._sockets = Sockets()
        adapter = watched_adapter(self._sockets)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self._api_key = api_key
        self._basic = (username, password) if not api_key and username and password else None
        #: The setting an operator must fix when Infobip refuses the credential.
        self.credential_setting = "INFOBIP_API_KEY" if api_key else "INFOBIP_USERNAME/INFOBIP_PASSWORD"
        #: A stable, non-reversible name of (account, credential), for the poller lock key.
        self.account_id = keys.account_id(base_url, api_key, username)

    @classmethod
    def from_settings(cls, settings: Settings, path: str | None = None) -> InfobipClient:
        """The client for the configured account and reports *path* (default: the primary one);
        raises ValueError when INFOBIP_BASE_URL is unset."""
        if not settings.infobip_base_url:
            raise ValueError("INFOBIP_BASE_URL is not set")
        return cls(
            settings.infobip_base_url,
            path or settings.primary_pull_path,
            api_key=settings.infobip_api_key,
            username=settings.infobip_username,
            password=settings.infobip_password,
            max_limit=settings.pull_limit,
            connect_timeout=settings.pull_connect_timeout,
            read_timeout=settings.pull_read_timeout,
        )

    def _auth(self) -> dict[str, Any]:
        if self._api_key:
            return {"headers": {"Authorization": f"App {self._api_key}"}}
        return {"auth": self._basic}

    def fetch(self, limit: int, *, bulk_id: str | None = None, message_id: str | None = None) -> bytes:
        """One ``GET`` for at most *limit* reports; returns the raw 200 body (not parsed).

        Raises ValueError if *limit* is outside 1..``max_limit`` (nothing is sent), else one of
        the :class:`InfobipError` subclasses. The reports in a 200 body are consumed at Infobip
        as soon as it answers: the caller must store the bytes before doing anything else.
        """
        if not 1 <= limit <= self.max_limit:
            raise ValueError(f"limit must be between 1 and {self.max_limit} (DLRHOOK_PULL_LIMIT), not {limit}")
        params: dict[str, str | int] = {"limit": limit}
        if bulk_id:
            params["bulkId"] = bulk_id
        if message_id:
            params["messageId"] = message_id
        return self._get(
            self.url,
            params,
            max_bytes=self.max_bytes,
            failed="request to Infobip failed",
            refused="the reports request: check " + self.credential_setting,
            other=f"GET {self.url}: check DLRHOOK_PULL_PATH(S)",
        )

    def fetch_logs(self, message_ids: Sequence[str], *, path: str = defaults.LOGS_PATH) -> bytes:
        """One ``GET {base}/sms/3/logs?messageId=..&messageId=..`` for these messages; returns the raw
        200 body (``{"results": [log entry, ...]}``, not parsed).

        Logs are not consume-once: asking again is harmless. At most 1000 ids (the API's most
        logs per call); callers send far fewer, for the URL's length. Raises ValueError for an
        empty or too long list (nothing is sent), else the :class:`InfobipError` subclasses as
        :meth:`fetch` does.
        """
        if not 1 <= len(message_ids) <= 1000:
            raise ValueError(f"between 1 and 1000 message ids per logs request, not {len(message_ids)}")
        url = self.base_url + path
        params: list[tuple[str, str | int]] = [("messageId", m) for m in message_ids]
        params.append(("limit", len(message_ids)))
        return self._get(
            url,
            params,
            max_bytes=max_answer_bytes(len(message_ids)),
            failed="logs request to Infobip failed",
            refused=f"the logs request: check {self.credential_setting} (and that it may read message logs)",
            other=f"GET {url}",
            what=" to the logs request",
        )

    def _get(
        self, url: str, params: Any, *, max_bytes: int, failed: str, refused: str, other: str, what: str = ""
    ) -> bytes:
        """One GET; the 200 body, or the :class:`InfobipError` its answer means (texts name the request)."""
        cut = threading.Event()

        def past_deadline() -> None:
            cut.set()
            self._sockets.cut()

        late = InfobipUnavailable(
            f"{failed}: no whole answer within {self.deadline:g} s "
            "(DLRHOOK_PULL_CONNECT_TIMEOUT + DLRHOOK_PULL_READ_TIMEOUT); cut off"
        )
        timer = threading.Timer(self.deadline, past_deadline)
        timer.daemon = True
        timer.start()
        try:
            response = self.session.get(
                url, params=params, timeout=self.timeout, allow_redirects=False, stream=True, **self._auth()
            )
            with response:
                status = response.status_code
                # Read the whole body inside the try: a connection cut mid-body is a network error.
                body = read_capped(response, max_bytes) if status == 200 else b""
            if cut.is_set():  # what was read before the cut may parse (headers cut short): drop it
                raise late
        except TooLarge:
            raise InfobipUnavailable(
                f"{failed}: the answer is larger than {max_bytes} bytes (DLRHOOK_PULL_LIMIT reports "
                f"of {REPORT_BYTES} bytes each at most); it was not read further"
            ) from None
        except requests.RequestException as exc:
            if cut.is_set():
                raise late from None
            raise InfobipUnavailable(f"{failed}: {type(exc).__name__}") from None
        finally:
            timer.cancel()
        if status == 200:
            return body
        if status == 429 or status >= 500:
            # Throttled or broken at Infobip: the same request can succeed later.
            raise InfobipUnavailable(
                f"Infobip answered {status}{what}", status, retry_after_seconds(response.headers.get("Retry-After"))
            )
        if status in (401, 403):
            # The credential is wrong, revoked or lacks the scope: only a human can fix it.
            raise InfobipAuthError(f"Infobip answered {status} to {refused}", status, self.credential_setting)
        raise InfobipRequestError(f"Infobip answered {status} to {other}", status)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()
