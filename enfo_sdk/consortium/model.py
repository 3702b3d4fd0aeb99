"""The consortium model: members, learning curves and utilities (docs/consortium.md, section 1).

Member n forges d_n in [0, D_n] rows; the shared key trains on the union of the bundles.
With a_n = 1 - h_n, the pooled effective rows S(d) = sum_m a_m d_m and n's error on its
own rows is E_n(d) = a_n e(S) + h_n e(d_n), where e(x) = e_inf + alpha (x + x0)^(-beta) is
the key's learning curve (test RMSE against forged rows). Utility, with competition
intensity gamma and rivals' mean error Ebar_{-n}:

    u_n(d) = -v_n [(1 + gamma) E_n(d) - gamma Ebar_{-n}(d)] - c_n d_n.

Pure numpy/scipy; the model is after CoCoGen+ (Nguyen, Huynh, Pham 2026) but the utility is
our own specification for EnFo bundles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConsortiumError

__all__ = ["LearningCurve", "fit_learning_curve", "Consortium"]


@dataclass(frozen=True)
class LearningCurve:
    """e(x) = e_inf + alpha (x + offset)^(-beta): key test RMSE on x training rows.

    Parameters
    ----------
    e_inf : float
        Asymptotic error (>= 0).
    alpha, beta : float
        Scale and decay (> 0).
    offset : float
        Keeps e(0) finite (> 0).
    """

    e_inf: float
    alpha: float
    beta: float
    offset: float = 1.0

    def __post_init__(self) -> None:
        if not (self.e_inf >= 0 and self.alpha > 0 and self.beta > 0 and self.offset > 0):
            raise ConsortiumError(
                f"learning curve needs e_inf >= 0, alpha > 0, beta > 0, offset > 0; got {self}"
            )

    def __call__(self, x):
        """Error at x rows (array-like)."""
        return self.e_inf + self.alpha * (np.asarray(x, dtype=np.float64) + self.offset) ** -self.beta

    def d1(self, x):
        """First derivative e'(x) < 0."""
        return -self.alpha * self.beta * (np.asarray(x, dtype=np.float64) + self.offset) ** (-self.beta - 1)

    def d2(self, x):
        """Second derivative e''(x) > 0."""
        z = np.asarray(x, dtype=np.float64) + self.offset
        return self.alpha * self.beta * (self.beta + 1) * z ** (-self.beta - 2)


def fit_learning_curve(rows, rmse, *, offset: float = 1.0, name: str = "learning curve") -> LearningCurve:
    """Least-squares fit of :class:`LearningCurve` to measured (rows, RMSE) points.

    Parameters
    ----------
    rows : array-like of shape (k,)
        Training row counts (> 0), at least three distinct.
    rmse : array-like of shape (k,)
        Measured key test RMSE at each count.
    offset : float
        The curve's fixed offset x0.
    name : str
        Named in errors.

    Returns
    -------
    LearningCurve
    """
    from scipy.optimize import least_squares

    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(rmse, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(np.unique(x)) < 3:
        raise ConsortiumError(f"{name}: need at least three distinct (rows, rmse) points")
    if np.any(x <= 0) or np.any(y <= 0) or not np.all(np.isfinite(y)):
        raise ConsortiumError(f"{name}: rows and rmse must be positive and finite")
    scale = float(y.max())

    def resid(p):  # p = (log e_inf share, log alpha, log beta); e_inf = y.min() * sigmoid
        e_inf = y.min() / (1.0 + np.exp(-p[0]))
        return (e_inf + np.exp(p[1]) * (x + offset) ** -np.exp(p[2]) - y) / scale

    best = None
    for b0 in (0.25, 0.5, 1.0, 2.0):
        a0 = max(float(y.max() - y.min()), 1e-12) * (x.min() + offset) ** b0
        fit = least_squares(resid, x0=[0.0, np.log(a0), np.log(b0)], method="lm", max_nfev=20000)
        if best is None or fit.cost < best.cost:
            best = fit
    p = best.x
    return LearningCurve(float(y.min() / (1.0 + np.exp(-p[0]))), float(np.exp(p[1])),
                         float(np.exp(p[2])), float(offset))


@dataclass(frozen=True)
class Consortium:
    """N >= 2 members and the market they compete in.

    Parameters
    ----------
    names : tuple of str
        Member names (for messages and tables).
    local_rows : ndarray of shape (N,)
        L_n, real rows each member holds (its outside option trains on them).
    heterogeneity : ndarray of shape (N,)
        h_n in [0, 1).
    cost_per_row : ndarray of shape (N,)
        c_n >= 0.
    value_per_rmse : ndarray of shape (N,)
        v_n > 0, money per unit of key RMSE.
    max_rows : ndarray of shape (N,)
        D_n > 0.
    competition : float
        gamma >= 0.
    forged_curve, real_curve : LearningCurve
        e (forged rows) and e_R (real rows, the outside option).
    """

    names: tuple
    local_rows: np.ndarray
    heterogeneity: np.ndarray
    cost_per_row: np.ndarray
    value_per_rmse: np.ndarray
    max_rows: np.ndarray
    competition: float
    forged_curve: LearningCurve
    real_curve: LearningCurve

    def __post_init__(self) -> None:
        n = len(self.names)
        for field in ("local_rows", "heterogeneity", "cost_per_row", "value_per_rmse", "max_rows"):
            arr = np.asarray(getattr(self, field), dtype=np.float64)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ConsortiumError(f"{field}: expected {n} finite numbers, got {arr!r}")
            object.__setattr__(self, field, arr)
        if n < 2:
            raise ConsortiumError("a consortium needs at least two members")
        checks = [
            (np.all((self.heterogeneity >= 0) & (self.heterogeneity < 1)), "heterogeneity in [0, 1)"),
            (np.all(self.cost_per_row >= 0), "cost_per_row >= 0"),
            (np.all(self.value_per_rmse > 0), "value_per_rmse > 0"),
            (np.all(self.max_rows > 0), "max_rows > 0"),
            (np.all(self.local_rows >= 0), "local_rows >= 0"),
            (self.competition >= 0, "competition >= 0"),
        ]
        for ok, what in checks:
            if not ok:
                raise ConsortiumError(f"consortium parameters: need {what}")
        bad = [self.names[i] for i in np.flatnonzero(self.weights <= 0)]
        if bad:
            raise ConsortiumError(
                f"member(s) {', '.join(map(str, bad))}: the shared model is a net loss to them "
                f"(K_n = v_n[(1+gamma)a_n - gamma mean(a_rivals)] <= 0; docs/consortium.md, "
                f"assumption A1): lower the competition or their heterogeneity"
            )

    # -- derived quantities ----------------------------------------------------------------
    @property
    def size(self) -> int:
        """N, the number of members."""
        return len(self.names)

    @property
    def common_share(self) -> np.ndarray:
        """a_n = 1 - h_n."""
        return 1.0 - self.heterogeneity

    @property
    def weights(self) -> np.ndarray:
        """K_n = v_n [(1 + gamma) a_n - gamma abar_{-n}], the potential game's weights."""
        a, n = self.common_share, self.size
        rivals = (a.sum() - a) / (n - 1)
        g = self.competition
        return self.value_per_rmse * ((1.0 + g) * a - g * rivals)

    def pooled(self, d) -> float:
        """S(d) = sum_m a_m d_m, pooled effective rows."""
        return float(self.common_share @ np.asarray(d, dtype=np.float64))

    def errors(self, d, *, pooled: float | None = None) -> np.ndarray:
        """E_n(d) = a_n e(S) + h_n e(d_n), shape (N,)."""
        d = np.asarray(d, dtype=np.float64)
        s = self.pooled(d) if pooled is None else pooled
        return self.common_share * self.forged_curve(s) + self.heterogeneity * self.forged_curve(d)

    def _rivals_mean(self, err: np.ndarray) -> np.ndarray:
        return (err.sum() - err) / (self.size - 1)

    def utilities(self, d) -> np.ndarray:
        """u_n(d) for every member, without transfers, shape (N,)."""
        d = np.asarray(d, dtype=np.float64)
        err = self.errors(d)
        g = self.competition
        return -self.value_per_rmse * ((1.0 + g) * err - g * self._rivals_mean(err)) - self.cost_per_row * d

    def welfare(self, d) -> float:
        """W(d) = sum_n u_n(d) (transfers cancel)."""
        return float(self.utilities(d).sum())

    def outside_utilities(self, d) -> np.ndarray:
        """u_n^out(d): n trains on its own L_n real rows, the rest pool without n's rows."""
        d = np.asarray(d, dtype=np.float64)
        g, out = self.competition, np.empty(self.size)
        s = self.pooled(d)
        own = self.real_curve(self.local_rows)
        for n in range(self.size):
            err = self.errors(d, pooled=s - self.common_share[n] * d[n])
            rivals = (err.sum() - err[n]) / (self.size - 1)
            out[n] = -self.value_per_rmse[n] * ((1.0 + g) * own[n] - g * rivals)
        return out

    def marginal_utilities(self, d, subsidy=0.0) -> np.ndarray:
        """g_n(d) = du_n/dd_n (+ the transfer's own-row subsidy per row), shape (N,)."""
        d = np.asarray(d, dtype=np.float64)
        e = self.forged_curve
        a, h = self.common_share, self.heterogeneity
        own = -self.value_per_rmse * (1.0 + self.competition) * h * e.d1(d)
        return -self.weights * a * e.d1(self.pooled(d)) + own - self.cost_per_row + subsidy

    def welfare_gradient(self, d) -> np.ndarray:
        """dW/dd_m, shape (N,)."""
        d = np.asarray(d, dtype=np.float64)
        e, g, v = self.forged_curve, self.competition, self.value_per_rmse
        rivals_v = (v.sum() - v) / (self.size - 1)
        return (-self.weights.sum() * self.common_share * e.d1(self.pooled(d))
                - (v * (1.0 + g) - g * rivals_v) * self.heterogeneity * e.d1(d) - self.cost_per_row)

    def welfare_is_concave(self) -> bool:
        """Whether W is concave on the box (docs/consortium.md, 'Welfare optimum')."""
        v, g = self.value_per_rmse, self.competition
        rivals_v = (v.sum() - v) / (self.size - 1)
        coef = v * (1.0 + g) - g * rivals_v
        return bool(np.all((coef >= 0) | (self.heterogeneity == 0)))

    def replace(self, **changes) -> "Consortium":
        """A copy with some fields changed (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)
