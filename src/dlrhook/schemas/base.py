"""The base of every report schema: marshmallow's Schema with a leaner field loop, and the
time check they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.utils import set_value


def in_utc_range(value: datetime) -> None:
    """Reject times that exist only in their own offset (0001-01-01T00:00+0100): they have no UTC."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValidationError("The time is out of range once converted to UTC.") from None


def not_blank(value: str) -> None:
    """Refuse an empty or blank text (a validator must raise: marshmallow 4 ignores a returned bool)."""
    if not value.strip():
        raise ValidationError("Must not be empty or blank.")


class LeanSchema(Schema):
    """marshmallow's Schema with a leaner field loop for the one way these schemas load.

    This is the one place dlrhook leans on marshmallow internals, and why ``pyproject.toml``
    pins ``marshmallow<5``: it overrides the private ``Schema._deserialize`` (marshmallow 4's
    signature). That loop makes a closure, a partial-loading check and a store call for every
    field of every report, and runs the whole field machinery for absent optional fields only
    to learn they are absent: about a third of what loading a report costs. For a single
    mapping, with no ``partial`` and unknown fields excluded (how ingest loads), the override
    calls the same public ``field.deserialize`` for every field present or required, and stores
    values and errors the same way; anything else goes to marshmallow's own loop.
    ``tests/unit/test_schemas.py`` checks that both give the same results and errors; if a new
    marshmallow breaks it, deleting this method gives correct (slower) loading.
    """

    class Meta:
        unknown = EXCLUDE  # unknown fields are kept in the raw report, not here

    _lean_plan: list[tuple[str, str, fields.Field[Any], bool]] | None = None

    def _plan(self) -> list[tuple[str, str, fields.Field[Any], bool]]:
        """(data key, attribute, field, may skip when absent) for every load field."""
        if self._lean_plan is None:
            plan = []
            for attr_name, field_obj in self.load_fields.items():
                data_key = field_obj.data_key if field_obj.data_key is not None else attr_name
                key = field_obj.attribute or attr_name
                # Absent, Field.deserialize returns load_default (missing: nothing is stored) and
                # raises only for a required field.
                skip = not field_obj.required and field_obj.load_default is missing
                plan.append((data_key, key, field_obj, skip))
            self._lean_plan = plan
        return self._lean_plan

    def _deserialize(
        self,
        data: Any,
        *,
        error_store: Any,
        many: bool = False,
        partial: Any = None,
        unknown: Any = RAISE,
        index: int | None = None,
    ) -> Any:
        if many or partial is not None or unknown != EXCLUDE or not isinstance(data, Mapping):
            return super()._deserialize(
                data, error_store=error_store, many=many, partial=partial, unknown=unknown, index=index
            )
        index = index if self.opts.index_errors else None
        out = self.dict_class()
        for data_key, key, field_obj, skip in self._plan():
            raw_value = data.get(data_key, missing)
            if raw_value is missing and skip:
                continue
            try:
                value = field_obj.deserialize(raw_value, data_key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, data_key, index=index)
                value = error.valid_data or missing
            if value is not missing:
                set_value(out, key, value)
        return out
