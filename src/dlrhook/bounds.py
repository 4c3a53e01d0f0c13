"""What a decoded JSON document may hold before any schema sees it: its depth, and only text.

Pushes and pulled pages pass through :func:`check` right after decoding, so that nothing past
these bounds is ever validated, stored or handed to a worker:

- **Depth**: at most ``MAX_DEPTH`` levels of objects and lists (a report sits at level 3:
  document, ``results``, report; Infobip's deepest documented field is a few levels below).
  Python's json reads up to its recursion limit (about 1,000 levels); a report nested that
  deep was accepted, and the worker, rebuilding it, hit ``RecursionError`` for good.
- **Text**: every string, keys included, must be writable as UTF-8. JSON's ``\\ud800`` escapes
  decode to lone surrogates, which no UTF-8 writer takes (the stored wire, logs, a handler's
  database): they were a 500.

One pass over the document, no recursion (so its own cost is linear and it cannot overflow);
on a failure a second, bounded pass names the place (``results[0].callbackData``).

XML has its own bound (:func:`check_xml`): a streaming pass that stops at the first element
past the depth, report or element limit, before any tree is built.
"""

from __future__ import annotations

import re
from typing import Any
from xml.parsers import expat

from dlrhook.defaults import MAX_DEPTH
from dlrhook.errors import PushRejected

#: A JSON escape of a UTF-16 surrogate: only through one can a decoded string hold a lone one
#: (a UTF-8 decoder refuses encoded surrogates).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_json(text: str, document: Any, max_depth: int = MAX_DEPTH) -> None:
    """:func:`check` for a *document* decoded from JSON *text*: strings are looked at only when
    the text escapes a surrogate (``\\ud800``), so most documents cost one walk over their
    objects and lists (about 5 ms for 10,000 reports)."""
    check(document, max_depth, strings=_SURROGATE_ESCAPE.search(text) is not None)


def check(document: Any, max_depth: int = MAX_DEPTH, *, strings: bool = True) -> None:
    """Raise :class:`PushRejected` (``bad_body``, naming the place) when *document* nests deeper
    than *max_depth* levels or (with *strings*) holds a string that is not text (a lone surrogate)."""
    level = [document] if type(document) in _CONTAINERS else []
    depth = 1
    while level:  # one level of objects and lists at a time: no recursion, no per-node tuples
        if depth > max_depth:
            _fail(document, max_depth)
        if strings and not all(_texts_ok(v) for v in level):
            _fail(document, max_depth)
        below: list[Any] = []
        for v in level:
            below.extend([c for c in (v.values() if type(v) is dict else v) if type(c) in _CONTAINERS])
        level = below
        depth += 1
    if type(document) is str and strings and not _is_text(document):
        _fail(document, max_depth)


_CONTAINERS = frozenset({dict, list})


def _texts_ok(container: dict[str, Any] | list[Any]) -> bool:
    """True when every string directly in *container* (keys too) is text."""
    if type(container) is dict:
        return all(_is_text(k) for k in container) and all(_is_text(v) for v in container.values() if type(v) is str)
    return all(_is_text(v) for v in container if type(v) is str)


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fail(document: Any, max_depth: int) -> None:
    """Find the first offending place (depth-first, at most *max_depth* + 1 levels) and raise."""
    found = _find(document, 1, "", max_depth)
    place, problem = found if found else ("", "is not a delivery report document")
    where = place.lstrip(".") or "the body"
    if len(where) > 80:
        where = where[:60] + "..." + where[-12:]
    raise PushRejected("bad_body", f"{where} {problem}", {where: [problem]})


def _find(value: Any, depth: int, path: str, max_depth: int) -> tuple[str, str] | None:
    if isinstance(value, str):
        return None if _is_text(value) else (path, _surrogate(value))
    if isinstance(value, dict | list) and depth > max_depth:
        return path, f"nests deeper than {max_depth} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if not _is_text(key):
                return f"{path}.{_escaped(key)}", "is a field name that " + _surrogate(key)
            found = _find(item, depth + 1, f"{path}.{key}", max_depth)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find(item, depth + 1, f"{path}[{index}]", max_depth)
            if found:
                return found
    return None


def _escaped(value: str) -> str:
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate(value: str) -> str:
    bad = next((c for c in value if 0xD800 <= ord(c) <= 0xDFFF), "\ufffd")
    return f"holds {ascii(bad)[1:-1]}, a lone surrogate, which is not text (no UTF-8 writer takes it)"


#: Elements an XML push may hold for each report it holds (a report has about 25), beyond
#: ``XML_ELEMENTS_FREE``: two million empty elements are refused after about a thousand.
XML_ELEMENTS_PER_REPORT = 200
XML_ELEMENTS_FREE = 1000


class _Stop(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def check_xml(body: bytes, max_reports: int | None, max_depth: int = MAX_DEPTH) -> None:
    """Refuse an XML body past its bounds while reading it, before any tree is built.

    One streaming pass of expat (no tree, constant memory) stops at the first element past
    *max_depth* levels, the first report past *max_reports* (the children of the outermost
    ``<results>`` element, whatever the root: ``too_many_reports``), the first element past
    ``XML_ELEMENTS_FREE`` + ``XML_ELEMENTS_PER_REPORT`` for each report so far, or any DTD or
    entity declaration. Two million empty elements were read whole into a tree (174 MiB,
    9-14 s) before the count was checked. Syntax and encoding errors are left to the full
    parse, which names them.
    """
    parser = expat.ParserCreate()
    names: list[str] = []
    counts = [0, 0, 0]  # elements, reports, depth of the outermost <results>

    def start(name: str, _attrs: object) -> None:
        names.append(name)
        counts[0] += 1
        if len(names) > max_depth:
            raise _Stop("bad_body", f"the XML body nests deeper than {max_depth} levels")
        if counts[2] == 0 and name == "results":
            counts[2] = len(names)  # the outermost <results>: its children are the reports
        elif counts[2] and len(names) == counts[2] + 1:
            counts[1] += 1
            if max_reports is not None and counts[1] > max_reports:
                raise _Stop(
                    "too_many_reports",
                    f"the body holds more than {max_reports} reports; at most DLRHOOK_MAX_REPORTS "
                    f"({max_reports}) are taken in one push",
                )
        if counts[0] > XML_ELEMENTS_FREE + XML_ELEMENTS_PER_REPORT * counts[1]:
            raise _Stop(
                "bad_body",
                f"the XML body holds more than {XML_ELEMENTS_PER_REPORT} elements a report "
                f"({counts[0]} elements for {counts[1]} reports)",
            )

    def end(_name: str) -> None:
        names.pop()

    def refuse(*_args: object) -> None:
        raise _Stop("bad_body", "the XML body is refused: DTDs and entities are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except _Stop as stop:
        raise PushRejected(stop.kind, stop.detail) from None
    except (expat.ExpatError, LookupError, ValueError):
        return
