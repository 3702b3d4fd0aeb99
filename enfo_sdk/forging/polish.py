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
keeping it (``enfo_sdk.forge``). The features are not touched. On a streamed source the training
rows are the source's seeded sample and the validation split is the source's, its squared
errors summed over torch.distributed ranks (``reduce``), so every rank chooses alike.

**On a small table** (where forging's ``refit`` forges the kept rows again on every owner row,
so no validation split is left to judge them) :func:`distill_targets` polishes toward the
*key's own fit* instead of the labels: ``f`` = the key fitted on all n owner rows, predicting
there, and

    min_t  |A t - f|^2 / n  +  lam * |t - t_0|^2 / m,

``lam`` (or no change) chosen by 5-fold cross-validation over the owner rows of the same
fidelity, ``|A t - f|`` on the rows left out of the solve. With m free targets and a few hundred
noisy rows, fitting the labels absorbs about m/n of their noise (a quarter at m = n/4, the
benchmark's rows); the key's fit has none, and the forged rows are to teach the key that fit.

Measured (``benchmarks/RESULTS.md``, "The targets' polish"): on wide kernels it is the
convergence the rows lacked; on tables already converged the validation split chooses no
change; on small tables the fidelity polish lowered forged / full on seven of nine tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ForgeError
from .dial import _rmse, key_matrix, target_box

__all__ = ["DISTILL_MAX_ROWS", "FOLDS", "LAMBDAS", "MAX_ROWS", "PolishChoice", "distill_targets",
           "polish_targets"]

#: The ridge weights tried (per forged row, relative to the mean squared error per owner row).
LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)

#: Most owner rows :func:`distill_targets` fits the key on (a kernel key's fit is quadratic in
#: them); ``ForgeSettings.polish_for`` leaves the polish off with a refit above it.
DISTILL_MAX_ROWS = 5000

#: Folds of :func:`distill_targets`' cross-validated choice of ``lam``.
FOLDS = 5

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
        The polished targets, or None when no candidate beat the kept ones.
    lam : float or None
        Its ridge weight.
    before, after : float
        The criterion with the kept targets and with the chosen ones (equal when none was
        chosen): :func:`polish_targets` the key's validation RMSE on the validation rows read,
        :func:`distill_targets` the cross-validated RMSE of the key against its own fit.
    scores : dict of float to float
        Every candidate's criterion, by ``lam``.
    """

    targets: np.ndarray | None
    lam: float | None
    before: float
    after: float
    scores: dict


def _sample(Z: np.ndarray, t: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(t) <= MAX_ROWS:
        return Z, t
    keep = np.sort(np.random.default_rng(seed).choice(len(t), MAX_ROWS, replace=False))
    return Z[keep], t[keep]


def polish_targets(spec, Z: np.ndarray, t: np.ndarray, Ztr: np.ndarray, ttr: np.ndarray,
                   Zval: np.ndarray, tval: np.ndarray, *, seed: int, reduce=None) -> PolishChoice:
    """The least-squares targets for the forged features ``Z`` (module docstring); all arrays
    standardized, ``t`` the kept targets.

    ``reduce``, for a validation split held by a minibatch source (one process or this rank's
    shard under ``torch.distributed``), sums a float64 vector over the processes: the validation
    rows are then read whole (no sample, so every rank scores its own share of one global split)
    and each criterion is the RMSE over all of them. The training rows must then be the same on
    every process (a source's seeded :meth:`sample`); the candidates are, and so is the choice.

    Raises
    ------
    ForgeError
        When the key is not linear in its targets.
    """
    Z, t = np.asarray(Z, np.float64), np.asarray(t, np.float64)
    Ztr, ttr = _sample(np.asarray(Ztr, np.float64), np.asarray(ttr, np.float64), seed)
    Zval, tval = np.asarray(Zval, np.float64), np.asarray(tval, np.float64)
    if reduce is None:
        Zval, tval = _sample(Zval, tval, seed + 1)
    A_tr = key_matrix(spec, Z, Ztr, t, purpose="the targets' polish")
    clip = _clipper(spec)
    candidates = {lam: clip(_ridge(A_tr, ttr, t, lam)) for lam in LAMBDAS}
    if reduce is None:
        A_val = key_matrix(spec, Z, Zval, t, purpose="the targets' polish")
        before = _rmse(A_val @ t - tval)
        scores = {lam: _rmse(A_val @ c - tval) for lam, c in candidates.items()}
        return _choose(scores, before, candidates.__getitem__)
    # sums of squared errors (the kept targets first, then each candidate) and the row count,
    # summed over the processes; a process without validation rows adds zeros
    A_val = key_matrix(spec, Z, Zval, t, purpose="the targets' polish") if len(tval) else None
    sse = [0.0 if A_val is None else float(np.sum((A_val @ v - tval) ** 2)) for v in [t, *candidates.values()]]
    total = np.asarray(reduce(np.array([*sse, float(len(tval))], dtype=np.float64)), np.float64)
    if not total[-1] > 0:
        raise ForgeError("the targets' polish found no validation rows on any process")
    rmse = np.sqrt(total[:-1] / total[-1])
    scores = {lam: float(v) for lam, v in zip(candidates, rmse[1:])}
    return _choose(scores, float(rmse[0]), candidates.__getitem__)


def distill_targets(spec, Z: np.ndarray, t: np.ndarray, Zall: np.ndarray, tall: np.ndarray, *,
                    seed: int) -> PolishChoice:
    """The targets for the forged features ``Z`` that make the key reproduce its own fit on all
    the owner rows ``Zall, tall`` (module docstring), ``lam`` chosen by :data:`FOLDS`-fold
    cross-validation; all arrays standardized, ``t`` the kept targets.

    Raises
    ------
    ForgeError
        When the key is not linear in its targets.
    """
    Z, t = np.asarray(Z, np.float64), np.asarray(t, np.float64)
    Zall, tall = np.asarray(Zall, np.float64), np.asarray(tall, np.float64)
    key, params = spec.key, spec.hyperparameters
    f = np.asarray(key.predict(key.fit(Zall, tall, params), Zall, params), np.float64)
    A = key_matrix(spec, Z, Zall, t, purpose="the targets' polish")
    clip = _clipper(spec)
    folds = np.random.default_rng(seed).permutation(len(f)) % FOLDS
    before = _rmse(A @ t - f)
    scores = {}
    for lam in LAMBDAS:
        err = 0.0
        for k in range(FOLDS):
            fit, out = folds != k, folds == k
            r = A[out] @ clip(_ridge(A[fit], f[fit], t, lam)) - f[out]
            err += float(r @ r)
        scores[lam] = float(np.sqrt(err / len(f)))
    return _choose(scores, before, lambda lam: clip(_ridge(A, f, t, lam)))


def _ridge(A: np.ndarray, f: np.ndarray, t0: np.ndarray, lam: float) -> np.ndarray:
    """``argmin_t |A t - f|^2 / n + lam |t - t0|^2 / m`` as one stacked least-squares system."""
    n, m = A.shape
    w = np.sqrt(lam / m)
    return np.linalg.lstsq(np.vstack([A / np.sqrt(n), w * np.eye(m)]),
                           np.concatenate([f / np.sqrt(n), w * t0]), rcond=None)[0]


def _clipper(spec):
    """Clip targets into the target's box, a hair inside (:data:`BOX_PAD`), when the column
    encoding bounds it; the identity otherwise."""
    box = target_box(spec)
    if box is None:
        return lambda t: t
    pad = BOX_PAD * (box[1] - box[0])  # so round-off back to original units stays in range
    return lambda t: np.clip(t, box[0] + pad, box[1] - pad)


def _choose(scores: dict, before: float, targets) -> PolishChoice:
    """The candidate with the lowest finite score when it is below ``before``."""
    finite = {lam: v for lam, v in scores.items() if np.isfinite(v)}
    lam = min(finite, key=finite.get) if finite else None
    if lam is None or not finite[lam] < before:
        return PolishChoice(None, None, before, before, scores)
    return PolishChoice(targets(lam), lam, before, finite[lam], scores)
