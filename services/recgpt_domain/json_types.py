"""Numbers as the published JSON Schema reads them: strict (no "3" for 3, no true for 1), except that a
whole float is an integer (JSON Schema counts 2.0 as the integer 2)."""

from __future__ import annotations


def whole_float_as_int(value: object) -> object:
    """A BeforeValidator for strict integer fields: 85.0 becomes 85; 85.5, strings and booleans still fail.

    Put the field's bounds (Field(ge=..., le=...)) before it in the Annotated, where pydantic publishes
    them as minimum and maximum.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
