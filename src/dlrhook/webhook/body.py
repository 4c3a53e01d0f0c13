"""Reading a push's body: whole, within ``DLRHOOK_MAX_BODY`` bytes and ``DLRHOOK_BODY_TIMEOUT`` seconds.

gunicorn's gevent worker (dlrhook.webhook.gunicorn_conf) bounds how long a client may take to
send its headers, and how long a kept-alive connection may sit idle, but not how long the
application's reading of a body may take: a client that sends its body a byte a second would
hold its connection for as long as it likes. The deadline here ends that with a 408. Under the
gevent worker every socket read is a point where :class:`gevent.Timeout` can fire; elsewhere
(the Flask test client, a body already in memory) the read cannot block and no timer is set.
"""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

#: How much of a body one read asks for.
CHUNK = 64 * 1024


def _gevent_timeout(seconds: float) -> Any:
    """A started :class:`gevent.Timeout`, when this process runs under gevent's monkeypatching."""
    try:
        from gevent import Timeout, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return None
    if not monkey.is_module_patched("socket"):
        return None
    return Timeout.start_new(seconds)


def read(request: Request, *, limit: int, seconds: float) -> bytes:
    """The whole body of *request*, refused past *limit* bytes or *seconds* seconds.

    Raises :class:`RequestEntityTooLarge` (413) when the body, announced or chunked, is longer
    than *limit* (a chunked one is read up to the limit, never cut and parsed), and
    :class:`RequestTimeout` (408) when it has not arrived whole within *seconds*.
    """
    if request.content_length is not None:
        # werkzeug refuses an announced length over MAX_CONTENT_LENGTH with a 413 before any read.
        stream = request.stream
        expected = request.content_length
    else:
        # Chunked (gunicorn sets wsgi.input_terminated and ends the stream at the last chunk):
        # read the server's stream itself, so that one byte over the limit is seen as such.
        stream = request.environ["wsgi.input"]
        expected = None
    timer = _gevent_timeout(seconds)
    parts: list[bytes] = []
    size = 0
    try:
        while expected is None or size < expected:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge(f"the body is longer than DLRHOOK_MAX_BODY ({limit} bytes)")
            parts.append(chunk)
    except BaseException as exc:
        if timer is not None and exc is timer:
            # 408: the client is too slow; Infobip's retries come on a new connection.
            raise RequestTimeout(f"the body did not arrive within DLRHOOK_BODY_TIMEOUT ({seconds:g} s)") from None
        raise
    finally:
        if timer is not None:
            timer.close()
    return b"".join(parts)
