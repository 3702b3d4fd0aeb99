"""Baselines at the bundle's row count (the paper's Table 1).

Every baseline starts from ``rows`` real training rows sampled without replacement (seeded),
then perturbs them; columns are the features then the target, as in a bundle:

``sampled``      the sampled rows unchanged ("original data (Sampled)");
``noise``        plus Gaussian noise with std ``noise_scale`` (default 0.1) x the column's std
                 on the training rows (the paper does not give its noise level);
``rounding``     every value rounded to two significant digits ("nearest value at the second
                 most significant digit");
``top_coding``   every column clipped above at its 95th percentile on the training rows;
``swap_20``, ``swap_50``  20% (50%) of the rows are split at random into two equal groups and
                 paired; paired rows swap their feature values and keep their targets.
                 (Swapping *all* attributes, as the paper words it, would leave the set of rows
                 unchanged, so we swap the features and leave the target: the usual
                 record-swapping disclosure control, e.g. Dalenius and Reiss 1982.)
``gaussian_copula``  a generative baseline: a Gaussian copula fitted on all training rows
                 (normal scores of the ranks, their correlation matrix) sampled ``rows``
                 times, each column mapped back through the training column's empirical
                 quantiles. Our own implementation (numpy/scipy), not SDV's.

GAN (CTGAN) and diffusion baselines need packages not installed here; see ``docs/metrics.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from .._random import rng as make_rng

__all__ = ["BASELINES", "make_baseline", "round_significant"]

BASELINES = ("sampled", "noise", "rounding", "top_coding", "swap_20", "swap_50", "gaussian_copula")


def round_significant(x, digits: int = 2) -> np.ndarray:
    """Round every value to ``digits`` significant digits (0 stays 0)."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    nz = (x != 0) & np.isfinite(x)
    mag = 10.0 ** (np.floor(np.log10(np.abs(x[nz]))) - (digits - 1))
    out[nz] = np.round(x[nz] / mag) * mag
    return out


def _swap(rows: np.ndarray, share: float, n_features: int, g: np.random.Generator) -> np.ndarray:
    out = rows.copy()
    k = int(round(share * len(rows))) // 2
    if k == 0:
        return out
    chosen = g.permutation(len(rows))[: 2 * k]
    a, b = chosen[:k], chosen[k:]
    out[a, :n_features], out[b, :n_features] = rows[b, :n_features], rows[a, :n_features]
    return out


def _copula(train: np.ndarray, rows: int, g: np.random.Generator) -> np.ndarray:
    n, d = train.shape
    ranks = np.argsort(np.argsort(train, axis=0), axis=0)
    scores = norm.ppf((ranks + 1) / (n + 1))
    corr = np.atleast_2d(np.corrcoef(scores, rowvar=False))
    corr = corr + 1e-9 * np.eye(d)
    u = norm.cdf(g.multivariate_normal(np.zeros(d), corr, size=rows, method="eigh"))
    return np.column_stack([np.quantile(train[:, j], u[:, j]) for j in range(d)])


def make_baseline(name: str, train, rows: int, *, n_features: int | None = None, seed: int = 0,
                  noise_scale: float = 0.1) -> np.ndarray:
    """``rows`` baseline rows from the training table ``train`` (features then target).

    Parameters
    ----------
    name : str
        One of :data:`BASELINES`.
    train : array-like of shape (n, n_features + 1)
    rows : int
    n_features : int, optional
        Feature columns (default all but the last).
    """
    train = np.asarray(train, dtype=np.float64)
    n_features = train.shape[1] - 1 if n_features is None else n_features
    g = make_rng(seed)
    if name == "gaussian_copula":
        return _copula(train, rows, g)
    if rows > len(train):
        raise ValueError(f"{rows} rows asked from a table of {len(train)}")
    sample = train[g.choice(len(train), rows, replace=False)]
    if name == "sampled":
        return sample
    if name == "noise":
        return sample + g.standard_normal(sample.shape) * (noise_scale * train.std(axis=0))
    if name == "rounding":
        return round_significant(sample, 2)
    if name == "top_coding":
        return np.minimum(sample, np.percentile(train, 95, axis=0))
    if name == "swap_20":
        return _swap(sample, 0.2, n_features, g)
    if name == "swap_50":
        return _swap(sample, 0.5, n_features, g)
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
