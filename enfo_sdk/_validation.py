"""Input checking at the public entry points (the numerical cores trust their inputs).

Row numbers in messages are 1-based *data rows* (:func:`data_row`): the first row after a
table's header is data row 1, whatever the source (CSV, Parquet, SQL, a DataFrame or an array),
so a message and a spreadsheet agree; docs/columns.md says so too.

pandas is not imported here: an object can only be a DataFrame or Series if pandas is
loaded already (the test scikit-learn uses too), so checking numpy input costs no pandas.
"""

from __future__ import annotations

import sys

import numpy as np

from .errors import DataError, DataTypeError, ShapeError


def data_row(index: int) -> str:
    """``"data row N"`` for the 0-based position ``index`` (N = index + 1): how every message
    names a row."""
    return f"data row {int(index) + 1}"


def first_data_row(index, bad) -> str:
    """:func:`data_row` of the first True in ``bad`` (a boolean array over ``index``, a pandas
    index or None). A frame read from a table keeps its rows' positions as integer labels through
    the owner's train/test split, so an integer label is used; otherwise the position."""
    pos = int(np.flatnonzero(np.asarray(bad))[0])
    if index is not None and getattr(index, "dtype", None) is not None and index.dtype.kind in "iu":
        return data_row(index[pos])
    return data_row(pos)


def _pandas_instance(obj, kind: str) -> bool:
    """Whether ``obj`` is a pandas ``kind`` ("DataFrame" or "Series"), without importing pandas."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, getattr(pd, kind))


def _column_names(X, n: int) -> list[str]:
    if _pandas_instance(X, "DataFrame"):
        return [str(c) for c in X.columns]
    return [f"x{i + 1}" for i in range(n)]


def check_numeric_columns(X, *, what: str = "X") -> None:
    """For a DataFrame, raise listing every non-numeric column."""
    if _pandas_instance(X, "DataFrame"):
        pd = sys.modules["pandas"]
        bad = [
            str(c) for c in X.columns
            if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
            or pd.api.types.is_complex_dtype(X[c])
        ]
        if bad:
            raise DataError(f"{what}: non-numeric column(s): {', '.join(bad)}")


def check_finite(arr: np.ndarray, names: list[str], *, what: str = "X") -> None:
    """Raise naming each column with NaN or infinite values."""
    finite = np.isfinite(arr)
    if not finite.all():
        cols = np.where(~finite.all(axis=0))[0]
        parts = []
        for j in cols:
            col = arr[:, j]
            if np.isnan(col).all():
                parts.append(f"{names[j]} (all NaN)")
            else:
                nn = int(np.isnan(col).sum())
                ni = int(np.isinf(col).sum())
                first = int(np.where(~np.isfinite(col))[0][0])
                parts.append(f"{names[j]} ({nn} NaN, {ni} infinite; first in {data_row(first)})")
        raise DataError(f"{what} has missing or infinite values in column(s): {'; '.join(parts)}")


def _as_float64(obj, what: str) -> np.ndarray:
    """np.asarray(obj, float64) with errors that say what was being read."""
    if np.iscomplexobj(obj):
        raise DataError(f"{what}: Complex data not supported")
    try:
        return np.asarray(obj, dtype=np.float64)
    except TypeError as e:
        raise DataTypeError(f"{what} must be numeric: {e}") from e
    except ValueError as e:
        raise DataError(f"{what} must be numeric: {e}") from e


def check_X(X, *, what: str = "X") -> np.ndarray:
    """Return X as a float64 (n, d) array, or raise naming the bad column."""
    if _pandas_instance(X, "DataFrame"):
        check_numeric_columns(X, what=what)
        arr = X.to_numpy(dtype=np.float64)
    else:
        arr = _as_float64(X, what)
    if arr.ndim != 2:
        raise ShapeError(f"{what} must be 2-dimensional (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ShapeError(f"{what} has no feature columns (shape {arr.shape})")
    if arr.shape[0] == 0:
        raise ShapeError(f"{what} has no rows")
    check_finite(arr, _column_names(X, arr.shape[1]), what=what)
    return arr


def check_Xy(X, y, *, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Validate features and target; return arrays, feature names and target name."""
    Xa = check_X(X)
    names = _column_names(X, Xa.shape[1])
    ya, target = check_y(y, Xa, min_rows=min_rows)
    if target in names:
        raise DataError(f"the target {target!r} is also a feature column")
    return Xa, ya, names, target


def check_y(y, Xa: np.ndarray, *, min_rows: int = 2) -> tuple[np.ndarray, str]:
    """Validate the target against already-checked features Xa."""
    target = str(y.name) if _pandas_instance(y, "Series") and y.name is not None else "y"
    if _pandas_instance(y, "DataFrame"):
        if y.shape[1] != 1:
            raise ShapeError(f"y must be one column, got {y.shape[1]}")
        target = str(y.columns[0])
        y = y.iloc[:, 0]
    if _pandas_instance(y, "Series") and not sys.modules["pandas"].api.types.is_numeric_dtype(y):
        raise DataError(f"target {target!r} is not numeric (dtype {y.dtype})")
    ya = _as_float64(y, f"target {target!r}")
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim != 1:
        raise ShapeError(f"y must be 1-dimensional, got shape {ya.shape}")
    if ya.shape[0] != Xa.shape[0]:
        raise ShapeError(f"X has {Xa.shape[0]} rows but y has {ya.shape[0]}")
    if not np.isfinite(ya).all():
        bad = int((~np.isfinite(ya)).sum())
        first = int(np.where(~np.isfinite(ya))[0][0])
        raise DataError(f"target {target!r} has {bad} missing or infinite values (first in {data_row(first)})")
    distinct = np.unique(np.column_stack([Xa, ya]), axis=0).shape[0] if Xa.shape[0] < 200000 else Xa.shape[0]
    if distinct < min_rows:
        raise DataError(
            f"need at least {min_rows} distinct rows, got {distinct} (n_samples = {Xa.shape[0]})"
        )
    return ya, target
