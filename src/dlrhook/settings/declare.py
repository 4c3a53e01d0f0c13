"""One setting: the variable it is read from, how environs parses it, its default and its check.

A :class:`Settings <dlrhook.settings.Settings>` field made by :func:`setting` carries its
:class:`Setting` in the field's metadata; the loader walks the fields, so each variable is
declared once, on the field it fills.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from environs import Env

#: The key of a field's :class:`Setting` in its metadata.
KEY = "dlrhook.setting"

#: The environs method that parses the variable's text.
Parse = Literal["str", "bool", "int", "float", "list"]


@dataclass(frozen=True)
class Setting:
    """How one variable becomes one field's value.

    environs parses the text (*parse*, with *subcast* for a list's items) and checks it
    (*validate*, a marshmallow validator: a bad value is collected, and every one is reported
    at once); *convert* then turns what environs returned into the field's value. *default* is
    what environs returns for an unset variable.
    """

    variable: str
    parse: Parse
    default: Any
    validate: Callable[[Any], Any] | None = None
    subcast: type | None = None
    convert: Callable[[Any], Any] | None = None

    def read(self, env: Env) -> Any:
        """What environs parses; a bad value is recorded in *env* and raised by ``env.seal()``."""
        options: dict[str, Any] = {}
        if self.validate is not None:
            options["validate"] = self.validate
        if self.subcast is not None:
            options["subcast"] = self.subcast
        return getattr(env, self.parse)(self.variable, self.default, **options)

    def value(self, parsed: Any) -> Any:
        """The field's value from what :meth:`read` returned."""
        return self.convert(parsed) if self.convert is not None else parsed


def setting(
    variable: str,
    parse: Parse,
    default: Any,
    *,
    validate: Callable[[Any], Any] | None = None,
    subcast: type | None = None,
    convert: Callable[[Any], Any] | None = None,
    secret: bool = False,
) -> Any:
    """A dataclass field read from *variable* (see :class:`Setting` for the rest).

    The field's own default is the value of an unset variable. A *secret* is left out of ``repr``.
    """
    declared = Setting(variable, parse, default, validate, subcast, convert)
    return field(default=declared.value(default), repr=not secret, metadata={KEY: declared})


def declared(cls: type) -> tuple[tuple[str, Setting], ...]:
    """The fields of the dataclass *cls* made by :func:`setting`, in order, each with its Setting."""
    return tuple((f.name, f.metadata[KEY]) for f in dataclasses.fields(cls) if KEY in f.metadata)
