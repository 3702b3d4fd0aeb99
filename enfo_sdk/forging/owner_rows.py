"""The owner's rows as forging sees them: a validation split and minibatches.

Two kinds, one interface (``n_owner``, ``n_train``, ``n_val``, ``names``, ``target``, ``Zval``,
``tval``, ``reduce``, ``init_rows``, ``polish_rows``, ``batch``, ``batch_loss``, ``val_rmse``,
``fingerprint``, ``settings``):

* :class:`ArrayRows` -- in-memory rows, a seeded validation split, minibatches drawn with
  ``torch.randint`` from the run's generator;
* :class:`SourceRows` -- a minibatch source such as :class:`enfo_sdk.stream.ParquetSource`
  (batches by step, its own validation rows; under ``torch.distributed`` this rank's shard).

:func:`owner_rows` picks one; :func:`initial_rows` and :func:`start_rows` give the rows forging
starts from, in the key's standardized space.
"""

from __future__ import annotations

import copy
import hashlib
import math

import numpy as np
import pandas as pd
import torch

from .._random import rng as make_rng
from .._validation import check_Xy
from ..errors import DataError, ForgeError


def initial_rows(init: str, Z: np.ndarray, t: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Starting rows (rows, d + 1) from standardized owner rows: k-means centroids (of at most
    20,000 rows), a seeded sample, or standard normal noise."""
    D = np.column_stack([Z, t])
    g = make_rng(seed)
    if init == "kmeans":
        from sklearn.cluster import KMeans

        sub = D if len(D) <= 20000 else D[g.choice(len(D), 20000, replace=False)]
        km = KMeans(n_clusters=rows, n_init=1, random_state=int(seed)).fit(sub)
        return np.asarray(km.cluster_centers_, dtype=np.float64)
    if init == "sample":
        return D[g.choice(len(D), rows, replace=False)].copy()
    if init == "noise":
        return g.standard_normal((rows, D.shape[1]))
    raise ForgeError(f"unknown init {init!r}; choose kmeans, sample or noise")


class ArrayRows:
    """In-memory owner rows: a seeded validation split, minibatches by torch.randint."""

    reduce = False

    def __init__(self, X, y, spec, validation: float, seed: int, dev) -> None:
        Xa, ya, names, target = check_Xy(X, y, min_rows=2)
        if spec.n_features != Xa.shape[1]:
            raise DataError(f"the key expects {spec.n_features} features, X has {Xa.shape[1]}")
        if not 0.0 < validation < 1.0:
            raise ForgeError(f"validation must be a fraction in (0, 1), got {validation}")
        self.names, self.target = names, target
        n = len(ya)
        self.n_owner = n
        self.n_val = max(1, int(round(validation * n)))
        self.n_train = n - self.n_val
        pre = spec.preprocessing
        Z = pre.transform_X(Xa)
        t = spec.target_matrix(ya)  # standardized, or one-hot labels (classification)
        self.n_targets = 1 if t.ndim == 1 else t.shape[1]
        self.target_columns = [target] if t.ndim == 1 else [
            f"{target}={c}" for c in (spec.classes or range(self.n_targets))]
        perm = make_rng(seed).permutation(n)
        val_idx, tr_idx = perm[:self.n_val], perm[self.n_val:]
        self.Ztr = torch.as_tensor(Z[tr_idx], device=dev)
        self.ttr = torch.as_tensor(t[tr_idx], device=dev)
        self.Zval = torch.as_tensor(Z[val_idx], device=dev)
        self.tval = torch.as_tensor(t[val_idx], device=dev)
        self.dev = dev
        self._Z, self._t = Z, t
        self._tr_idx, self._val_idx = tr_idx, val_idx

    def init_rows(self, init: str, rows: int, seed: int) -> np.ndarray:
        return initial_rows(init, self._Z[self._tr_idx], self._t[self._tr_idx], rows, seed)

    def pooled(self) -> ArrayRows:
        """These rows with the validation split given back to training (forging's ``refit``):
        every owner row trains, the training rows first, then the validation rows; the
        validation split itself stays as it was (nothing is scored on it after a refit)."""
        other = copy.copy(self)
        idx = np.concatenate([self._tr_idx, self._val_idx])
        other.Ztr = torch.as_tensor(self._Z[idx], device=self.dev)
        other.ttr = torch.as_tensor(self._t[idx], device=self.dev)
        other.n_train, other._tr_idx = self.n_owner, idx
        return other

    @property
    def Zinit(self) -> np.ndarray:
        """The standardized training rows starting rows are drawn from."""
        return self._Z[self._tr_idx]

    @property
    def tinit(self) -> np.ndarray:
        """Their targets (one-hot labels for a classification key)."""
        return self._t[self._tr_idx]

    def polish_rows(self, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The training rows the targets' polish solves on (standardized); it samples them."""
        return self.Ztr.cpu().numpy(), self.ttr.cpu().numpy()

    def batch(self, step: int, size: int, seed: int, gen):
        idx = torch.randint(0, self.n_train, (min(size, self.n_train),), generator=gen).to(self.dev)
        return self.Ztr[idx], self.ttr[idx]

    def batch_loss(self, r, size: int):
        return (r * r).mean()

    def val_rmse(self, fit, scale: float) -> float:
        r = fit(self.Zval) - self.tval
        return float(torch.sqrt((r * r).mean())) * scale

    def val_errors(self, fit) -> np.ndarray:
        """Per-row squared errors (standardized; mean over the label columns of a classification
        key) of ``fit`` on the validation split: their mean is (val_rmse / scale) ** 2."""
        r = fit(self.Zval) - self.tval
        e = r * r
        return (e if e.ndim == 1 else e.mean(dim=1)).detach().cpu().numpy()

    def pooled_rmse(self, fit, scale: float) -> float:
        """RMSE (original units) over all the owner's rows: training and validation."""
        r = torch.cat([fit(self.Ztr) - self.ttr, fit(self.Zval) - self.tval])
        return float(torch.sqrt((r * r).mean())) * scale

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for a in (self.Ztr, self.ttr, self.Zval, self.tval):
            h.update(np.ascontiguousarray(a.cpu().numpy()).tobytes())
        return h.hexdigest()

    def settings(self) -> dict:
        return {}


class SourceRows:
    """A minibatch source (e.g. ParquetSource): batches by step, its own validation rows."""

    n_targets = 1  # regression only (data.stream refuses classification)

    def __init__(self, source, spec, dev, distributed: bool) -> None:
        if spec.n_features != source.n_features:
            raise DataError(f"the key expects {spec.n_features} features, the source has {source.n_features}")
        self.source, self.pre, self.dev = source, spec.preprocessing, dev
        self._samples: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.names, self.target = list(source.feature_names), source.target_name
        self.target_columns = [self.target]
        self.n_train = int(source.n_train)
        self.n_owner = int(source.n_rows)
        self.reduce = bool(distributed)
        Xv, yv = source.validation_rows()
        self.Zval = torch.as_tensor(self.pre.transform_X(Xv), device=dev)
        self.tval = torch.as_tensor(self.pre.transform_y(yv), device=dev)
        self.n_val = int(source.n_validation)
        if self.reduce:
            from ..distributed import world

            rank, size = world()
            if getattr(source, "world", None) != size or list(getattr(source, "ranks", [])) != [rank]:
                raise ForgeError(
                    f"distributed forging on {size} ranks needs this rank's shard: a source with "
                    f"world={size} and ranks=[{rank}] (enfo_sdk.distributed.shard_source)"
                )

    def _sample(self, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The source's seeded sample of at most ``max_rows`` training rows, standardized; read
        once per (max_rows, seed): the start rows and the targets' polish ask for the same one."""
        key = (int(max_rows), int(seed))
        if key not in self._samples:
            Xs, ys = self.source.sample(*key)
            self._samples[key] = (self.pre.transform_X(np.asarray(Xs, np.float64)),
                                  self.pre.transform_y(np.asarray(ys, np.float64)))
        return self._samples[key]

    def init_rows(self, init: str, rows: int, seed: int) -> np.ndarray:
        Z, t = self._sample(20000, seed)
        return initial_rows(init, Z, t, rows, seed)

    def polish_rows(self, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The training rows the targets' polish solves on (standardized): the source's seeded
        sample of at most ``max_rows`` (the rows k-means starts from; every shard's rows, the
        same on every rank)."""
        return self._sample(max_rows, seed)

    def batch(self, step: int, size: int, seed: int, gen):
        Xb, yb = self.source.batch(step, size, seed)
        return (torch.as_tensor(self.pre.transform_X(Xb), device=self.dev),
                torch.as_tensor(self.pre.transform_y(yb), device=self.dev))

    def batch_loss(self, r, size: int):
        return (r * r).sum() / size

    def val_rmse(self, fit, scale: float) -> float:
        r = fit(self.Zval) - self.tval
        acc = torch.stack([(r * r).sum(), torch.tensor(float(len(r)), dtype=r.dtype, device=r.device)])
        if self.reduce:
            from ..distributed import all_reduce_sum

            all_reduce_sum(acc)
        return math.sqrt(float(acc[0]) / float(acc[1])) * scale

    def fingerprint(self) -> str:
        fp = getattr(self.source, "fingerprint", None)
        return str(fp()) if callable(fp) else type(self.source).__name__

    def settings(self) -> dict:
        d = getattr(self.source, "describe", None)
        return dict(d()) if callable(d) else {}


def start_rows(init_rows, data, spec, rows: int) -> np.ndarray:
    """``init_rows`` (original units, features then target) in standardized space."""
    if isinstance(init_rows, pd.DataFrame):
        cols = [*data.names, *data.target_columns]
        missing = [c for c in cols if c not in init_rows.columns]
        if missing:
            raise ForgeError(f"init_rows lacks column(s) {missing}; it has {list(init_rows.columns)}")
        A = init_rows[cols].to_numpy(dtype=np.float64)
    else:
        A = np.asarray(init_rows, dtype=np.float64)
    d, k = spec.n_features, data.n_targets
    if A.ndim != 2 or A.shape[1] != d + k:
        raise ForgeError(f"init_rows must have shape (rows, {d + k}), got {A.shape}")
    if A.shape[0] != rows:
        raise ForgeError(f"init_rows has {A.shape[0]} rows but rows={rows}")
    if not np.isfinite(A).all():
        raise ForgeError("init_rows holds missing or infinite values")
    pre = spec.preprocessing
    if k > 1:  # label distributions are not standardized
        return np.column_stack([pre.transform_X(A[:, :d]), A[:, d:]])
    return np.column_stack([pre.transform_X(A[:, :d]), pre.transform_y(A[:, d])])




def owner_rows(X, y, spec, validation: float, seed: int, dev, distributed: bool):
    """:class:`SourceRows` for a minibatch source (``y`` None), else :class:`ArrayRows`."""
    from ..stream import is_source

    if spec.columns is not None and isinstance(X, pd.DataFrame) and [str(c) for c in X.columns] != spec.columns.feature_names:
        X = spec.columns.encode_frame(X, where="X")  # a raw table: the key's own encoding
    if is_source(X):
        if y is not None:
            raise ForgeError("pass y=None with a minibatch source (it holds the target)")
        return SourceRows(X, spec, dev, distributed)
    if distributed:
        raise ForgeError("distributed forging reads a sharded source (enfo_sdk.distributed.shard_source), not arrays")
    return ArrayRows(X, y, spec, validation, seed, dev)
