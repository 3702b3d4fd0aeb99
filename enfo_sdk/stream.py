"""Owner data larger than memory: minibatches streamed from a Parquet dataset.

:class:`ParquetSource` reads a Parquet file or a directory of Parquet files one row group at
a time through pyarrow; the table is never loaded whole. :func:`enfo_sdk.forge` accepts it in
place of ``X`` (with ``y=None``). Every rule below is a pure function of the dataset's row
order and the seeds, so a run is reproducible, resumable from its step number alone, and
identical whether its shards are read by one process or by several ranks.

Row order and indices
    Files are sorted by path (names starting with ``.`` or ``_`` are skipped), row groups
    keep their order; row ``i`` is the i-th row of that concatenation, g the row group's
    index in it.

Test and validation split (per row, seeded by ``split_seed``)
    u_i = splitmix64(i XOR splitmix64(split_seed)) / 2^64 (top 53 bits), uniform in [0, 1).
    Row i is a *test* row when u_i < test_fraction (never used here), a *validation* row when
    test_fraction <= u_i < test_fraction + validation, a *training* row otherwise. The
    default ``validation`` is min(0.2, max_validation_rows / n_rows) so early stopping scores
    at most ``max_validation_rows`` (20,000) rows; :meth:`test_rows` returns the test rows
    with u_i < min(test_fraction, max_test_rows / n_rows), a uniform subsample.

Shards
    With ``world`` W shards, row group g belongs to shard g mod W. A process reads the shards
    in ``ranks`` (default all; under torch.distributed rank r reads shard r only).

Minibatches (step k = 1, 2, ..., batch size B, forging seed s)
    Shard j contributes B_j = B // W + (1 if j < B mod W else 0) rows. Its *buffer* for epoch
    e = (k - 1) // refresh_every is the training rows of the first row groups of
    ``default_rng([s, j, e, 1]).permutation(shard j's groups)`` holding at least
    ``buffer_rows`` rows in total; the B_j rows are drawn uniformly with replacement from it
    by ``default_rng([s, j, k]).integers``. The next epoch's buffer is read in a background
    thread while the current one is used. Peak memory is about two buffers (each at least
    one row group) plus the validation rows.

Subsample (encapsulation and k-means initialisation)
    :meth:`sample` reads whole row groups in the order of
    ``default_rng([seed, 2]).permutation(all groups)`` until it holds ``max_rows`` training
    rows, then keeps a ``default_rng([seed, 3])`` choice of exactly ``max_rows`` of them
    (``encapsulate`` searches on such a subsample and fits the preprocessing on it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = ["ParquetSource", "split_u", "is_source"]

_PARQUET_SUFFIXES = (".parquet", ".pq")
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def split_u(index: np.ndarray, split_seed: int) -> np.ndarray:
    """The split rule's u_i in [0, 1) for global row indices ``index`` (see the module doc)."""
    key = _splitmix64(np.array([split_seed], dtype=np.uint64))[0]
    z = _splitmix64(np.asarray(index, dtype=np.uint64) ^ key)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def is_source(obj) -> bool:
    """True for a minibatch source (has ``batch``, ``validation_rows`` and ``sample``)."""
    return all(callable(getattr(obj, n, None)) for n in ("batch", "validation_rows", "sample"))


@dataclass(frozen=True)
class _Group:
    file: int
    index: int  # row group index within the file
    offset: int  # global index of its first row
    rows: int


class ParquetSource:
    """Training minibatches, validation rows and a subsample from a Parquet dataset.

    Parameters
    ----------
    path : str or Path
        A Parquet file or a directory of Parquet files (searched recursively).
    target : str
        Target column.
    features : sequence of str, optional
        Feature columns in order; default every column but the target.
    validation : float, optional
        Fraction of rows held out for early stopping; default
        min(0.2, max_validation_rows / n_rows).
    test_fraction : float
        Fraction of rows held out as test rows (never used for forging).
    split_seed : int
        Seed of the per-row split.
    world : int
        Number of shards (ranks) the minibatch rule is defined for.
    ranks : sequence of int, optional
        Shards this process reads; default all ``world`` of them.
    buffer_rows, refresh_every : int
        Minibatch buffer size (rows, at least one row group) and its lifetime in steps.
    max_validation_rows, max_test_rows : int

    The split, the shard assignment and the minibatch draws are documented in
    :mod:`enfo_sdk.stream`.
    """

    def __init__(
        self,
        path: str | Path,
        target: str,
        features: Sequence[str] | None = None,
        *,
        validation: float | None = None,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        world: int = 1,
        ranks: Sequence[int] | None = None,
        buffer_rows: int = 131072,
        refresh_every: int = 200,
        max_validation_rows: int = 20000,
        max_test_rows: int = 100000,
    ) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self._files = self._discover(self.path)
        self._pf: dict[int, pq.ParquetFile] = {}
        self._lock = threading.Lock()
        # A ParquetFile is not safe to read from two threads at once (its read-range cache
        # can lose an entry: "ReadRangeCache did not find matching cache entry", seen when the
        # prefetch thread and the caller read row groups of one file together). Reads are
        # serialised per source; prefetching still overlaps them with forging.
        self._read_lock = threading.Lock()
        schema = self._file(0).schema_arrow
        names = [f.name for f in schema]
        if target not in names:
            raise DataError(f"{self.path}: target column {target!r} not found; available: {', '.join(names)}")
        feats = [n for n in names if n != target] if features is None else [str(f) for f in features]
        missing = [f for f in feats if f not in names]
        if missing or not feats or target in feats:
            raise DataError(f"{self.path}: bad feature columns {feats} (missing: {missing}); available: {', '.join(names)}")
        self.feature_names, self.target_name = feats, target
        self._columns = [*feats, target]
        groups, offset = [], 0
        for fi in range(len(self._files)):
            self._check_columns(fi)
            md = self._file(fi).metadata
            for gi in range(md.num_row_groups):
                n = md.row_group(gi).num_rows
                if n:
                    groups.append(_Group(fi, gi, offset, n))
                    offset += n
        if offset < 3:
            raise DataError(f"{self.path}: {offset} rows; forging needs more")
        self._groups = groups
        self.n_rows = offset
        if not 0.0 <= test_fraction < 1.0:
            raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}")
        self.test_fraction = float(test_fraction)
        self.validation = float(min(0.2, max_validation_rows / offset) if validation is None else validation)
        if not 0.0 < self.validation < 1.0 - self.test_fraction:
            raise DataError(f"validation must be in (0, 1 - test_fraction), got {self.validation}")
        self.split_seed = int(split_seed)
        self.world = int(world)
        self.ranks = list(range(self.world)) if ranks is None else [int(r) for r in ranks]
        if self.world < 1 or not self.ranks or any(not 0 <= r < self.world for r in self.ranks):
            raise DataError(f"ranks {self.ranks} must be in 0..{self.world - 1}")
        if len(groups) < self.world:
            raise DataError(f"{self.path}: {len(groups)} row groups cannot feed {self.world} shards")
        self.buffer_rows, self.refresh_every = int(buffer_rows), int(refresh_every)
        self.max_test_rows = int(max_test_rows)
        self.n_train = self.n_validation = 0
        for lo in range(0, offset, 1 << 20):
            u = split_u(np.arange(lo, min(offset, lo + (1 << 20)), dtype=np.uint64), self.split_seed)
            self.n_validation += int(((u >= self.test_fraction) & (u < self.test_fraction + self.validation)).sum())
            self.n_train += int((u >= self.test_fraction + self.validation).sum())
        self._shards = {r: _ShardStream(self, r) for r in self.ranks}
        self._val: tuple[np.ndarray, np.ndarray] | None = None
        self._test: tuple[np.ndarray, np.ndarray] | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- files -------------------------------------------------------------------------------
    @staticmethod
    def _discover(path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise DataError(f"no such file or directory: {path}")
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and p.name.lower().endswith(_PARQUET_SUFFIXES)
            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
        )
        if not files:
            raise DataError(f"{path}: no Parquet files (*.parquet, *.pq) found")
        return files

    def _file(self, i: int):
        import pyarrow.parquet as pq

        with self._lock:
            pf = self._pf.get(i)
            if pf is None:
                try:
                    pf = pq.ParquetFile(self._files[i])
                except Exception as e:  # pyarrow raises several types for corrupt files
                    raise DataError(f"{self._files[i]}: cannot read as Parquet: {e}") from e
                self._pf[i] = pf
            return pf

    def _check_columns(self, fi: int) -> None:
        """File ``fi`` holds every column, as numbers (they are read as float64 batch by batch):
        checked up front for every file, naming it, not at the first read of its rows."""
        import pyarrow as pa

        schema = self._file(fi).schema_arrow
        for c in self._columns:
            if schema.get_field_index(c) < 0:
                raise DataError(f"{self._files[fi]}: column {c!r} is missing (the dataset's first file "
                                f"{self._files[0]} has it); available: {', '.join(schema.names)}")
            t = schema.field(c).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                    or pa.types.is_decimal(t)):
                raise DataError(f"{self._files[fi]}: column {c!r} is {t}, not a number; a streamed table's "
                                f"columns must be numbers (encode or cast it, or leave it out of the features)")

    def _read(self, g: _Group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, y, u) of one row group, float64."""
        pf = self._file(g.file)
        with self._read_lock:
            table = pf.read_row_group(g.index, columns=self._columns)
        cols = [np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in self._columns]
        X = np.column_stack(cols[:-1])
        y = cols[-1]
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise DataError(f"{self._files[g.file]}: row group {g.index} holds missing or infinite values")
        u = split_u(np.arange(g.offset, g.offset + g.rows, dtype=np.uint64), self.split_seed)
        return X, y, u

    def _read_train(self, g: _Group) -> tuple[np.ndarray, np.ndarray]:
        X, y, u = self._read(g)
        keep = u >= self.test_fraction + self.validation
        return X[keep], y[keep]

    def _shard_groups(self, shard: int) -> list[_Group]:
        return self._groups[shard::self.world]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enfo-stream")
        return self._pool

    # -- the source protocol (what forge uses) ----------------------------------------------
    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def batch(self, step: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Training rows of minibatch ``step`` (original units) for this process's shards."""
        parts = [self._shards[r].batch(step, size, seed) for r in self.ranks]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def validation_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Validation rows of this process's shards (read once, kept in memory)."""
        if self._val is None:
            self._scan()
        return self._val

    def test_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Test rows with u < min(test_fraction, max_test_rows / n_rows) of this process's shards."""
        if self._test is None:
            self._scan()
        return self._test

    def _scan(self) -> None:
        lo, hi = self.test_fraction, self.test_fraction + self.validation
        t_hi = min(self.test_fraction, self.max_test_rows / self.n_rows)
        vx, vy, tx, ty = [], [], [], []
        for r in self.ranks:
            for g in self._shard_groups(r):
                X, y, u = self._read(g)
                v = (u >= lo) & (u < hi)
                t = u < t_hi
                vx.append(X[v]), vy.append(y[v]), tx.append(X[t]), ty.append(y[t])
        d = self.n_features
        self._val = (np.concatenate(vx) if vx else np.empty((0, d)), np.concatenate(vy) if vy else np.empty(0))
        self._test = (np.concatenate(tx) if tx else np.empty((0, d)), np.concatenate(ty) if ty else np.empty(0))

    def sample(self, max_rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
        """A seeded subsample of at most ``max_rows`` training rows (all shards)."""
        order = np.random.default_rng([int(seed), 2]).permutation(len(self._groups))
        xs, ys, have = [], [], 0
        for gi in order:
            X, y = self._read_train(self._groups[int(gi)])
            xs.append(X), ys.append(y)
            have += len(y)
            if have >= max_rows:
                break
        X, y = np.concatenate(xs), np.concatenate(ys)
        if len(y) > max_rows:
            keep = np.sort(np.random.default_rng([int(seed), 3]).choice(len(y), int(max_rows), replace=False))
            X, y = X[keep], y[keep]
        return pd.DataFrame(X, columns=self.feature_names), pd.Series(y, name=self.target_name)

    def fingerprint(self) -> str:
        """SHA-256 of the files (relative names, sizes), row groups, columns and split rule."""
        base = self.path if self.path.is_dir() else self.path.parent
        body = {
            "files": [[str(p.relative_to(base)), p.stat().st_size] for p in self._files],
            "groups": [g.rows for g in self._groups], "columns": self._columns,
            "split": [self.split_seed, self.test_fraction, self.validation],
            "shards": [self.world, self.buffer_rows, self.refresh_every],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict:
        """Scalars recorded in a bundle's forging settings."""
        return {
            "source_rows": self.n_rows, "source_train_rows": self.n_train,
            "source_validation": self.validation, "source_split_seed": self.split_seed,
            "source_world": self.world,
        }

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _ShardStream:
    """The minibatch buffer of one shard (see the module doc for the rule)."""

    def __init__(self, source: ParquetSource, shard: int) -> None:
        self.source, self.shard = source, shard
        self.groups = source._shard_groups(shard)
        self.key: tuple[int, int] | None = None  # (seed, epoch) of the buffer held
        self.buf: tuple[np.ndarray, np.ndarray] | None = None
        self.next: tuple[tuple[int, int], Future] | None = None

    def _groups_for(self, seed: int, epoch: int) -> list[_Group]:
        order = np.random.default_rng([seed, self.shard, epoch, 1]).permutation(len(self.groups))
        chosen, rows = [], 0
        for i in order:
            chosen.append(self.groups[int(i)])
            rows += self.groups[int(i)].rows
            if rows >= self.source.buffer_rows:
                break
        return chosen

    def _load(self, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.source._read_train(g) for g in self._groups_for(seed, epoch)]
        X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if len(y) == 0:
            raise DataError(f"{self.source.path}: shard {self.shard} buffer at epoch {epoch} holds no training rows")
        return X, y

    def batch(self, step: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        src = self.source
        epoch = (int(step) - 1) // src.refresh_every
        key = (int(seed), epoch)
        if self.key != key:
            if self.next is not None and self.next[0] == key:
                self.buf = self.next[1].result()
            else:
                if self.next is not None:
                    self.next[1].result()
                self.buf = self._load(*key)
            self.key = key
            nxt = (int(seed), epoch + 1)
            self.next = (nxt, src._executor().submit(self._load, *nxt))
        n = size // src.world + (1 if self.shard < size % src.world else 0)
        X, y = self.buf
        idx = np.random.default_rng([int(seed), self.shard, int(step)]).integers(0, len(y), n)
        return X[idx], y[idx]
