"""Probe points: proof that the partner rebuilt the owner's key model exactly.

The owner draws a few query points that are *not* rows of any table -- independent normal
draws around the key's preprocessing, x_j ~ N(feature_mean_j, feature_scale_j^2), from a
generator seeded by the bundle id -- fits ``spec.build()`` on the exact float64 values
written to the bundle and stores the points with its predictions in the manifest. The
verifier fits the same way and requires, for every probe i,

    |p_i - q_i| <= PROBE_RTOL * max(|q_i|, target_scale)

where q is the owner's prediction, p the rebuilt one and target_scale the key's target
standardization (the natural unit of the predictions, so a prediction near zero is not held
to an impossible absolute accuracy).

Both sides fit in numpy float64 with the key's own ``fit`` and ``predict`` under the spec's
fixed preprocessing -- the computation ``spec.build().fit(X, y).predict(points)`` performs,
value for value (tested), without scikit-learn or torch, so verifying needs neither.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .._random import rng
from .._validation import check_finite, check_y
from ..errors import EnfoError, ReconstructionError, ShapeError
from ..preprocessing import Preprocessing
from ..spec import KeySpec

__all__ = ["PROBE_RTOL", "check_probes", "probe_points", "probe_seed"]

PROBE_RTOL = 1e-6


def probe_seed(bundle_id: str) -> int:
    """A 64-bit seed from the bundle id (SHA-256, first 8 bytes little-endian)."""
    return int.from_bytes(hashlib.sha256(bundle_id.encode("utf-8")).digest()[:8], "little")


def probe_points(pre: Preprocessing, n: int, seed: int) -> np.ndarray:
    """``n`` points of shape (n, n_features), drawn around the preprocessing's mean and scale."""
    g = rng(seed)
    z = g.standard_normal((int(n), pre.n_features))
    return np.asarray(pre.feature_mean) + np.asarray(pre.feature_scale) * z


def rebuild_predictions(spec: KeySpec, X: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Fit the key of ``spec`` on (X, y) and predict at ``points`` (what owner and partner both run):
    values, or for a classification key the class probabilities.

    Parameters
    ----------
    spec : KeySpec
        The key; its preprocessing is applied as fixed (the owner's).
    X : ndarray of shape (n_rows, n_features)
        The bundle's feature columns, original units.
    y : array-like of shape (n_rows,)
        The bundle's target.
    points : ndarray of shape (n_probes, n_features)
        The probe points, original units.

    Returns
    -------
    ndarray of shape (n_probes,), or (n_probes, n_classes) for a classification key
        float64 predictions, original units; equal to ``spec.build().fit(X, y).predict(points)``
        (``predict_proba`` for classification, which goes through the estimator).
    """
    if spec.task == "classification":
        model = spec.build().fit(X, y)
        return np.asarray(model.predict_proba(points), dtype=np.float64)
    key, pre = spec.key, spec.preprocessing
    Xa, P = _checked_rows(X, "X"), _checked_rows(points, "probe points")
    ya, _ = check_y(y, Xa, min_rows=2)
    params = key.check_params(spec.hyperparameters)
    state = key.fit(pre.transform_X(Xa), pre.transform_y(ya), params)
    return np.asarray(pre.inverse_y(key.predict(state, pre.transform_X(P), params)), dtype=np.float64)


def _checked_rows(rows, what: str) -> np.ndarray:
    """``rows`` as a finite float64 matrix (columns named x1, x2, ... in errors)."""
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim != 2:
        raise ShapeError(f"{what} must be 2-dimensional, got shape {a.shape}")
    check_finite(a, [f"x{j + 1}" for j in range(a.shape[1])], what=what)
    return a


def check_probes(spec: KeySpec, X: np.ndarray, y: np.ndarray, points, predictions, name: str = "bundle",
                 versions: dict | None = None) -> float:
    """Rebuild and compare; returns the largest scaled difference or raises ReconstructionError."""
    pts = np.asarray(points, dtype=np.float64)
    owner = np.asarray(predictions, dtype=np.float64)
    what = f"{spec.algorithm} v{spec.version}"
    try:
        mine = rebuild_predictions(spec, X, y, pts)
    except (EnfoError, np.linalg.LinAlgError, ValueError, FloatingPointError) as e:
        raise ReconstructionError(f"{name}: rebuilding the {what} key on the bundle rows failed: {e}") from e
    if mine.shape != owner.shape:
        raise ReconstructionError(f"{name}: the rebuilt {what} model gives predictions of shape "
                                  f"{mine.shape} at the probes, the owner's have {owner.shape}")
    scale = np.maximum(np.abs(owner), spec.preprocessing.target_scale)
    with np.errstate(invalid="ignore"):
        err = np.abs(mine - owner) / scale
    if err.ndim == 2:  # class probabilities: the worst per point
        worst = np.argmax(np.where(np.isfinite(err), err, np.inf), axis=1)
        rows = np.arange(len(err))
        err, mine, owner = err[rows, worst], mine[rows, worst], owner[rows, worst]
    bad = ~(err <= PROBE_RTOL)  # NaN counts as bad
    if bad.any():
        i = int(np.argmax(np.where(np.isfinite(err), err, np.inf)))
        hint = ""
        if versions:
            from .manifest import library_versions

            here = library_versions()
            diff = [f"{k} {versions[k]} (here {here.get(k, 'absent')})" for k in versions if here.get(k) != versions[k]]
            if diff:
                hint = f"; the owner used {', '.join(diff)}"
        raise ReconstructionError(
            f"{name}: the rebuilt {what} model does not reproduce the owner's predictions at "
            f"{int(bad.sum())} of {len(owner)} probe points; at probe {i} it predicts {float(mine[i])!r}, "
            f"the owner {float(owner[i])!r} (scaled difference {float(err[i]):.3g} > {PROBE_RTOL:g}){hint}"
        )
    return float(err.max()) if len(err) else 0.0
