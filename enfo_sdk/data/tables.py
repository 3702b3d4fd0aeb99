"""Reading the owner's table and choosing its feature and target columns.

:func:`read_table` reads a CSV file, a Parquet file, a directory of Parquet files (a Parquet
dataset, optionally hive-partitioned) or a built-in dataset (``builtin:NAME``) into a
:class:`pandas.DataFrame`; :func:`select_columns` splits it into a float64 feature frame and a
float64 target. Every failure is a :class:`~enfo_sdk.errors.DataError` that names the file or
the columns involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..fs import require_regular_file
from .builtin import load_builtin

__all__ = ["BUILTIN_PREFIX", "read_table", "select_columns", "check_column_names"]

#: Prefix of a source naming a built-in dataset, e.g. ``builtin:friedman3``.
BUILTIN_PREFIX = "builtin:"

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(source: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a table from a file, a Parquet dataset directory or a built-in dataset.

    Parameters
    ----------
    source : str or pathlib.Path
        One of: a CSV file (``.csv``, optionally compressed as ``.csv.gz``, ``.csv.bz2``,
        ``.csv.xz``, ``.csv.zip``); a Parquet file (``.parquet`` or ``.pq``); a directory of
        Parquet files read as one dataset (files found recursively; names starting with ``.``
        or ``_`` are ignored; ``key=value`` folders become columns); or ``"builtin:NAME"``
        for a built-in dataset with default options (see
        :func:`enfo_sdk.data.builtin.load_builtin`).
    columns : sequence of str, optional
        Read only these columns, in this order. Default: every column.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, n_columns)
        The table, with at least one row and one column.

    Raises
    ------
    DataError
        If the file or directory does not exist, the extension is not recognised, the file
        cannot be read (corrupt or malformed; the underlying error is chained), a requested
        column is missing, the table is empty, or a directory holds no Parquet files. The
        message names the source.
    """
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        columns = list(columns)
        if len(set(columns)) != len(columns):
            raise DataError(f"duplicate names in columns {columns} requested from {source}")

    if isinstance(source, str) and source.startswith(BUILTIN_PREFIX):
        df, _ = load_builtin(source[len(BUILTIN_PREFIX):])
        df = _pick(df, columns, source)
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"no such file or directory: {path}")
        # a FIFO or a device would block or stream without end: refuse it before opening
        require_regular_file(path, what="table", error=DataError, allow_dir=True)
        if path.is_dir():
            df = _read_dataset(path, columns)
        else:
            name = path.name.lower()
            if name.endswith(_CSV_SUFFIXES):
                df = _read_csv(path, columns)
            elif name.endswith(_PARQUET_SUFFIXES):
                df = _read_parquet(path, columns)
            else:
                raise DataError(
                    f"unknown table format for {path}: expected one of "
                    f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}, a directory of Parquet "
                    f"files, or {BUILTIN_PREFIX}NAME"
                )

    if df.shape[1] == 0:
        raise DataError(f"table {source} has no columns")
    if df.shape[0] == 0:
        raise DataError(f"table {source} is empty (no rows)")
    return df


def _missing(requested: list[str], available: Sequence[str], source) -> None:
    absent = [c for c in requested if c not in set(available)]
    if absent:
        raise DataError(
            f"columns {absent} not found in {source}; available: {list(available)}"
        )


def _pick(df: pd.DataFrame, columns: list[str] | None, source) -> pd.DataFrame:
    if columns is None:
        return df
    _missing(columns, [str(c) for c in df.columns], source)
    return df[columns]


# pandas < 3 parses decimal floats with its fast parser, which misses the nearest double by an
# ulp for about a third of values (measured with pandas 2.3.3; none with 3.1): the owner's
# numbers must come back exactly as written. pandas 3 parses exactly and deprecates the option.
_EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def check_column_names(names: Sequence, where) -> None:
    """Refuse empty and duplicate column names, naming them (pandas would silently rename a
    second ``a`` to ``a.1`` and an empty header to ``Unnamed: 1``, and both would be signed)."""
    texts = ["" if n is None or (isinstance(n, float) and n != n) else str(n) for n in names]
    empty = [i + 1 for i, n in enumerate(texts) if not n.strip()]
    if empty:
        raise DataError(f"{where}: column {empty[0]} (of {len(texts)}) has an empty name; "
                        "name every column in the header")
    dup = sorted({n for n in texts if texts.count(n) > 1})
    if dup:
        raise DataError(f"{where}: duplicate column name(s) {', '.join(map(repr, dup))}; "
                        "every column needs its own name")


def _read_csv(path: Path, columns: list[str] | None) -> pd.DataFrame:
    try:
        raw_header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
        check_column_names(list(raw_header.iloc[0]) if len(raw_header) else [], path)
        if columns is not None:
            header = pd.read_csv(path, nrows=0).columns
            _missing(columns, list(header), path)
        df = pd.read_csv(path, usecols=columns, **_EXACT_FLOATS)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"table {path} is empty (no header, no rows)") from e
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot read CSV file {path}: {str(e).strip()}") from e
    return df if columns is None else df[columns]


def _arrow_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    return (OSError, ValueError, pa.ArrowException)


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        check_column_names(schema.names, path)
        if columns is not None:
            _missing(columns, schema.names, path)
        table = pq.read_table(path, columns=columns)
        return table.to_pandas()
    except DataError:
        raise
    except _arrow_errors() as e:
        raise DataError(f"cannot read Parquet file {path}: {str(e).strip()}") from e


def _read_dataset(path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pyarrow.dataset as ds

    def hidden(p: Path) -> bool:
        return any(part.startswith((".", "_")) for part in p.relative_to(path).parts)

    files = sorted(
        str(p)
        for p in path.rglob("*")
        if p.is_file() and p.name.lower().endswith(_PARQUET_SUFFIXES) and not hidden(p)
    )
    if not files:
        raise DataError(
            f"directory {path} holds no Parquet files ({', '.join(_PARQUET_SUFFIXES)})"
        )
    try:
        dataset = ds.dataset(
            files,
            format="parquet",
            partitioning=ds.HivePartitioning.discover(infer_dictionary=False),
            partition_base_dir=str(path),
        )
        check_column_names(dataset.schema.names, path)
        if columns is not None:
            _missing(columns, dataset.schema.names, path)
        return dataset.to_table(columns=columns).to_pandas()
    except DataError:
        raise
    except _arrow_errors() as e:
        raise DataError(f"cannot read Parquet dataset {path}: {str(e).strip()}") from e


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype)


def select_columns(
    df: pd.DataFrame,
    target: str,
    features: Sequence[str] | None = None,
    source_name: str = "table",
) -> tuple[pd.DataFrame, pd.Series]:
    """Split a table into float64 features and a float64 target.

    Parameters
    ----------
    df : pandas.DataFrame of shape (n_samples, n_columns)
        The table, e.g. from :func:`read_table`.
    target : str
        Name of the target column; it must exist and be numeric (or boolean).
    features : sequence of str, optional
        Feature columns, in this order; each must exist, be numeric (or boolean) and differ
        from ``target``. Default: every column but the target, in table order; they must all
        be numeric, and any that are not are an error listing them (pass ``features`` to
        leave them out).
    source_name : str, default "table"
        How to name the table in error messages (e.g. its path).

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_features)
        The feature columns as float64 (booleans become 0.0 / 1.0); same index as ``df``.
    y : pandas.Series of shape (n_samples,)
        The target as float64, named ``target``.

    Raises
    ------
    DataError
        If the target is missing (the message lists the available columns) or not numeric;
        if requested features are missing, repeated or include the target (the message names
        them); if any feature is not numeric (the message lists every such column); or if no
        feature remains.
    """
    if not all(isinstance(c, str) for c in df.columns):
        df = df.rename(columns=str)
    available = list(df.columns)
    if len(set(available)) != len(available):
        dup = sorted({c for c in available if available.count(c) > 1})
        raise DataError(f"{source_name} has duplicate column names: {dup}")
    if target not in available:
        raise DataError(
            f"target column {target!r} not found in {source_name}; available: {available}"
        )
    if not _is_numeric(df[target]):
        raise DataError(
            f"target column {target!r} in {source_name} is not numeric "
            f"(dtype {df[target].dtype})"
        )

    if features is None:
        features = [c for c in available if c != target]
    else:
        if isinstance(features, str):
            features = [features]
        features = list(features)
        absent = [c for c in features if c not in available]
        if absent:
            raise DataError(
                f"feature columns {absent} not found in {source_name}; available: {available}"
            )
        if target in features:
            raise DataError(f"target column {target!r} is also listed as a feature")
        if len(set(features)) != len(features):
            dup = sorted({c for c in features if features.count(c) > 1})
            raise DataError(f"feature columns listed more than once: {dup}")
    if not features:
        raise DataError(f"{source_name} has no feature columns besides target {target!r}")

    bad = [c for c in features if not _is_numeric(df[c])]
    if bad:
        kinds = ", ".join(f"{c!r} ({df[c].dtype})" for c in bad)
        raise DataError(
            f"non-numeric feature columns in {source_name}: {kinds}; convert them to numbers "
            "or leave them out with an explicit feature list"
        )
    X = df[features].astype("float64")
    y = df[target].astype("float64")
    return X, y
