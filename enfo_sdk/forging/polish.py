r"""The targets' polish: the forged targets solved exactly for the kept rows' features.

For a key linear in its targets (nu-method, KRR, ridge; :func:`enfo_sdk.forging.dial.key_matrix`)
and the kept forged features ``Z`` held fixed, the key's standardized predictions on the
owner's rows are ``A t``. The base objective -- the key's mean squared error on the owner's
rows -- is then a least-squares problem in the targets ``t``, which Adam, moving features and
targets together with one step size, solves slowly wherever ``A`` is ill-conditioned: with a
wide kernel (randhie: bandwidth 512 on nine features) the validation error was still falling
after the 2,000 steps of a run, and the forged rows ended 7-11% above the full data and worse
than as many sampled real rows.

The polish solves, for each ``lam`` of :data:`LAMBDAS`,

    min_t  |A_tr t - t_tr|^2 / n  +  lam * |t - t_0|^2 / m

(``A_tr``, ``t_tr``: the n training rows forging learned from, at most :data:`MAX_ROWS`, a
seeded sample above; ``t_0`` the kept targets; ``m`` the forged rows) as one stacked
least-squares system, clips the result into the target's box (a hair inside, :data:`BOX_PAD`) when the column encoding bounds
it (:mod:`enfo_sdk.forging.params`: the targets stay within the owner's range), and scores each
candidate's key on the validation split, exactly, as ``A_val t``. The candidate with the lowest
validation RMSE is returned when it is lower than the kept rows'; :meth:`ForgeSettings.polish_for`
says where it runs, and forging checks the winner once more by refitting the key on it before
keeping it (``enfo_sdk.forge``). The features are not touched.

Measured (``benchmarks/RESULTS.md``, "The targets' polish"): it is the convergence the rows
lacked on wide kernels and a small help elsewhere; on tables already converged the validation
split chooses no change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dial import key_matrix, target_box

__all__ = ["LAMBDAS", "MAX_ROWS", "PolishChoice", "polish_targets"]

#: The ridge weights tried (per forged row, relative to the mean squared error per owner row).
LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)

#: How far inside the target's box (a fraction of its width) clipped targets are put.
BOX_PAD = 1e-9

#: Most training rows (and validation rows) the polish reads; a seeded sample above it.
MAX_ROWS = 20_000


@dataclass(frozen=True)
class PolishChoice:
    """The polish's outcome (standardized units).

    Attributes
    ----------
    targets : ndarray of shape (m,) or None
        The polished targets, or None when no candidate beat the kept rows on the validation
        rows read.
    lam : float or None
        Its ridge weight.
    val_before, val_after : float
        The key's validation RMSE (standardized, on the validation rows read) with the kept
        targets and with the chosen ones (equal when none was chosen).
    scores : dict of float to float
        Every candidate's validation RMSE, by ``lam``.
    """

    targets: np.ndarray | None
    lam: float | None
    val_before: float
    val_after: float
    scores: dict


def _sample(Z: np.ndarray, t: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(t) <= MAX_ROWS:
        return Z, t
    keep = np.sort(np.random.default_rng(seed).choice(len(t), MAX_ROWS, replace=False))
    return Z[keep], t[keep]


def _rmse(r: np.ndarray) -> float:
    return float(np.sqrt(np.mean(r * r)))


def polish_targets(spec, Z: np.ndarray, t: np.ndarray, Ztr: np.ndarray, ttr: np.ndarray,
                   Zval: np.ndarray, tval: np.ndarray, *, seed: int) -> PolishChoice:
    """The least-squares targets for the forged features ``Z`` (module docstring); all arrays
    standardized, ``t`` the kept targets.

    Raises
    ------
    ForgeError
        When the key is not linear in its targets.
    """
    Z, t = np.asarray(Z, np.float64), np.asarray(t, np.float64)
    Ztr, ttr = _sample(np.asarray(Ztr, np.float64), np.asarray(ttr, np.float64), seed)
    Zval, tval = _sample(np.asarray(Zval, np.float64), np.asarray(tval, np.float64), seed + 1)
    A_tr = key_matrix(spec, Z, Ztr, t, purpose="the targets' polish")
    A_val = key_matrix(spec, Z, Zval, t, purpose="the targets' polish")
    n, m = A_tr.shape
    box = target_box(spec)
    if box is not None:  # a hair inside, so round-off back to original units stays in range
        pad = BOX_PAD * (box[1] - box[0])
        inside = (box[0] + pad, box[1] - pad)
    before = _rmse(A_val @ t - tval)
    scores, best, best_lam, best_val = {}, None, None, before
    for lam in LAMBDAS:
        w = np.sqrt(lam / m)
        lhs = np.vstack([A_tr / np.sqrt(n), w * np.eye(m)])
        rhs = np.concatenate([ttr / np.sqrt(n), w * t])
        cand = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        if box is not None:
            cand = np.clip(cand, *inside)
        v = _rmse(A_val @ cand - tval)
        scores[lam] = v
        if np.isfinite(v) and v < best_val:
            best, best_lam, best_val = cand, lam, v
    return PolishChoice(best, best_lam, before, best_val, scores)
