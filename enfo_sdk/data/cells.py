"""Cell values of a typed column read into float64: numbers, yes/no words, dates, level strings.

The readers :class:`enfo_sdk.data.columns.ColumnTransform` uses when it fits and encodes a raw
table. Each takes one column (a pandas Series), its name and ``where`` (the file or table, for
messages) and raises a :class:`~enfo_sdk.errors.DataTypeError` naming the column and the first
bad value as written (:func:`shown`). pandas is imported inside each function: verifying a
bundle parses the manifest's column transform and never reads a table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError, DataTypeError

if TYPE_CHECKING:
    import pandas as pd

#: Words a boolean column may hold (compared lower-cased, stripped).
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}


def numeric_values(s: pd.Series, name: str, where: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return s.astype(np.float64).to_numpy()
    if pd.api.types.is_integer_dtype(s):
        check_exact_integers(s, name, where)
        v = s.astype(np.float64).to_numpy()
    elif pd.api.types.is_numeric_dtype(s):
        v = s.astype(np.float64).to_numpy()
    else:
        v = pd.to_numeric(s, errors="coerce").astype(np.float64).to_numpy()
        bad = np.isnan(v) & s.notna().to_numpy()
        if bad.any():
            raise DataTypeError(f"{where}: column {name!r} is numeric but holds {s[bad].iloc[0]!r} "
                                f"({int(bad.sum())} such value(s))")
    if np.isinf(v).any():
        raise DataError(f"{where}: column {name!r} holds an infinite value")
    return v


#: Largest integer magnitude float64 holds exactly (2**53); beyond it neighbours collapse.
EXACT_INTEGER_LIMIT = 2**53


def check_exact_integers(s: pd.Series, name: str, where: str) -> None:
    """Refuse integers that float64 would round (near 2**63 a whole column can collapse to a
    couple of distinct values); such a column is an id or needs rescaling before it is a feature."""
    values = s.dropna()
    if values.empty:
        return
    big = values[(values > EXACT_INTEGER_LIMIT) | (values < -EXACT_INTEGER_LIMIT)]
    if len(big):
        raise DataError(
            f"{where}: column {name!r} holds integers beyond 2^53 (e.g. {int(big.iloc[0])}, "
            f"{len(big)} value(s)) that float64 cannot represent exactly; type it id or ignore "
            "in data.columns, or rescale it"
        )


def boolean_values(s: pd.Series, name: str, where: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        v = s.astype(np.float64).to_numpy()
        bad = ~np.isin(v, (0.0, 1.0)) & ~np.isnan(v)
    else:
        text = s.map(lambda x: x if x is None or (isinstance(x, float) and math.isnan(x)) else str(x).strip().lower())
        v = np.full(len(s), np.nan)
        v[text.isin(TRUE_WORDS).to_numpy()] = 1.0
        v[text.isin(FALSE_WORDS).to_numpy()] = 0.0
        bad = np.isnan(v) & s.notna().to_numpy()
    if bad.any():
        raise DataTypeError(f"{where}: column {name!r} is boolean but holds {shown(s[bad].iloc[0])} "
                            f"(expected true/false, yes/no, y/n or 1/0)")
    return v


def level_strings(s: pd.Series) -> pd.Series:
    """Levels as strings (numbers written without a trailing .0), gaps kept as NaN."""
    import pandas as pd

    def text(x):
        if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
            return np.nan
        if isinstance(x, (float, np.floating)) and float(x).is_integer():
            return str(int(x))
        return str(x)
    return s.map(text).astype(object)


def datetime_days(s: pd.Series, name: str, where: str, zoned: bool | None) -> tuple[np.ndarray, bool]:
    """Days since 1970-01-01 (UTC for zoned values) and whether the values carry a zone."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        ts = s
    elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        # pandas would read numbers as nanoseconds since 1970: never what a table means
        first = s.dropna()
        raise DataTypeError(
            f"{where}: column {name!r} is datetime but holds numbers (e.g. "
            f"{shown(first.iloc[0]) if len(first) else 'nan'}); a datetime column holds dates or "
            f"timestamps (text such as 2024-05-31 or a datetime type); type it numeric instead")
    else:
        values = s.dropna()
        zones = {zone_of(v) for v in values}
        if None in zones and len(zones) > 1:
            example = next(z for z in zones if z is not None)
            raise DataError(f"{where}: datetime column {name!r} mixes values with a time zone (offset {example}) "
                            f"and values without one; write every value with its zone (or all in UTC)")
        try:
            ts = pd.to_datetime(s, utc=bool(zones and zones != {None}), format="mixed")
        except (ValueError, TypeError) as e:
            raise DataTypeError(f"{where}: column {name!r} is datetime but a value does not parse: {e}") from None
    is_zoned = getattr(ts.dt, "tz", None) is not None
    if zoned is not None and is_zoned != zoned:
        raise DataError(f"{where}: datetime column {name!r} is {'zoned' if is_zoned else 'naive'} here but was "
                        f"{'zoned' if zoned else 'naive'} when the key was made")
    if is_zoned:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    days = (ts - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    return days.astype(np.float64).to_numpy(), is_zoned


def shown(v) -> str:
    """A cell value for a message: numpy scalars as the Python value they hold (``-0.61``, not
    ``np.float64(-0.61)``)."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def zone_of(v) -> str | None:
    import pandas as pd

    if isinstance(v, pd.Timestamp):
        return None if v.tz is None else str(v.utcoffset())
    text = str(v).strip()
    if text.endswith("Z"):
        return "0:00:00"
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    return None if t.tz is None else str(t.utcoffset())
