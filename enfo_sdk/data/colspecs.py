"""The column schema an owner writes: the contract's ``data.columns``, one type per column.

``numeric`` (optional ``min``/``max`` bounds for forged values, ``integer``), ``categorical``
(levels learned or listed, a cap, ``hard`` one-level rows, ``unknown`` levels at predict time),
``boolean``, ``datetime``, ``id`` (never a feature) and ``ignore``. What each becomes in the key's
numeric space, and the fitted transform a bundle stores, are in :mod:`enfo_sdk.data.columns`,
which re-exports these names (docs/columns.md).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import DataError

__all__ = [
    "ColumnSpec", "NumericSpec", "CategoricalSpec", "BooleanSpec", "DatetimeSpec", "IdSpec", "IgnoreSpec",
    "DEFAULT_MAX_LEVELS", "as_spec",
]

#: Default cap on a categorical column's levels.
DEFAULT_MAX_LEVELS = 50


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericSpec(_Spec):
    """A number. ``min``/``max`` bound forged values (default: the observed training range)."""

    type: Literal["numeric"]
    min: float | None = Field(None, description="Lower bound of forged values (default: observed minimum).")
    max: float | None = Field(None, description="Upper bound of forged values (default: observed maximum).")
    integer: bool | None = Field(None, description="Whole numbers (default: inferred from the data type).")
    missing_indicator: bool = Field(False, description="Add a 0/1 feature marking gaps.")

    @model_validator(mode="after")
    def _bounds(self) -> NumericSpec:
        for v in (self.min, self.max):
            if v is not None and not math.isfinite(v):
                raise ValueError("min and max must be finite numbers")
        if self.min is not None and self.max is not None and not self.min <= self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class CategoricalSpec(_Spec):
    """One of a set of levels: one-hot features, forged on the simplex."""

    type: Literal["categorical"]
    levels: list[str] | None = Field(None, min_length=1, description="The levels (default: those in the training rows).")
    max_levels: int = Field(DEFAULT_MAX_LEVELS, ge=2, description="More levels than this is an error.")
    hard: bool = Field(False, description="Forged rows get one level each (the most likely), with the key's cost reported.")
    unknown: Literal["error", "ignore"] = Field(
        "error", description="A level the key never saw at predict time: an error, or all-zero features."
    )


class BooleanSpec(_Spec):
    """Yes/no (booleans, or the strings true/false, yes/no, y/n, 1/0)."""

    type: Literal["boolean"]
    missing_indicator: bool = False


class DatetimeSpec(_Spec):
    """A date or time: one feature, days since 1970-01-01 (UTC for zoned values)."""

    type: Literal["datetime"]
    missing_indicator: bool = False


class IdSpec(_Spec):
    """An identifier: never a feature, never in a bundle."""

    type: Literal["id"]


class IgnoreSpec(_Spec):
    """Left out."""

    type: Literal["ignore"]


ColumnSpec = Annotated[
    Union[NumericSpec, CategoricalSpec, BooleanSpec, DatetimeSpec, IdSpec, IgnoreSpec],
    Field(discriminator="type"),
]


def as_spec(value: Any, name: str):
    """A column spec from a spec object or its plain dict (``{"type": "id"}``)."""
    if isinstance(value, _Spec):
        return value
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(ColumnSpec).validate_python(value)
    except ValidationError as e:
        raise DataError(f"column {name!r}: not a column type: {e.errors()[0]['msg']}") from None
