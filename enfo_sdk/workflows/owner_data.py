"""The owner's table as every workflow sees it: read, typed, encoded, split. One loader, one type.

:func:`load_owner_split` reads the contract's ``data`` section and returns an
:class:`OwnerSplit`: the training rows (encapsulation, forging, the full-data reference) and the
held-out test rows, split by a seeded permutation of ``data.test_fraction`` -- the same split
for ``forge``, ``evaluate`` and ``sweep``, so the same contract gives the same rows everywhere.

The table's columns are typed (``data.columns``, the rest inferred:
:func:`enfo_sdk.data.columns.infer_schema`) and encoded by a
:class:`~enfo_sdk.data.columns.ColumnTransform` fitted on the *training* rows only; the split's
``X_train``/``X_test`` hold the encoded features and ``columns`` the transform, which the key
carries into the bundle (format v2). Levels seen only in the held-out rows encode as all-zero.

A ``data.source`` that is a SQL query (:mod:`enfo_sdk.data.sql`) is read by
:func:`~enfo_sdk.data.sql.read_sql`, or spooled to Parquet by
:class:`~enfo_sdk.data.sql.SqlStreamSource` when streaming.

With ``data.stream`` the table is a Parquet file or dataset read through
:class:`enfo_sdk.stream.ParquetSource`: forging reads minibatches from it, and the training
rows held in memory are a seeded subsample of :data:`STREAM_SAMPLE_ROWS` (encapsulation and the
evaluation baselines fit on them).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._random import rng as make_rng
from ..errors import ConfigError, DataError
from .common import context

#: Training rows read for encapsulation and the evaluation baselines when ``data.stream`` is set.
STREAM_SAMPLE_ROWS = 5000  # the full-data baseline fits the key on them: O(n^2) memory


@dataclass
class OwnerSplit:
    """The owner's rows, split into training and test rows.

    Attributes
    ----------
    X_train, y_train : DataFrame, Series
        Training rows (in-memory; encoded features), or a seeded subsample of them when
        streaming.
    X_test, y_test : ndarray of shape (n_test, n_features), (n_test,)
        The held-out rows, float64.
    n_train, n_test : int
        Rows on each side (``n_train`` counts all training rows, also when streaming).
    source : ParquetSource or None
        The streaming source when ``data.stream`` is set; forging reads it.
    columns : ColumnTransform
        The encoding fitted on the training rows (part of the key).
    raw_test : DataFrame or None
        The held-out rows as read (in-memory tables), e.g. to check a partner's predictions.
    task : {"regression", "classification"}
        What the key predicts (``data.task``, or inferred from the target).
    task_note : str
        How the task was decided (stated in the run's output).
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: np.ndarray
    y_test: np.ndarray
    n_train: int
    n_test: int
    source: Any = None
    columns: Any = None
    raw_test: pd.DataFrame | None = None
    task: str = "regression"
    task_note: str = ""

    @property
    def features(self) -> list[str]:
        return [str(c) for c in self.X_train.columns]

    @property
    def target(self) -> str:
        return str(self.y_train.name)

    @property
    def train_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The training rows as float64 arrays."""
        return self.X_train.to_numpy(np.float64), self.y_train.to_numpy(np.float64)

    def holdout_roles(self, seed: int, outside_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(outside, test) indices into the held-out rows: the seeded split of
        :func:`enfo_sdk.evaluate.split_holdout` that ``evaluate`` also makes, with
        :data:`enfo_sdk.evaluate.core.OUTSIDE_ROWS` outside rows unless ``outside_rows`` says."""
        from ..evaluate.core import OUTSIDE_ROWS, split_holdout

        return split_holdout(len(self.y_test), OUTSIDE_ROWS if outside_rows is None else outside_rows, seed)

    @property
    def how_split(self) -> str:
        """How these rows were read and split, as the reports' first note says it."""
        if self.source is None:
            return "split as by enfo-owner forge (data.test_fraction, data.seed)"
        return (f"streamed and split as by enfo-owner forge (data.stream: a per-row hash of data.seed "
                f"holds out data.test_fraction; the training rows in memory are a seeded sample of at "
                f"most {STREAM_SAMPLE_ROWS:,})")

    def forge_rows(self) -> tuple[Any, Any]:
        """What :func:`enfo_sdk.forge` reads: ``(X_train, y_train)`` or ``(source, None)``."""
        return (self.X_train, self.y_train) if self.source is None else (self.source, None)

    def forge_settings(self, contract, **overrides):
        """The contract's forging settings for these rows (a source holds its own validation
        split, so ``forge.validation`` does not apply to it)."""
        kwargs = contract.forge.forge_kwargs()
        if self.source is not None:
            kwargs.pop("validation", None)
        if contract.forge.rivalry.scores_on_validation:  # the dial scores on the validation
            kwargs.setdefault("refit", False)  # split: the rows kept must not have trained on it
        return contract.forge.settings(**{**kwargs, **overrides})

    def close(self) -> None:
        """Release the streaming source (its reader thread; a SQL source's spooled file)."""
        if self.source is not None:
            self.source.close()

    def check_rows(self, contract) -> None:
        """Fail before encapsulation (the slow part) when ``forge.rows`` cannot work."""
        settings = self.forge_settings(contract)
        where = contract.where("forge.rows")
        if self.source is not None:
            settings.check_rows(self.source.n_train, where=where, error=ConfigError,
                                why=f"the training rows of {source_label(contract)}")
            return
        n = self.n_train + self.n_test
        n_val = settings.validation_rows(self.n_train)
        settings.check_rows(
            settings.usable_rows(self.n_train), where=where, error=ConfigError,
            why=f"{n} rows, less {self.n_test} held out for the test by data.test_fraction, "
                f"less {n_val} for validation",
        )


def load_owner_split(contract, *, check_rows: bool = True, stream: bool | None = None,
                     columns=None) -> OwnerSplit:
    """Read, check and split the contract's table.

    ``stream`` (default: the contract's ``data.stream``) reads a Parquet source by minibatches;
    ``stream=False`` reads the whole table into memory. ``columns`` (a
    fitted ColumnTransform, e.g. a consortium's agreed key's) encodes the table instead of an
    encoding fitted on its training rows; in-memory tables only.

    Raises
    ------
    ConfigError, DataError
        Naming the contract's file and key, or the data file and column.
    """
    stream = contract.data.stream if stream is None else stream
    if stream and columns is not None:
        raise ConfigError(f"{contract.where('data.stream')}: forging for a given key spec reads the "
                          f"table in memory; set data.stream: false")
    split = _stream_split(contract) if stream else _memory_split(contract, columns)
    _check_target_varies(split, contract)
    if check_rows:
        split.check_rows(contract)
    return split


def _check_target_varies(split: OwnerSplit, contract) -> None:
    """A constant target would forge with RMSE 0 and teach nothing: refuse it, naming it."""
    y = np.asarray(split.y_train, dtype=np.float64)
    if len(y) and np.all(y == y[0]):
        raise DataError(
            f"{contract.data.source}: target column {split.target!r} is constant ({y[0]:g} in "
            f"every training row); there is nothing for a key to learn ({contract.where('data.target')})"
        )


def read_owner_frame(contract) -> pd.DataFrame:
    """The contract's table as read (every column), with a fresh index and string column names."""
    from ..data.builtin import load_builtin
    from ..data.tables import BUILTIN_PREFIX, check_column_names, read_table

    d = contract.data
    source = d.source
    label = source_label(contract)
    query = _sql_query(contract)
    with context(contract.where("data.source")) if query is None else nullcontext():
        if query is not None:
            from ..data.sql import read_sql

            df = read_sql(query)
        elif source.startswith(BUILTIN_PREFIX):
            df, _ = load_builtin(source[len(BUILTIN_PREFIX):], **(d.options or {}))
        else:
            if d.options:
                raise ConfigError("options apply to builtin: sources only")
            df = read_table(source)
    check_column_names(list(df.columns), label)
    columns = [str(c) for c in df.columns]
    if d.target not in columns:
        raise DataError(
            f"{contract.where('data.target')}: column {d.target!r} not found in {label}; "
            f"available: {', '.join(columns)}"
        )
    return df.rename(columns=str).reset_index(drop=True)


def owner_schema(contract, df: pd.DataFrame) -> dict[str, Any]:
    """Every column's type: the contract's ``data.columns``, the rest inferred."""
    from ..data.columns import infer_schema

    d = contract.data
    return infer_schema(df, d.target, d.columns, d.features, where=source_label(contract))


def split_indices(n: int, contract) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (training, test) row indices of ``n`` rows: a seeded ``data.test_fraction`` split."""
    fraction = contract.data.test_fraction
    n_test = int(round(fraction * n))
    if n_test < 1 or n - n_test < 3:
        raise ConfigError(
            f"{contract.where('data.test_fraction')}: {fraction} leaves {n_test} test and "
            f"{n - n_test} training rows of {n}; both sides need rows"
        )
    perm = make_rng(contract.data.seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _memory_split(contract, columns=None) -> OwnerSplit:
    from ..data.columns import ColumnTransform, target_classes

    d = contract.data
    label = source_label(contract)
    df = read_owner_frame(contract)
    train_idx, test_idx = split_indices(len(df), contract)
    train, test = df.iloc[train_idx], df.iloc[test_idx]
    task, note = owner_task(contract, df)
    if columns is None:  # else: a consortium member encodes with the agreed key's columns
        schema = owner_schema(contract, df)
        classes = None
        if task == "classification":
            with context(contract.where("data.target")):
                classes = target_classes(df[d.target], d.target, label)
        with context(contract.where("data.columns") if d.columns else label):
            columns = ColumnTransform.fit(train, schema, d.target, where=f"{label} (training rows)",
                                          task=task, classes=classes)
    X_train = columns.encode_frame(train, where=label)
    y_train = pd.Series(columns.target_values(train, where=label), index=train.index, name=d.target)
    _check_finite(X_train, y_train, label, contract)
    return OwnerSplit(
        X_train=X_train, y_train=y_train,
        X_test=columns.encode(test, where=label, unknown="ignore"),
        y_test=columns.target_values(test, where=label),
        n_train=len(train_idx), n_test=len(test_idx), columns=columns, raw_test=test,
        task=task, task_note=note,
    )


def owner_task(contract, df: pd.DataFrame) -> tuple[str, str]:
    """The task (``data.task``, else inferred from the target column) and a sentence saying how."""
    from ..data.columns import infer_task

    d = contract.data
    if d.task is not None:
        return d.task, f"task: {d.task} (data.task)"
    task = infer_task(df[d.target])
    return task, (f"task: {task} (inferred from target column {d.target!r} of type {df[d.target].dtype}; "
                  f"set data.task to change it)")


def _stream_split(contract) -> OwnerSplit:
    """``data.stream``: a ParquetSource, a training subsample, and the (capped) test rows."""
    from ..data.tables import BUILTIN_PREFIX
    from ..data.sql import SqlStreamSource
    from ..stream import ParquetSource

    d = contract.data
    query = _sql_query(contract)
    if query is None and d.source.startswith(BUILTIN_PREFIX):
        raise ConfigError(f"{contract.where('data.stream')}: streaming reads a Parquet file or "
                          f"directory, not {d.source}")
    with context(contract.where("data.source")) if query is None else nullcontext():
        source = (ParquetSource if query is None else SqlStreamSource)(
            query or d.source, d.target, d.features, test_fraction=d.test_fraction, split_seed=d.seed,
            validation=contract.forge.validation,
        )
        X, y = source.sample(STREAM_SAMPLE_ROWS, d.seed)
        Xt, yt = source.test_rows()
    if len(yt) == 0:
        raise ConfigError(f"{contract.where('data.test_fraction')}: no test rows in {source_label(contract)}")
    task, _ = owner_task(contract, pd.concat([X, y], axis=1))
    if task != "regression":
        raise ConfigError(f"{contract.where('data.stream')}: streaming reads regression tables only; "
                          f"this target is a {task} target (drop data.stream)")
    columns = _stream_columns(contract, X, y)
    return OwnerSplit(X_train=X, y_train=y, X_test=Xt, y_test=yt, n_train=source.n_train,
                      n_test=len(yt), source=source, columns=columns)


def _stream_columns(contract, X: pd.DataFrame, y: pd.Series):
    """The encoding of a streamed table, fitted on the training subsample: numeric columns only
    (the source's batches are read as they are), ranges observed on the subsample."""
    from ..data.columns import ColumnTransform

    d = contract.data
    label = source_label(contract)
    frame = pd.concat([X, y], axis=1)
    schema = owner_schema(contract, frame)
    with context(contract.where("data.columns") if d.columns else label):
        columns = ColumnTransform.fit(frame, schema, d.target, where=f"{label} (training subsample)")
    if columns.feature_names != [str(c) for c in X.columns]:
        raise ConfigError(
            f"{contract.where('data.stream')}: a streamed table is read as numbers; its columns "
            f"{[str(c) for c in X.columns]} would encode to {columns.feature_names} (type them numeric, "
            f"without missing indicators, or drop data.stream)"
        )
    return columns


def source_label(contract) -> str:
    """The contract's source as messages name it: the file (or ``builtin:NAME``), or for a SQL
    query the contract key, the engine and the database (never a password)."""
    source = contract.data.source
    if isinstance(source, str):
        return source
    conn = source.query().parsed
    return f"{contract.where('data.source.sql')} (the {conn.engine} query on {conn.target})"


def _sql_query(contract):
    """The contract's SQL source as a :class:`enfo_sdk.data.sql.SqlQuery`, or None for a file
    or builtin: source."""
    source = contract.data.source
    return None if isinstance(source, str) else source.query(contract.where("data.source"))


def _check_finite(X: pd.DataFrame, y: pd.Series, source: str, contract) -> None:
    """Name the first column holding NaN or infinity, with its count and first row."""
    for name, col in [*X.items(), (y.name, y)]:
        values = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            role = "target" if name == y.name else "feature"
            key = "data.target" if role == "target" else "data.features"
            raise DataError(
                f"{source}: {role} column {name!r} has {int(bad.sum())} missing or infinite "
                f"value(s) (first in {data_row(first)}); clean the table"
                + (" or leave the column out" if role == "feature" else "")
                + f" ({contract.where(key)})"
            )
