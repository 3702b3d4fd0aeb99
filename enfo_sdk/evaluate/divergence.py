"""Statistical divergence between a synthetic table and the owner's real rows.

The paper (section 5.1.1) reports Kullback-Leibler divergence (Kullback and Leibler 1951),
Jensen-Shannon divergence (Lin 1991) and the Wasserstein distance (Kantorovich 1939) between
the synthetic and the original data; its exact estimators are in an appendix we do not have.
Ours are per-column (marginal) estimators, averaged over the columns (features and target):

* columns are standardized with the *real* rows' mean and population std (a constant column
  gets scale 1), so every column counts alike and the figures do not depend on units;
* KL(real || synthetic) and JS(real, synthetic) on shared histograms whose cut points are the
  ``bins``-quantiles of the real column *and* of the synthetic column (so each sample is
  resolved where it has mass, and disjoint samples fall in different bins; outer bins
  open-ended; duplicate cuts merged), counts smoothed by adding
  ``smoothing`` to every bin (so an empty synthetic bin gives a finite KL); natural log for KL,
  base 2 for JS (so 0 <= JS <= 1);
* Wasserstein-1 between the two empirical 1-D distributions (exact,
  :func:`scipy.stats.wasserstein_distance`), in units of the real column's std.

Identical tables give exactly 0 for all three. Marginal estimators do not see differences
in dependence between columns; that is a documented limitation (see ``docs/metrics.md``).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

from ..errors import ShapeError

__all__ = ["divergences", "histogram_kl_js"]


def _standardize(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = real.mean(axis=0)
    scale = real.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (real - mean) / scale, (synthetic - mean) / scale


def histogram_kl_js(
    real: np.ndarray, synthetic: np.ndarray, *, bins: int = 20, smoothing: float = 0.5
) -> tuple[float, float]:
    """KL(real || synthetic) (nats) and JS (bits) of one column, on shared quantile bins.

    Parameters
    ----------
    real, synthetic : array-like of shape (n,) and (m,)
    bins : int
        Quantile levels per sample; cut points are the real and the synthetic column's
        ``bins``-quantiles together (duplicates removed).
    smoothing : float
        Pseudo-count added to every bin of both histograms.
    """
    real = np.asarray(real, dtype=np.float64)
    synthetic = np.asarray(synthetic, dtype=np.float64)
    levels = np.linspace(0, 1, bins + 1)[1:-1]
    inner = np.unique(np.r_[np.quantile(real, levels), np.quantile(synthetic, levels)])
    p = np.bincount(np.searchsorted(inner, real, side="right"), minlength=len(inner) + 1)
    q = np.bincount(np.searchsorted(inner, synthetic, side="right"), minlength=len(inner) + 1)
    p = (p + smoothing) / (p.sum() + smoothing * len(p))
    q = (q + smoothing) / (q.sum() + smoothing * len(q))
    kl = float(np.sum(p * np.log(p / q)))
    mix = 0.5 * (p + q)
    js = 0.5 * float(np.sum(p * np.log2(p / mix))) + 0.5 * float(np.sum(q * np.log2(q / mix)))
    return max(kl, 0.0), max(js, 0.0)


def divergences(
    real, synthetic, *, columns: list[str] | None = None, bins: int = 20, smoothing: float = 0.5
) -> dict:
    """KL, JS and Wasserstein between ``real`` and ``synthetic`` rows, per column and mean.

    Parameters
    ----------
    real : array-like of shape (n, d)
        The owner's rows (features then target).
    synthetic : array-like of shape (m, d)
        The bundle's (or a baseline's) rows, same columns.
    columns : list of str, optional
        Column names for the per-column breakdown.

    Returns
    -------
    dict
        ``{"kl": float, "js": float, "wasserstein": float, "per_column": {name: {...}}}``;
        the three top-level figures are means over the columns.
    """
    real = np.asarray(real, dtype=np.float64)
    synthetic = np.asarray(synthetic, dtype=np.float64)
    if real.ndim == 1:
        real, synthetic = real[:, None], synthetic[:, None]
    if real.shape[1] != synthetic.shape[1]:
        raise ShapeError(f"real has {real.shape[1]} columns, synthetic {synthetic.shape[1]}")
    names = list(columns) if columns is not None else [f"c{j}" for j in range(real.shape[1])]
    zr, zs = _standardize(real, synthetic)
    per = {}
    for j, name in enumerate(names):
        kl, js = histogram_kl_js(zr[:, j], zs[:, j], bins=bins, smoothing=smoothing)
        per[name] = {"kl": kl, "js": js, "wasserstein": float(wasserstein_distance(zr[:, j], zs[:, j]))}
    out = {k: float(np.mean([v[k] for v in per.values()])) for k in ("kl", "js", "wasserstein")}
    out["per_column"] = per
    return out
