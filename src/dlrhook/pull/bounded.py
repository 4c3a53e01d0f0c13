"""Reading bounded answers from a server one does not trust: a byte cap and a deadline.

:func:`read_capped` reads a streamed ``requests`` answer a chunk at a time and gives up
(:class:`TooLarge`) once its bytes, counted after any decompression (urllib3 decompresses
a chunk at a time), pass the cap. :func:`watched_adapter` makes a session's connections
record their sockets in a :class:`Sockets`, whose :meth:`Sockets.cut` a watchdog calls at a
request's deadline: a blocked read then returns at once, however slowly the server trickles
bytes (a read timeout bounds only the wait for the next byte). :mod:`dlrhook.pull.infobip`
uses both.
"""

from __future__ import annotations

import contextlib
import socket
import weakref
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: Bytes an answer may have besides its reports, and bytes each report may take (a v1 report is
#: under 1 KB; 16 KiB leaves room for Infobip's longest callbackData, 4,000 characters, escaped).
PAGE_BASE_BYTES = 64 * 1024
REPORT_BYTES = 16 * 1024
#: Bytes read at a time from an answer.
CHUNK = 64 * 1024


def max_answer_bytes(reports: int) -> int:
    """The most bytes an answer of at most *reports* reports (or log entries) may have."""
    return PAGE_BASE_BYTES + reports * REPORT_BYTES


class Sockets:
    """The sockets one session opened, so that a deadline can cut the one a request blocks on."""

    def __init__(self) -> None:
        self.open: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def cut(self) -> None:
        for sock in list(self.open):
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)  # a blocked recv in another thread returns at once


def watched_adapter(sockets: Sockets) -> HTTPAdapter:
    """A requests adapter whose connections record their sockets in *sockets*."""

    class Connection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            sockets.open.add(sock)
            return sock

    class TLSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            sockets.open.add(sock)
            return sock

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConnection

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

    return Adapter()


class TooLarge(Exception):
    """An answer passed its byte cap."""


def read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """The body of *response* (decompressed), read a chunk at a time; :class:`TooLarge` as soon
    as it passes *max_bytes*."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not response.headers.get("Content-Encoding"):
        raise TooLarge
    body = bytearray()
    for chunk in response.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge
    return bytes(body)
