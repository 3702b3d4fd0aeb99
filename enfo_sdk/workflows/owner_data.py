"""The owner's table as every workflow sees it: read, checked, split. One loader, one type.

:func:`load_owner_split` reads the contract's ``data`` section and returns an
:class:`OwnerSplit`: the training rows (encapsulation, forging, the full-data reference) and the
held-out test rows, split by a seeded permutation of ``data.test_fraction`` -- the same split
for ``forge``, ``evaluate`` and ``sweep``, so the same contract gives the same rows everywhere.

With ``data.stream`` the table is a Parquet file or dataset read through
:class:`enfo_sdk.stream.ParquetSource`: forging reads minibatches from it, and the training
rows held in memory are a seeded subsample of :data:`STREAM_SAMPLE_ROWS` (encapsulation and the
evaluation baselines fit on them).
"""

from __future__ import annotations

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
        Training rows (in-memory), or a seeded subsample of them when streaming.
    X_test, y_test : ndarray of shape (n_test, n_features), (n_test,)
        The held-out rows, float64.
    n_train, n_test : int
        Rows on each side (``n_train`` counts all training rows, also when streaming).
    source : ParquetSource or None
        The streaming source when ``data.stream`` is set; forging reads it.
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: np.ndarray
    y_test: np.ndarray
    n_train: int
    n_test: int
    source: Any = None

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

    def forge_rows(self) -> tuple[Any, Any]:
        """What :func:`enfo_sdk.forge` reads: ``(X_train, y_train)`` or ``(source, None)``."""
        return (self.X_train, self.y_train) if self.source is None else (self.source, None)

    def forge_settings(self, contract, **overrides):
        """The contract's forging settings for these rows (a source holds its own validation
        split, so ``forge.validation`` does not apply to it)."""
        kwargs = contract.forge.forge_kwargs()
        if self.source is not None:
            kwargs.pop("validation", None)
        return contract.forge.settings(**{**kwargs, **overrides})

    def check_rows(self, contract) -> None:
        """Fail before encapsulation (the slow part) when ``forge.rows`` cannot work."""
        settings = self.forge_settings(contract)
        where = contract.where("forge.rows")
        if self.source is not None:
            settings.check_rows(self.source.n_train, where=where, error=ConfigError,
                                why=f"the training rows of {contract.data.source}")
            return
        n = self.n_train + self.n_test
        n_val = settings.validation_rows(self.n_train)
        settings.check_rows(
            settings.usable_rows(self.n_train), where=where, error=ConfigError,
            why=f"{n} rows, less {self.n_test} held out for the test by data.test_fraction, "
                f"less {n_val} for validation",
        )


def load_owner_split(contract, *, check_rows: bool = True, stream: bool | None = None) -> OwnerSplit:
    """Read, check and split the contract's table.

    ``stream`` (default: the contract's ``data.stream``) reads a Parquet source by minibatches;
    ``stream=False`` reads the whole table into memory (the evaluation does).

    Raises
    ------
    ConfigError, DataError
        Naming the contract's file and key, or the data file and column.
    """
    stream = contract.data.stream if stream is None else stream
    split = _stream_split(contract) if stream else _memory_split(contract)
    if check_rows:
        split.check_rows(contract)
    return split


def read_owner_table(contract) -> tuple[pd.DataFrame, pd.Series]:
    """The contract's features and target, all finite, with a fresh index."""
    from ..data.builtin import load_builtin
    from ..data.tables import BUILTIN_PREFIX, read_table, select_columns

    d = contract.data
    source = d.source
    with context(contract.where("data.source")):
        if source.startswith(BUILTIN_PREFIX):
            df, _ = load_builtin(source[len(BUILTIN_PREFIX):], **(d.options or {}))
        else:
            if d.options:
                raise ConfigError("options apply to builtin: sources only")
            df = read_table(source)
    columns = [str(c) for c in df.columns]
    if d.target not in columns:
        raise DataError(
            f"{contract.where('data.target')}: column {d.target!r} not found in {source}; "
            f"available: {', '.join(columns)}"
        )
    with context(contract.where("data.features")):
        X, y = select_columns(df, d.target, d.features, source_name=source)
    _check_finite(X, y, source, contract)
    return X.reset_index(drop=True), y.reset_index(drop=True)


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


def _memory_split(contract) -> OwnerSplit:
    X, y = read_owner_table(contract)
    train_idx, test_idx = split_indices(len(y), contract)
    return OwnerSplit(
        X_train=X.iloc[train_idx], y_train=y.iloc[train_idx],
        X_test=X.to_numpy(np.float64)[test_idx], y_test=y.to_numpy(np.float64)[test_idx],
        n_train=len(train_idx), n_test=len(test_idx),
    )


def _stream_split(contract) -> OwnerSplit:
    """``data.stream``: a ParquetSource, a training subsample, and the (capped) test rows."""
    from ..data.tables import BUILTIN_PREFIX
    from ..stream import ParquetSource

    d = contract.data
    if d.source.startswith(BUILTIN_PREFIX):
        raise ConfigError(f"{contract.where('data.stream')}: streaming reads a Parquet file or "
                          f"directory, not {d.source}")
    with context(contract.where("data.source")):
        source = ParquetSource(
            d.source, d.target, d.features, test_fraction=d.test_fraction, split_seed=d.seed,
            validation=contract.forge.validation,
        )
        X, y = source.sample(STREAM_SAMPLE_ROWS, d.seed)
        Xt, yt = source.test_rows()
    if len(yt) == 0:
        raise ConfigError(f"{contract.where('data.test_fraction')}: no test rows in {d.source}")
    return OwnerSplit(X_train=X, y_train=y, X_test=Xt, y_test=yt, n_train=source.n_train,
                      n_test=len(yt), source=source)


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
                f"value(s) (first in data row {first + 1}); clean the table"
                + (" or leave the column out" if role == "feature" else "")
                + f" ({contract.where(key)})"
            )
