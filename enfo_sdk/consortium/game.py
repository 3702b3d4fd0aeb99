"""The forging game: potential, KKT residuals, best-response iteration, welfare optimum.

docs/consortium.md, section 2. Under assumption A1 (every weight K_n > 0) the game in which
member n picks d_n in [0, D_n] to maximise u_n(d) + s_n d_n (s_n: the mechanism's own-row
subsidy per row, 0 without it) is a weighted potential game with weights K_n and potential

    Phi(d) = -e(S(d)) + sum_m [sigma_m(d_m) + s_m d_m] / K_m,
    sigma_m(x) = -v_m (1 + gamma) h_m e(x) - c_m x.

Phi is concave, so equilibria = KKT points of max Phi on the box = maximisers. They are
computed by Gauss-Seidel best responses (each a 1-D root of a strictly decreasing marginal
utility), which raise Phi at every step and converge (block coordinate ascent); the stopping
rule is: every member's KKT residual is at most kkt_tol times the size of the terms of its
marginal utility, or the sweep moved no d_n by more than tol D_n and no member can gain more
than gap_tol times the mean |u_m| by deviating (an epsilon-equilibrium; this ends the slow
zig-zag between members who are nearly perfect substitutes, h_n near 0, where Phi is nearly
flat and only their pooled rows are well determined).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConsortiumError
from .model import Consortium

__all__ = ["potential", "kkt_residuals", "marginal_scale", "best_response_gaps", "best_response", "Equilibrium",
           "equilibrium", "welfare_optimum"]


def _subsidy(c: Consortium, subsidy) -> np.ndarray:
    return np.broadcast_to(np.asarray(subsidy, dtype=np.float64), (c.size,))


def potential(c: Consortium, d, subsidy=0.0) -> float:
    """Phi(d), the weighted potential (weights :attr:`Consortium.weights`).

    Parameters
    ----------
    c : Consortium
    d : array-like of shape (N,)
        Rows per member.
    subsidy : float or array-like of shape (N,)
        Transfer per own forged row (the mechanism's tau_n'), 0 without the mechanism.
    """
    d = np.asarray(d, dtype=np.float64)
    e = c.forged_curve
    own = -c.value_per_rmse * (1.0 + c.competition) * c.heterogeneity * e(d) \
        - c.cost_per_row * d + _subsidy(c, subsidy) * d
    return float(-e(c.pooled(d)) + np.sum(own / c.weights))


def kkt_residuals(c: Consortium, d, subsidy=0.0, *, bound_tol: float = 1e-9) -> np.ndarray:
    """Violation of each member's KKT condition at d, in money per row, shape (N,).

    |g_n| inside the box, max(g_n, 0) at 0 and max(-g_n, 0) at the cap, where g_n is the
    marginal utility; a point within ``bound_tol * D_n`` of a bound counts as on it.
    """
    d = np.asarray(d, dtype=np.float64)
    g = c.marginal_utilities(d, _subsidy(c, subsidy))
    at_zero = d <= bound_tol * c.max_rows
    at_cap = d >= c.max_rows * (1 - bound_tol)
    return np.where(at_zero, np.maximum(g, 0.0), np.where(at_cap, np.maximum(-g, 0.0), np.abs(g)))


def marginal_scale(c: Consortium, d, subsidy=0.0) -> np.ndarray:
    """The size of the terms of g_n, sum of their absolute values, shape (N,).

    g_n is a difference of these terms (docs/consortium.md, Proposition 2), so a KKT residual
    is small when it is small against this scale, whatever the units of money.
    """
    d = np.asarray(d, dtype=np.float64)
    e = c.forged_curve
    shared = np.abs(c.weights * c.common_share * e.d1(c.pooled(d)))
    own = c.value_per_rmse * (1.0 + c.competition) * c.heterogeneity * np.abs(e.d1(d))
    return shared + own + c.cost_per_row + np.abs(_subsidy(c, subsidy))


def best_response(c: Consortium, d, n: int, subsidy=0.0) -> float:
    """argmax over x in [0, D_n] of u_n(x, d_{-n}) + s_n x (unique: strictly concave in x)."""
    from scipy.optimize import brentq

    s = _subsidy(c, subsidy)
    trial = np.array(d, dtype=np.float64)

    def g(x: float) -> float:
        trial[n] = x
        return float(c.marginal_utilities(trial, s)[n])

    cap = float(c.max_rows[n])
    if g(0.0) <= 0.0:
        return 0.0
    if g(cap) >= 0.0:
        return cap
    return float(brentq(g, 0.0, cap, xtol=1e-12 * cap, rtol=4 * np.finfo(float).eps, maxiter=500))


def best_response_gaps(c: Consortium, d, subsidy=0.0) -> np.ndarray:
    """epsilon_n = max_x [u_n + s_n x](x, d_{-n}) - [u_n + s_n d_n](d) >= 0, money, shape (N,)."""
    d = np.asarray(d, dtype=np.float64)
    s = _subsidy(c, subsidy)
    here = c.utilities(d) + s * d
    gaps = np.empty(c.size)
    for n in range(c.size):
        trial = d.copy()
        trial[n] = best_response(c, d, n, s)
        gaps[n] = max(c.utilities(trial)[n] + s[n] * trial[n] - here[n], 0.0)
    return gaps


@dataclass(frozen=True)
class Equilibrium:
    """A Nash equilibrium found by :func:`equilibrium`.

    Attributes
    ----------
    rows : ndarray of shape (N,)
        d*, rows per member (continuous).
    sweeps : int
        Gauss-Seidel sweeps until the stopping rule held.
    kkt : ndarray of shape (N,)
        :func:`kkt_residuals` at ``rows``.
    potential_trace : ndarray
        Phi after every sweep (non-decreasing, up to rounding).
    """

    rows: np.ndarray
    sweeps: int
    kkt: np.ndarray
    potential_trace: np.ndarray


def equilibrium(c: Consortium, subsidy=0.0, *, start=None, tol: float = 1e-10,
                kkt_tol: float = 1e-10, gap_tol: float = 1e-14, max_sweeps: int = 10_000) -> Equilibrium:
    """The Nash equilibrium by Gauss-Seidel best responses (docs/consortium.md, section 2).

    Parameters
    ----------
    c : Consortium
    subsidy : float or array-like of shape (N,)
        Own-row transfer per row (see :func:`potential`).
    start : array-like of shape (N,), optional
        First point; default the caps' midpoints.
    tol : float
        and ``gap_tol``: stop after a sweep with max_n |d_n change| / D_n <= tol and every
        :func:`best_response_gaps` <= gap_tol * mean_m |u_m(d)| (an epsilon-equilibrium;
        ends the zig-zag between near-perfect substitutes) ...
    kkt_tol : float
        ... or with every :func:`kkt_residuals` <= kkt_tol * :func:`marginal_scale`.
    gap_tol : float
        See ``tol``.
    max_sweeps : int
        Raise :class:`ConsortiumError` beyond this many sweeps.
    """
    d = 0.5 * c.max_rows.copy() if start is None else np.clip(np.array(start, dtype=np.float64), 0, c.max_rows)
    trace = []
    for sweep in range(1, max_sweeps + 1):
        before = d.copy()
        for n in range(c.size):
            d[n] = best_response(c, d, n, subsidy)
        trace.append(potential(c, d, subsidy))
        kkt = kkt_residuals(c, d, subsidy)
        if np.all(kkt <= kkt_tol * marginal_scale(c, d, subsidy)) or (
                np.max(np.abs(d - before) / c.max_rows) <= tol
                and np.max(best_response_gaps(c, d, subsidy)) <= gap_tol * np.abs(c.utilities(d)).mean()):
            return Equilibrium(d, sweep, kkt, np.array(trace))
        # accelerate only when not stopping: the stopping test sees a plain best-response point
        d = _extrapolate(c, before, _newton_step(c, d, subsidy), subsidy)
    raise ConsortiumError(
        f"best-response iteration did not settle within {max_sweeps} sweeps "
        f"(last change {np.max(np.abs(d - before) / c.max_rows):.3g} of the caps)"
    )


def _newton_step(c: Consortium, d: np.ndarray, subsidy) -> np.ndarray:
    """One Newton step on the members strictly inside the box, kept only if it raises Phi.

    grad Phi_n = g_n / K_n and the Hessian of Phi is -e''(S) a a^T + diag(-v(1+gamma) h e''(d)/K):
    the step solves H z = -grad on the free members, is cut back (halving, at most 30 times)
    to stay in the box and to raise Phi, and is dropped otherwise. It only speeds up the
    Gauss-Seidel sweeps where Phi is nearly flat; the convergence argument does not rely on it.
    """
    e = c.forged_curve
    free = (d > 0) & (d < c.max_rows)
    if not free.any():
        return d
    s = _subsidy(c, subsidy)
    grad = (c.marginal_utilities(d, s) / c.weights)[free]
    a = c.common_share[free]
    own = -c.value_per_rmse * (1 + c.competition) * c.heterogeneity * e.d2(d) / c.weights
    hess = -e.d2(c.pooled(d)) * np.outer(a, a) + np.diag(own[free])
    try:
        z = np.linalg.solve(hess, -grad)
    except np.linalg.LinAlgError:
        return d
    phi, step = potential(c, d, s), 1.0
    for _ in range(30):
        trial = d.copy()
        trial[free] += step * z
        if np.all((trial >= 0) & (trial <= c.max_rows)) and potential(c, trial, s) > phi:
            return trial
        step *= 0.5
    return d


def _extrapolate(c: Consortium, before: np.ndarray, d: np.ndarray, subsidy) -> np.ndarray:
    """Line search of Phi along the sweep's direction d - before, kept only if it raises Phi.

    Between near-perfect substitutes (h_n ~ 0, targets for S that differ by a hair) the sweeps
    move rows from one member to the other by a nearly constant amount per sweep, tens of
    thousands of sweeps from the bound they end on, and the Newton system is singular along
    that direction. Phi is concave, so the 1-D maximum along the direction (up to the box) is
    found by bounded Brent and jumps to the end of the zig-zag at once.
    """
    from scipy.optimize import minimize_scalar

    z = d - before
    moving = np.abs(z) > 0
    if not moving.any():
        return d
    room = np.where(z > 0, c.max_rows - d, d)[moving] / np.abs(z[moving])
    t_max = float(room.min())
    if not t_max > 0:
        return d
    s = _subsidy(c, subsidy)
    res = minimize_scalar(lambda t: -potential(c, np.clip(d + t * z, 0, c.max_rows), s),
                          bounds=(0.0, t_max), method="bounded", options={"xatol": 1e-9 * t_max})
    trial = np.clip(d + float(res.x) * z, 0, c.max_rows)
    return trial if potential(c, trial, s) > potential(c, d, s) else d


def welfare_optimum(c: Consortium, *, starts=()) -> np.ndarray:
    """argmax of W(d) = sum_n u_n(d) on the box, by L-BFGS-B from several starts.

    The global optimum when :meth:`Consortium.welfare_is_concave`; otherwise the best local
    optimum from the starts (the given ones, zero, the midpoints, the caps and, when W is not
    concave and N <= 8, every corner of the box).
    """
    from scipy.optimize import minimize

    scale = max(abs(c.welfare(0.5 * c.max_rows)), 1.0)
    # optimise in units of the caps so all coordinates are O(1)
    cap = c.max_rows
    points = [np.asarray(s, dtype=np.float64) for s in starts]
    points += [np.zeros(c.size), 0.5 * cap, cap.copy()]
    if not c.welfare_is_concave() and c.size <= 8:  # local optima may sit in any corner
        corners = (np.array([(k >> n) & 1 for n in range(c.size)], dtype=np.float64) for k in range(2**c.size))
        points += [z * cap for z in corners]
    best, best_w = None, -np.inf
    for x0 in points:
        res = minimize(
            lambda z: -c.welfare(z * cap) / scale, np.clip(x0 / cap, 0, 1),
            jac=lambda z: -c.welfare_gradient(z * cap) * cap / scale,
            method="L-BFGS-B", bounds=[(0.0, 1.0)] * c.size,
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
        )
        x = np.clip(res.x, 0, 1) * cap
        w = c.welfare(x)
        if w > best_w:
            best, best_w = x, w
    return best
