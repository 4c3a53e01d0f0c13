"""Log lines: personal data masked in every record, whoever logged it; RQ's per-job chatter held back."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from dlrhook import logs


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    """A JSON handler with the Redact filter, as :func:`logs.configure` installs it, into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.Redact())
    yield out, handler


def emit(handler: logging.Handler, name: str, level: int, msg: str, *args: object, **extra: object) -> None:
    """Log through *handler* alone, with *extra* as ``logger.log(..., extra=extra)`` sets it."""
    record = logging.LogRecord(name, level, __file__, 1, msg, args or None, None)
    record.__dict__.update(extra)
    handler.handle(record)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to 41793026731 failed", "to 4179*****31 failed"),
        ("to +41793026731", "to +417******31"),
        ("mail jane.doe@example.com bounced", "mail j***@example.com bounced"),
        (
            "DeliveryReport(to='41793026731', callback_data='order 7')",
            "DeliveryReport(to='4179*****31', callback_data=[dropped])",
        ),
        ('{"callbackData": "x, y", "to": "41793026731"}', '{"callbackData": [dropped], "to": "4179*****31"}'),
        ("{'callback_data': 'abc'}", "{'callback_data': [dropped]}"),
        ("callbackData=abc def", "callbackData=[dropped] def"),
        # Not phone numbers: ids, hex, times, decimals, short numbers.
        ("page p-1732960000123-ab12 q-1732960000123-cd34", "page p-1732960000123-ab12 q-1732960000123-cd34"),
        ("job deliver-0123456789abcdef0123456789abcdef", "job deliver-0123456789abcdef0123456789abcdef"),
        (
            "at 1732960000.123 pid 12345 took 2026-11-30T15:50:21",
            "at 1732960000.123 pid 12345 took 2026-11-30T15:50:21",
        ),
        # Credentials: a token in a query string, after an Authorization scheme.
        (
            "Invalid HTTP request line: 'POST /notify?token=abc123def&x=1 HTTP/1.1'",
            "Invalid HTTP request line: 'POST /notify?token=[secret]&x=1 HTTP/1.1'",
        ),
        ("GET /notify?x=1&TOKEN=s3cr3t' ", "GET /notify?x=1&TOKEN=[secret]' "),
        ("Authorization: Bearer abcdef123456", "Authorization: Bearer [secret]"),
        ("Authorization: Basic dTpwYXNzd29yZA==", "Authorization: Basic [secret]"),
        ("push authentication: token+basic", "push authentication: token+basic"),
    ],
)
def test_free_text_is_masked_and_ids_are_left_alone(text: str, expected: str) -> None:
    assert logs.redact_text(text) == expected


def test_extras_are_masked_by_key_and_rqs_job_arguments_are_never_written(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    out, handler = captured
    wire = {
        "report": {"to": "41793026731", "callback_data": "secret"},
        "raw": {"to": "41793026731", "callbackData": "secret"},
    }
    emit(
        handler, "dlrhook.dispatch", logging.WARNING, "failed for %s", "jane@example.com", to="41793026731", report=wire
    )
    emit(handler, "rq.worker", logging.ERROR, "job failed", arguments=["h", [wire], 1], kwargs={}, queue="dlrhook")

    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["msg"] == "failed for j***@example.com"
    assert first["to"] == "4179*****31"
    assert first["report"] == {
        "report": {"to": "4179*****31", "callback_data": "[dropped]"},
        "raw": {"to": "4179*****31", "callbackData": "[dropped]"},
    }
    assert "arguments" not in second and "kwargs" not in second and second["queue"] == "dlrhook"
    assert "secret" not in out.getvalue() and "41793026731" not in out.getvalue()


def test_an_exception_traceback_is_masked(captured: tuple[io.StringIO, logging.Handler]) -> None:
    out, handler = captured
    try:
        raise RuntimeError("cannot reach 41793026731")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    handler.handle(record)

    line = json.loads(out.getvalue())
    assert "4179*****31" in line["exc"] and "41793026731" not in out.getvalue()


@pytest.mark.parametrize(
    "template",
    [
        "Worker %s: %s: %s (%s)",
        "Worker %s: job %s result is kept for %s seconds",
        "Worker %s: job %s result discarded immediately",
        "Worker %s: cleaning registries for queue: %s",
    ],
)
def test_rqs_per_job_info_lines_are_held_back_unless_debug(template: str) -> None:
    args = ("w1", "dlrhook", "Job OK", "job-1")[: template.count("%s")]
    record = logging.LogRecord("rq.worker", logging.INFO, __file__, 1, template, args, None)
    assert logs.Redact(debug=False).filter(record) is False
    record = logging.LogRecord("rq.worker", logging.INFO, __file__, 1, template, args, None)
    assert logs.Redact(debug=True).filter(record) is True and record.levelname == "DEBUG"
    started = logging.LogRecord(
        "rq.worker", logging.INFO, __file__, 1, "Worker %s: started with PID %d", ("w1", 1), None
    )
    assert logs.Redact(debug=False).filter(started) is True


def test_configure_filters_every_root_handler_and_sets_rqs_level() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("rq.worker").level)
    try:
        logs.configure("WARNING")
        logs.configure("DEBUG")
        assert all(sum(isinstance(f, logs.Redact) for f in h.filters) == 1 for h in root.handlers)
        assert all(f.debug for h in root.handlers for f in h.filters if isinstance(f, logs.Redact))
        assert logging.getLogger("rq.worker").level == logging.DEBUG
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("rq.worker").setLevel(saved[2])


def test_every_configured_secret_is_blanked_wherever_it_appears() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.Redact(secrets=("41793026731-key", "pw-not-here", "abc")))
    try:
        raise ValueError("the key 41793026731-key was refused")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "called %s", ("with 41793026731-key",), sys.exc_info()
        )
    handler.handle(record)

    line = json.loads(out.getvalue())
    assert line["msg"] == "called with [secret]"
    assert "41793026731" not in line["exc"] and "[secret]" in line["exc"]
    # A secret shorter than MIN_SECRET is not searched for: it would blank ordinary words.
    assert logs.blank_secrets("abcdef", ("abc",)) == "abcdef"
