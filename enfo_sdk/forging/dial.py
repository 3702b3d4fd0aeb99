r"""The rival dial's least-visible move: the key as a linear map of the forged targets.

``forge.rivalry: {target: 1.2, max_key_cost: 0.03}`` runs the rival dial
(:func:`enfo_sdk.forging.calibration.calibrate`), which scores several candidate rows; this
module gives it one kind of candidate, the forged targets moved along the direction the key
sees least, with the key's cost computed exactly (:func:`plan`, :class:`DialPlan`), and the
owner rows every candidate's cost is measured on.

**The key is a linear map of the forged targets.** For a key linear in its targets (nu-method,
KRR, ridge, OLS) and fixed forged features Z (m rows, standardized), the key's standardized
predictions on rows X are ``A t`` with ``A = k(X, Z) P(K_Z)`` (n, m), ``P`` the key's filter.
:func:`key_matrix` forms ``A`` exactly by fitting the key on the m unit vectors (one
multi-output fit where the key takes one, column by column otherwise) and checks ``A t``
against a fit on ``t`` itself (:data:`LINEARITY_TOLERANCE`; a key that is not linear in its
targets is refused).

**The least-visible direction.** ``v`` is the right singular vector of ``A_tr`` (the key on the
training rows forging learned from) for its smallest singular value ``sigma``. The standardized
targets move by

    delta(move) = s * move * sqrt(m) * v,

an RMS move of ``move`` target standard deviations; the key's predictions on the training rows
then move by ``move * sqrt(m) * sigma / sqrt(n_tr)`` in RMS (``key_move``: in units of the key's
own training RMSE, the "eps" of the leads in issue 15). The sign ``s`` is the one that does not
raise the training error at first order. When the column encoding bounds the target (a box
``[lo, hi]``, as forging keeps it, :mod:`enfo_sdk.forging.params`; by default the training
rows' minimum and maximum), the moved targets are clipped into that box, so they stay within
the owner's target range; the cost below is measured on the clipped targets, which is what
limits the move on a smooth key whose least-visible direction costs nothing by itself.

**The key cost, exactly.** Because the key is linear in ``t``, its validation RMSE after the
move is ``RMSE(A_val t' - t_val)``: no refit. ``cost(move) = that / RMSE(A_val t - t_val) - 1``
is evaluated on the grid :data:`MOVE_GRID`. On a split of a few dozen rows its cross term
``2 r . A d`` is noise that can make a large move look free, so the budget also holds for the
cost without luck, ``sqrt(1 + |A d|^2 / |r|^2) - 1`` over all the plan's owner rows
(:meth:`DialPlan.settled_cost`); ``move_max`` is the largest grid value within ``max_key_cost``
by both.

How the candidates are scored and chosen: :mod:`enfo_sdk.forging.calibration`. Measured across
public tables in ``benchmarks/RESULTS.md`` ("Rival dial", issue 15).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ForgeError

__all__ = ["MOVE_GRID", "DialPlan", "key_matrix", "least_visible", "plan", "target_box", "targets_at"]

#: Relative difference allowed between ``A t`` and the key fitted on ``t`` (float64 round-off
#: of a T-step recursion is ~1e-12; a non-linear key misses by far more).
LINEARITY_TOLERANCE = 1e-8

#: The moves (RMS, in target standard deviations) whose exact key cost is computed (0.005 to 4,
#: ~5% apart).
MOVE_GRID = np.geomspace(0.005, 4.0, 137)

#: Most training rows the direction is computed on (a seeded sample above it).
DIRECTION_MAX_ROWS = 5000


def key_matrix(spec, Z_forged: np.ndarray, Z_rows: np.ndarray, t_forged: np.ndarray, *,
               purpose: str = "the rival dial") -> np.ndarray:
    """``A`` (n, m): the key's standardized predictions on ``Z_rows`` are ``A @ t`` for targets
    ``t`` on the forged features ``Z_forged`` (standardized). Checked against a fit on ``t_forged``.

    Raises
    ------
    ForgeError
        When the key is not linear in its targets.
    """
    key, params = spec.key, spec.hyperparameters
    m = len(Z_forged)
    eye = np.eye(m)
    try:
        A = np.asarray(key.predict(key.fit(Z_forged, eye, params), Z_rows, params), np.float64)
    except (TypeError, ValueError):  # a key without multi-output fits: one unit vector at a time
        A = None
    if A is None or A.shape != (len(Z_rows), m):
        A = np.column_stack([key.predict(key.fit(Z_forged, eye[:, j], params), Z_rows, params)
                             for j in range(m)])
    direct = np.asarray(key.predict(key.fit(Z_forged, t_forged, params), Z_rows, params), np.float64)
    gap = np.abs(A @ t_forged - direct).max() / max(1.0, np.abs(direct).max())
    if not gap <= LINEARITY_TOLERANCE:
        raise ForgeError(f"{purpose} needs a key linear in its targets; key {spec.algorithm!r} "
                         f"misses by {gap:.2g} (relative)")
    return A


def least_visible(A_tr: np.ndarray, r_tr: np.ndarray) -> tuple[np.ndarray, float]:
    """The direction of the targets the key moves least on the rows of ``A_tr`` (unit vector
    ``v``, signed so that ``r_tr . A_tr v <= 0``: it does not raise the training error at first
    order, ``r_tr`` the key's residuals there), and its singular value."""
    _, s, Vt = np.linalg.svd(A_tr, full_matrices=False)
    v = Vt[-1].copy()
    if float(r_tr @ (A_tr @ v)) > 0:
        v = -v
    return v, float(s[-1])


def targets_at(t: np.ndarray, step: np.ndarray, move: float, box: tuple[float, float] | None) -> np.ndarray:
    """``t + move * step``, clipped into ``box`` (standardized) when the target is bounded."""
    out = t + move * step
    return out if box is None else np.clip(out, box[0], box[1])


def target_box(spec) -> tuple[float, float] | None:
    """The target's box in standardized units when the column encoding bounds it, else None."""
    from .params import Parametrisation

    if spec.columns is None:
        return None
    p = Parametrisation.of(spec)
    d = spec.n_features
    where = np.flatnonzero(np.asarray(p.boxes) == d)
    if not len(where):
        return None
    pre = spec.preprocessing
    lo, hi = float(p.lo[where[0]]), float(p.hi[where[0]])
    return (lo - pre.target_mean) / pre.target_scale, (hi - pre.target_mean) / pre.target_scale


def _rmse(r: np.ndarray) -> float:
    return float(np.sqrt(np.mean(r * r)))


@dataclass
class DialPlan:
    """The dial's exact arithmetic for one set of forged rows (:func:`plan`): everything in the
    key's standardized space.

    Attributes
    ----------
    t : ndarray of shape (m,)
        The forged targets.
    step : ndarray of shape (m,)
        ``sqrt(m) * v``: the move of RMS 1 along the least-visible direction, signed.
    A_val : ndarray of shape (n_val, m)
        The key's predictions on the validation rows as a linear map of the targets.
    t_val : ndarray of shape (n_val,)
    A_owner, r_owner : ndarray of shape (n_owner, m), (n_owner,)
        ``A`` and the key's residuals on the owner rows the direction was computed on and the
        validation rows together (for :meth:`settled_cost`).
    Z_owner, t_owner : ndarray of shape (n_owner, d), (n_owner,)
        Those owner rows themselves (standardized), for candidates whose features change.
    box : (float, float) or None
        The target's range when the column encoding bounds it.
    sigma : float
        The smallest singular value of ``A`` on the training rows.
    key_per_move : float
        ``key_move`` per unit ``move`` (module docstring).
    """

    t: np.ndarray
    step: np.ndarray
    A_val: np.ndarray
    t_val: np.ndarray
    box: tuple[float, float] | None
    sigma: float
    key_per_move: float
    A_owner: np.ndarray
    r_owner: np.ndarray
    Z_owner: np.ndarray
    t_owner: np.ndarray

    def targets(self, move: float) -> np.ndarray:
        """The standardized targets after ``move`` (clipped into :attr:`box`)."""
        return targets_at(self.t, self.step, move, self.box)

    def moved(self, result, move: float):
        """``result`` with its targets after ``move`` (original units; the features unchanged)."""
        data = result.data.copy()
        data[result.target_name] = result.spec.preprocessing.inverse_y(self.targets(move))
        return dataclasses.replace(result, data=data)

    def val_rmse(self, move: float) -> float:
        """The key's validation RMSE (standardized) on the targets after ``move``, from ``A``."""
        return _rmse(self.A_val @ self.targets(move) - self.t_val)

    def cost(self, move: float) -> float:
        """The key's validation RMSE after ``move`` over before, minus 1 (exact: no refit)."""
        return self.val_rmse(move) / self.val_rmse(0.0) - 1.0

    def settled_cost(self, move: float) -> float:
        """The cost without luck: ``sqrt(1 + |A d|^2 / |r|^2) - 1`` over all the owner rows of
        the plan (``d`` the targets' change, ``r`` the key's residuals), i.e. the cost when the
        change of the predictions is uncorrelated with the key's errors. On a validation split
        of a few dozen rows the exact cost's cross term ``2 r . A d`` is noise that can make a
        large move look free; the budget holds for both (:meth:`budget_cost`)."""
        d = self.A_owner @ (self.targets(move) - self.t)
        return float(np.sqrt(1.0 + (d @ d) / (self.r_owner @ self.r_owner)) - 1.0)

    def budget_cost(self, move: float) -> float:
        """What the budget limits: the larger of :meth:`cost` and :meth:`settled_cost`."""
        return max(self.cost(move), self.settled_cost(move))

    def move_max(self, max_key_cost: float) -> float:
        """The largest move of :data:`MOVE_GRID` whose :meth:`budget_cost` is within
        ``max_key_cost`` (0: none)."""
        within = [float(e) for e in MOVE_GRID if self.budget_cost(float(e)) <= max_key_cost]
        return max(within) if within else 0.0


def plan(result, X, y, *, validation: float, seed: int):
    """The :class:`DialPlan` of ``result``'s rows, and the validation rows in original units
    ``(X_val, y_val)``: forging's own split of ``X, y`` (same ``validation`` and ``seed``)."""
    from .owner_rows import owner_rows

    spec = result.spec
    if spec.task != "regression":
        raise ForgeError("the rival dial (forge.rivalry.max_key_cost) applies to regression keys only")
    import torch

    data = owner_rows(X, y, spec, validation, seed, torch.device("cpu"), False)
    if not hasattr(data, "Ztr"):
        raise ForgeError("the rival dial needs the owner's rows in memory, not a streamed source")
    pre = spec.preprocessing
    Ztr, ttr = data.Ztr.numpy(), data.ttr.numpy()
    Zval, tval = data.Zval.numpy(), data.tval.numpy()
    if len(ttr) > DIRECTION_MAX_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(ttr), DIRECTION_MAX_ROWS, replace=False))
        Ztr, ttr = Ztr[keep], ttr[keep]
    Zf = pre.transform_X(result.X)
    tf = pre.transform_y(result.y)
    A_tr = key_matrix(spec, Zf, Ztr, tf)
    r_tr = A_tr @ tf - ttr
    v, sigma = least_visible(A_tr, r_tr)
    m = len(v)
    A_val = key_matrix(spec, Zf, Zval, tf)
    out = DialPlan(t=tf, step=np.sqrt(m) * v, A_val=A_val, t_val=tval,
                   box=target_box(spec), sigma=sigma,
                   key_per_move=float(np.sqrt(m) * sigma / np.sqrt(len(ttr)) / _rmse(r_tr)),
                   A_owner=np.vstack([A_tr, A_val]), r_owner=np.concatenate([r_tr, A_val @ tf - tval]),
                   Z_owner=np.vstack([Ztr, Zval]), t_owner=np.concatenate([ttr, tval]))
    return out, (pre.inverse_X(Zval), pre.inverse_y(tval))
