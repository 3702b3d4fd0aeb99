"""Typed columns: the owner's mixed-type table mapped into the key's numeric space, as part of the key.

A real table holds numbers, yes/no columns, categories, dates and ids, with gaps. Its *column
schema* says what each column is (from the contract's ``data.columns``, the rest inferred by
:func:`infer_schema`); :meth:`ColumnTransform.fit` learns the encoding on the owner's training
rows only, and the fitted :class:`ColumnTransform` is stored in the key (``KeySpec.columns``), so
the signed manifest carries it and a partner applies it to raw tables exactly as the owner did
(bundle format v2, docs/bundle-format.md).

Encoded features, in the table's column order (``input`` name -> feature names):

=============  ==============================================  ==================================
type           features                                        value
=============  ==============================================  ==================================
numeric        ``name`` (+ ``name__missing``)                  the value; a gap -> the training
                                                               median (and indicator 1)
boolean        ``name`` (+ ``name__missing``)                  1.0 / 0.0; a gap -> the training
                                                               majority (and indicator 1)
categorical    ``name=level`` for each level                   one-hot; a gap is level
                                                               ``(missing)`` when training had one
datetime       ``name__days`` (+ ``name__missing``)            days since 1970-01-01 (UTC when
                                                               zoned); a gap -> training median
id, ignore     none                                            never a feature, never in a bundle
=============  ==============================================  ==================================

Each encoded feature has a *range* that forging keeps forged rows inside by construction
(:mod:`enfo_sdk.forging.params`): numeric and datetime features their ``[min, max]`` (the
observed training range unless the contract gives one), indicators and booleans ``[0, 1]``, and
each categorical group the simplex (non-negative, summing to one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._validation import first_data_row
from ..errors import DataError
from .colspecs import (
    DEFAULT_MAX_LEVELS, BooleanSpec, CategoricalSpec, ColumnSpec, DatetimeSpec, IdSpec, IgnoreSpec, NumericSpec,
    as_spec,
)
from .cells import boolean_values, datetime_days, level_strings, numeric_values, shown

# pandas (about 0.3-0.8 s to import) is imported by the functions that read tables, not here:
# verifying a bundle parses ColumnTransform from the manifest and never needs it.
if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ColumnSpec", "NumericSpec", "CategoricalSpec", "BooleanSpec", "DatetimeSpec", "IdSpec",
    "IgnoreSpec", "ColumnTransform", "TargetColumn", "CategoricalTarget", "infer_schema", "infer_task",
    "target_classes", "MISSING_LEVEL", "DEFAULT_MAX_LEVELS", "ID_MIN_ROWS", "MAX_CLASSES", "TASKS",
]

#: The level a gap in a categorical column becomes.
MISSING_LEVEL = "(missing)"
#: Most classes a classification target may have.
MAX_CLASSES = 50
#: An integer-typed target with at most this many distinct values is taken for class labels.
INTEGER_CLASS_LEVELS = 10
#: The task types (``data.task``).
TASKS = ("regression", "classification")
#: A column of all-distinct integers or strings is taken for an id from this many rows on.
ID_MIN_ROWS = 20


# -- the fitted transform (stored in the key, signed in the manifest) --------------------------
class _Fitted(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FittedNumeric(_Fitted):
    type: Literal["numeric"]
    name: str
    min: float
    max: float
    integer: bool
    impute: float
    missing_indicator: bool


class FittedBoolean(_Fitted):
    type: Literal["boolean"]
    name: str
    impute: float
    missing_indicator: bool


class FittedCategorical(_Fitted):
    type: Literal["categorical"]
    name: str
    levels: list[str] = Field(min_length=1)
    hard: bool
    unknown: Literal["error", "ignore"]


class FittedDatetime(_Fitted):
    type: Literal["datetime"]
    name: str
    zoned: bool
    min: float
    max: float
    impute: float
    missing_indicator: bool


FittedColumn = Annotated[
    Union[FittedNumeric, FittedBoolean, FittedCategorical, FittedDatetime], Field(discriminator="type")
]


class TargetColumn(_Fitted):
    """The regression target: its name and the range forged targets stay in."""

    name: str
    min: float
    max: float
    integer: bool


class CategoricalTarget(_Fitted):
    """The classification target: its name and its classes, in the order of the one-hot columns."""

    type: Literal["categorical"]
    name: str
    classes: list[str] = Field(min_length=2, max_length=MAX_CLASSES)

    @property
    def column_names(self) -> list[str]:
        """A bundle's target columns: one probability per class, ``name=class``."""
        return [f"{self.name}={c}" for c in self.classes]


class ColumnTransform(_Fitted):
    """The fitted encoding of an owner's table (module docstring); part of the key.

    Attributes
    ----------
    columns : list
        One fitted column per input feature column, in table order.
    target : TargetColumn
    dropped : list of str
        Columns typed ``id`` or ``ignore`` (never features; listed so a partner's table may hold them).
    """

    columns: list[FittedColumn] = Field(min_length=1)
    target: TargetColumn | CategoricalTarget
    dropped: list[str] = Field(default_factory=list)

    # -- names ------------------------------------------------------------------------------
    @property
    def task(self) -> str:
        """``"classification"`` for a categorical target, else ``"regression"``."""
        return "classification" if isinstance(self.target, CategoricalTarget) else "regression"

    @property
    def input_columns(self) -> list[str]:
        """The raw columns a table must hold (the features' sources)."""
        return [c.name for c in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """The encoded features, in order (a bundle's feature columns)."""
        return [n for c in self.columns for n in _feature_names(c)]

    # -- fitting ----------------------------------------------------------------------------
    @classmethod
    def fit(cls, df: pd.DataFrame, schema: Mapping[str, Any], target: str, *,
            where: str = "table", task: str = "regression",
            classes: Sequence[str] | None = None) -> ColumnTransform:
        """Learn the encoding from the owner's training rows ``df``.

        Parameters
        ----------
        df : DataFrame
            The training rows with every column of ``schema`` and the target.
        schema : mapping of column name to ColumnSpec
            From :func:`infer_schema` (features only, in table order).
        target : str
        where : str
            How to name the table in messages.
        task : {"regression", "classification"}
        classes : sequence of str, optional
            Classification: the classes of the whole table (:func:`target_classes`); each must
            occur in ``df`` (a class absent from the training rows is an error naming it).
            Default: the classes of ``df``.
        """
        fitted, dropped = [], []
        for name, spec in schema.items():
            if spec.type in ("id", "ignore"):
                dropped.append(name)
                continue
            fitted.append(_fit_column(df[name], name, spec, where))
        if not fitted:
            raise DataError(f"{where}: no feature column left (every column is the target, an id or ignored)")
        if task == "classification":
            return cls(columns=fitted, target=_fit_classes(df[target], target, where, classes), dropped=dropped)
        if task != "regression":
            raise DataError(f"{where}: unknown task {task!r}; choose {' or '.join(TASKS)}")
        y = numeric_values(df[target], target, where)
        if np.isnan(y).any():
            raise DataError(f"{where}: target column {target!r} has {int(np.isnan(y).sum())} missing value(s) "
                            f"(first in {first_data_row(df.index, np.isnan(y))}); drop those rows")
        integer = bool(np.all(y == np.round(y)))
        t = TargetColumn(name=target, min=float(y.min()), max=float(y.max()), integer=integer)
        return cls(columns=fitted, target=t, dropped=dropped)

    # -- applying -----------------------------------------------------------------------------
    def encode(self, df: pd.DataFrame, *, where: str = "table", unknown: str | None = None) -> np.ndarray:
        """The encoded features (n, n_features) of a raw table holding :attr:`input_columns`.

        Parameters
        ----------
        df : DataFrame
        where : str
            How to name the table in messages.
        unknown : {"error", "ignore"}, optional
            Overrides every categorical column's own ``unknown`` policy.

        Raises
        ------
        DataError
            A missing, repeated or unnamed column, a value of the wrong type, or a level the
            key never saw (naming the column and the value).
        """
        from .tables import check_column_names

        check_column_names(list(df.columns), where)
        df = df.rename(columns=str)
        missing = [c for c in self.input_columns if c not in df.columns]
        if missing:
            raise DataError(f"{where}: missing column(s) {', '.join(map(repr, missing))}; the key reads "
                            f"{', '.join(self.input_columns)}")
        parts = [_encode_column(c, df[c.name], where, unknown) for c in self.columns]
        return np.column_stack(parts).astype(np.float64, copy=False)

    def encode_frame(self, df: pd.DataFrame, **kwargs) -> pd.DataFrame:
        """:meth:`encode` as a DataFrame with :attr:`feature_names` as columns."""
        import pandas as pd

        return pd.DataFrame(self.encode(df, **kwargs), columns=self.feature_names, index=df.index)

    def target_values(self, df: pd.DataFrame, *, where: str = "table") -> np.ndarray:
        """The target column as float64 (gaps are an error); for classification the class
        codes 0..k-1 in the order of ``target.classes`` (a label the key never saw is an error
        naming the column and the label)."""
        if self.target.name not in df.columns:
            raise DataError(f"{where}: missing column(s) {self.target.name!r} (the target)")
        if isinstance(self.target, CategoricalTarget):
            return class_codes(df[self.target.name], self.target, where)
        y = numeric_values(df[self.target.name], self.target.name, where)
        if np.isnan(y).any():
            raise DataError(f"{where}: target column {self.target.name!r} has missing values")
        return y

    # -- what forging keeps rows inside -------------------------------------------------------
    def ranges(self) -> list[tuple[str, list[int], float, float]]:
        """Per encoded feature group: ``("box", [j], lo, hi)`` or ``("simplex", [j...], 0, 1)``."""
        out, j = [], 0
        for c in self.columns:
            names = _feature_names(c)
            if c.type == "categorical":
                out.append(("simplex", list(range(j, j + len(names))), 0.0, 1.0))
            else:
                lo, hi = (c.min, c.max) if c.type in ("numeric", "datetime") else (0.0, 1.0)
                out.append(("box", [j], lo, hi))
                if c.missing_indicator:
                    out.append(("box", [j + 1], 0.0, 1.0))
            j += len(names)
        return out

    def hard_groups(self) -> list[list[int]]:
        """Encoded indices of each categorical group asked to be hard (one level per row)."""
        out, j = [], 0
        for c in self.columns:
            n = len(_feature_names(c))
            if c.type == "categorical" and c.hard:
                out.append(list(range(j, j + n)))
            j += n
        return out

    def integer_features(self) -> list[int]:
        """Encoded indices of integer numeric columns."""
        out, j = [], 0
        for c in self.columns:
            if c.type == "numeric" and c.integer:
                out.append(j)
            j += len(_feature_names(c))
        return out

    def describe(self) -> list[dict[str, Any]]:
        """One plain dict per input column (for ``inspect`` and ``verify``)."""
        rows = []
        for c in self.columns:
            d = {"column": c.name, "type": c.type, "features": _feature_names(c)}
            if c.type in ("numeric", "datetime"):
                d["range"] = [c.min, c.max]
            if c.type == "categorical":
                d["levels"] = list(c.levels)
            rows.append(d)
        return rows


def _feature_names(c) -> list[str]:
    if c.type == "categorical":
        return [f"{c.name}={level}" for level in c.levels]
    base = f"{c.name}__days" if c.type == "datetime" else c.name
    return [base, f"{c.name}__missing"] if c.missing_indicator else [base]


# -- the classification target ------------------------------------------------------------------
def infer_task(s: pd.Series) -> str:
    """``"classification"`` for a boolean, string or categorical target, or an integer-typed one
    with at most :data:`INTEGER_CLASS_LEVELS` distinct values; ``"regression"`` otherwise
    (a float column, even of whole numbers, stays regression: say ``data.task`` to change it)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        return "classification"
    if pd.api.types.is_integer_dtype(s):
        return "classification" if s.nunique(dropna=True) <= INTEGER_CLASS_LEVELS else "regression"
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return "regression"
    return "classification"


def target_classes(s: pd.Series, name: str, where: str) -> list[str]:
    """The sorted classes of a classification target (as strings), checked.

    Raises
    ------
    DataError
        Missing labels, a single class, or more than :data:`MAX_CLASSES` classes, each naming
        the column and the count.
    """
    strings = level_strings(s)
    if strings.isna().any():
        raise DataError(f"{where}: target column {name!r} has {int(strings.isna().sum())} missing label(s) "
                        f"(first in {first_data_row(s.index, strings.isna().to_numpy())}); drop those rows")
    classes = sorted(strings.unique())
    if len(classes) < 2:
        raise DataError(f"{where}: target column {name!r} has one class only ({classes[0]!r} in every row); "
                        f"classification needs at least two")
    if len(classes) > MAX_CLASSES:
        raise DataError(f"{where}: target column {name!r} has {len(classes)} classes, more than the "
                        f"{MAX_CLASSES} allowed; group rare classes or set data.task: regression")
    return classes


def _fit_classes(s: pd.Series, name: str, where: str, classes: Sequence[str] | None) -> CategoricalTarget:
    if classes is None:
        return CategoricalTarget(type="categorical", name=name, classes=target_classes(s, name, where))
    here = set(level_strings(s).dropna())
    absent = [c for c in classes if c not in here]
    if absent:
        raise DataError(f"{where}: class {absent[0]!r} of target column {name!r} does not occur in the "
                        f"training rows ({len(absent)} class(es) absent); a key cannot learn it -- add rows "
                        f"of it, drop it, or change data.seed / data.test_fraction")
    return CategoricalTarget(type="categorical", name=name, classes=list(classes))


def class_codes(s: pd.Series, target: CategoricalTarget, where: str) -> np.ndarray:
    """Class codes 0..k-1 (float64) of the labels ``s``; an unknown or missing label is an error."""
    strings = level_strings(s)
    index = {c: i for i, c in enumerate(target.classes)}
    codes = strings.map(index)
    bad = codes.isna().to_numpy()
    if bad.any():
        first = strings[bad].iloc[0]
        what = "a missing label" if first is np.nan or first is None or (isinstance(first, float) and math.isnan(first)) \
            else f"label {first!r}"
        raise DataError(f"{where}: target column {target.name!r} holds {what} that the key never saw "
                        f"({int(bad.sum())} row(s), first in {first_data_row(s.index, bad)}); the key's classes: "
                        f"{', '.join(target.classes)}")
    return codes.to_numpy(dtype=np.float64)


# -- inference ------------------------------------------------------------------------------------
def infer_schema(df: pd.DataFrame, target: str, given: Mapping[str, Any] | None = None,
                 features: Sequence[str] | None = None, *, where: str = "table",
                 notes: list[str] | None = None) -> dict[str, Any]:
    """The column schema of every column but the target, in table order.

    Columns named in ``given`` keep their type; with ``features``, every other column is
    ``ignore``; the rest are inferred: booleans and two-valued yes/no strings (true/false,
    yes/no, y/n, t/f) -> boolean, numbers -> numeric, datetimes -> datetime, other strings ->
    categorical.

    With a ``notes`` list (``enfo-owner init``), an inferred id-like column becomes ``id``, and
    an inferred column with no value or with too many levels ``ignore``, each with a note
    appended, instead of an error.

    Raises
    ------
    DataError
        A column ``given`` names that the table lacks; an inferred column that looks like an id
        (all distinct integers or strings over at least :data:`ID_MIN_ROWS` rows; type it
        ``id`` to leave it out, or ``numeric``/``categorical`` to use it); a column with no
        value at all; a categorical column with more levels than its cap.
    """
    given = {str(k): as_spec(v, k) for k, v in (given or {}).items()}
    df = df.rename(columns=str)
    columns = list(df.columns)
    for key, names in (("data.columns", list(given)), ("data.features", list(features or []))):
        absent = [c for c in names if c not in columns]
        if absent:
            raise DataError(f"{where}: {key} names column(s) {', '.join(map(repr, absent))} that the "
                            f"table lacks; the table has {', '.join(columns)}")
    if target in given and given[target].type in ("id", "ignore"):
        raise DataError(f"{where}: the target column {target!r} cannot be typed {given[target].type!r}")
    schema: dict[str, Any] = {}
    for name in columns:
        if name == target:
            continue
        if name in given:
            spec = given[name]
        elif features is not None and name not in features:
            spec = IgnoreSpec(type="ignore")
        else:
            try:
                spec = _infer_column(df[name], name, where)
            except DataError as e:
                if notes is None:
                    raise
                spec = IdSpec(type="id")
                notes.append(f"{name}: typed id: {str(e).split(': ', 2)[-1].split(';')[0]}")
        try:
            if spec.type not in ("id", "ignore") and df[name].isna().all():
                raise DataError(f"{where}: column {name!r} has no value at all (all missing); type it "
                                f"ignore in data.columns or fill it")
            if spec.type == "categorical":
                _check_levels(df[name], name, spec, where)
        except DataError as e:
            if notes is None or name in given:
                raise
            spec = IgnoreSpec(type="ignore")
            notes.append(f"{name}: typed ignore: {str(e).split(': ', 1)[-1].split(';')[0]}")
        schema[name] = spec
    if features is not None:  # the contract's order
        order = [f for f in features if f != target] + [c for c in schema if c not in features]
        schema = {c: schema[c] for c in order}
    return schema


def _infer_column(s: pd.Series, name: str, where: str):
    import pandas as pd

    values = s.dropna()
    if pd.api.types.is_bool_dtype(s) or (s.dtype == object and len(values) and all(isinstance(v, (bool, np.bool_)) for v in values)):
        return BooleanSpec(type="boolean")
    if pd.api.types.is_datetime64_any_dtype(s):
        return DatetimeSpec(type="datetime")
    n = len(values)
    if pd.api.types.is_numeric_dtype(s):
        integral = pd.api.types.is_integer_dtype(s) or (n and np.all(np.asarray(values, dtype=float) == np.round(np.asarray(values, dtype=float))))
        if integral and n >= ID_MIN_ROWS and values.nunique() == n:
            raise DataError(
                f"{where}: column {name!r} looks like an id ({n} distinct whole numbers in {n} rows); "
                f"type it in data.columns: {{{name}: {{type: id}}}} to leave it out, or "
                f"{{type: numeric}} to use it as a feature"
            )
        return NumericSpec(type="numeric", integer=bool(pd.api.types.is_integer_dtype(s)) or None)
    text = set(values.astype(str).str.strip().str.lower().unique())
    if len(text) == 2 and any(text <= {t, f} for t, f in zip(("true", "yes", "y", "t"), ("false", "no", "n", "f"))):
        return BooleanSpec(type="boolean")  # a yes/no column: one 0/1 feature
    if n >= ID_MIN_ROWS and values.astype(str).nunique() == n:
        raise DataError(
            f"{where}: column {name!r} looks like an id ({n} distinct strings in {n} rows); type it "
            f"in data.columns: {{{name}: {{type: id}}}} to leave it out, or {{type: categorical}} to use it"
        )
    return CategoricalSpec(type="categorical")


def _check_levels(s: pd.Series, name: str, spec: CategoricalSpec, where: str) -> None:
    levels = spec.levels if spec.levels is not None else sorted(level_strings(s).dropna().unique())
    n = len(levels) + (1 if s.isna().any() and spec.levels is None else 0)
    if n > spec.max_levels:
        raise DataError(
            f"{where}: categorical column {name!r} has {n} levels, more than its cap of "
            f"{spec.max_levels}; raise max_levels in data.columns.{name}, or type it id or ignore"
        )


# -- fitting one column -----------------------------------------------------------------------------
def _fit_column(s: pd.Series, name: str, spec, where: str):
    if spec.type == "numeric":
        v = numeric_values(s, name, where)
        ok = v[~np.isnan(v)]
        lo = float(ok.min()) if spec.min is None else float(spec.min)
        hi = float(ok.max()) if spec.max is None else float(spec.max)
        if spec.min is not None or spec.max is not None:
            outside = ok[(ok < lo) | (ok > hi)]
            if len(outside):
                raise DataError(f"{where}: column {name!r} has value {shown(outside[0])} outside its range "
                                f"[{lo}, {hi}] in data.columns")
        integer = spec.integer if spec.integer is not None else bool(np.all(ok == np.round(ok)))
        return FittedNumeric(type="numeric", name=name, min=lo, max=hi, integer=bool(integer),
                             impute=float(np.median(ok)), missing_indicator=spec.missing_indicator)
    if spec.type == "boolean":
        v = boolean_values(s, name, where)
        ok = v[~np.isnan(v)]
        return FittedBoolean(type="boolean", name=name, impute=float(ok.mean() >= 0.5),
                             missing_indicator=spec.missing_indicator)
    if spec.type == "categorical":
        strings = level_strings(s)
        if spec.levels is not None:
            levels = list(spec.levels)
            unseen = sorted(set(strings.dropna()) - set(levels))
            if unseen:
                raise DataError(f"{where}: column {name!r} holds level {unseen[0]!r}, not among its levels "
                                f"in data.columns ({', '.join(levels)})")
        else:
            levels = sorted(strings.dropna().unique())
        if strings.isna().any() and MISSING_LEVEL not in levels:
            levels.append(MISSING_LEVEL)
        return FittedCategorical(type="categorical", name=name, levels=levels, hard=spec.hard,
                                 unknown=spec.unknown)
    if spec.type == "datetime":
        days, zoned = datetime_days(s, name, where, None)
        ok = days[~np.isnan(days)]
        return FittedDatetime(type="datetime", name=name, zoned=zoned, min=float(ok.min()), max=float(ok.max()),
                              impute=float(np.median(ok)), missing_indicator=spec.missing_indicator)
    raise DataError(f"{where}: column {name!r}: unknown type {spec.type!r}")  # pragma: no cover


# -- encoding one column ----------------------------------------------------------------------------
def _encode_column(c, s: pd.Series, where: str, unknown: str | None) -> np.ndarray:
    if c.type == "categorical":
        strings = level_strings(s).fillna(MISSING_LEVEL)
        index = {level: i for i, level in enumerate(c.levels)}
        out = np.zeros((len(s), len(c.levels)))
        policy = unknown or c.unknown
        codes = strings.map(index)
        bad = codes.isna().to_numpy()
        if bad.any():
            if policy == "error":
                first = strings[bad].iloc[0]
                raise DataError(
                    f"{where}: column {c.name!r} holds level {first!r} that the key never saw "
                    f"({int(bad.sum())} row(s), first in {first_data_row(s.index, bad)}); known levels: "
                    f"{', '.join(c.levels)} "
                    f"(or set unknown: ignore in data.columns.{c.name})"
                )
        rows = np.flatnonzero(~bad)
        out[rows, codes[~bad].astype(int).to_numpy()] = 1.0
        return out
    if c.type == "numeric":
        v = numeric_values(s, c.name, where)
    elif c.type == "boolean":
        v = boolean_values(s, c.name, where)
    else:
        v, zoned = datetime_days(s, c.name, where, c.zoned)
    gap = np.isnan(v)
    v = np.where(gap, c.impute, v)
    return np.column_stack([v, gap.astype(np.float64)]) if c.missing_indicator else v[:, None]
