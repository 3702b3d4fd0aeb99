r"""The nu-method's cross-validation path: the CV error of every iteration count T at once.

Used by :meth:`enfo_sdk.keys.nu_method.NuMethod.cv_search`. With n search rows, F folds
and, per fold f, training rows (m_f of them) and validation rows v_f, the path is

    mse(T) = (1/n) sum_f |K_{v_f, f} c_T^{(f)} - t_{v_f}|^2,    T = 0, 1, ..., T_stop,

c_T^{(f)} the nu-method's coefficients after T iterations on fold f's training rows (the
recursion of :mod:`enfo_sdk.keys.nu_method`). Two ways to compute it:

* **Iterative** (:func:`iterative_path_mse`): all folds together, one (n, n) x (n, F) product
  per iteration with a coefficient matrix that is zero on each fold's validation rows; the
  kernel is held in float32 for that product. Costs T_stop passes over an n x n matrix
  (memory-bound: about 7.5 ms per pass at n = 5,000 on the reference 2-core machine).
* **Low-rank spectral** (:func:`spectral_path_mse`): the nu-method is a spectral filter
  (:mod:`enfo_sdk.keys.nu_spectral`), c_T = g_T(K_f) t_f, so one eigendecomposition per fold
  scores every T. A pivoted Cholesky factor K ~ L L^T (LAPACK ``dpstrf``, stopped once every
  remaining pivot is below ``tol``; L is n x r) makes that cheap when the kernel's numerical
  rank r is small, as it is for the wider bandwidths. For fold f, with L_f, L_v the factor's
  training and validation rows and V diag(mu) V^T = L_f^T L_f = L^T L - L_v^T L_v (r x r),

      K_{v,f} c_T = K_{v,f} g_T(K_f) t_f = (L_v V) (g_T(mu) o b),   b = V^T L_f^T t_f,

  (directions of K_f outside the range of L_f have zero kernel towards the validation rows
  in the factored kernel, so they drop out). g_T(mu) is the scalar form of the recursion,
  g_s = g_{s-1} + u_s (g_{s-1} - g_{s-2}) + (w_s / m_f)(1 - mu g_{s-1}), evaluated for all
  r eigenvalues at once, in float64. Costs one ``dpstrf``, F eigendecompositions of r x r and
  O(n r T_stop) for the predictions.

Both stop at the same place (:func:`stop_index`): at ``T_max``, or, for an adaptive search,
as soon as T > 1.5 * (best T so far) + 50.

Accuracy, measured on the README example (Friedman #3, 5,000 rows, 5 folds, bandwidth 2,
T <= 2,000), against the same path in plain float64 arithmetic (kernel and coefficients in
float64): max |error| of mse(T) over the path was 3.2e-5 for the float32 iterative path
(mse ~ 0.106: enough to move the argmin from T = 2000 to 1999, or to 1990 with one BLAS
thread), and for the spectral path 4.3e-5 (tol 1e-6, r = 523), 1.9e-7 (tol 1e-8, r = 923),
6.2e-10 (tol 1e-10, r = 1433), 1.1e-12 (tol 1e-12, r = 2075). The search uses tol = 1e-8
and takes the spectral path when r <= n / 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import lapack

from .nu_method import nu_coefficients

#: Pivot tolerance of the pivoted Cholesky factor (the kernel's diagonal is 1).
LOWRANK_TOL = 1e-8
#: The spectral path is taken when the factor's rank is at most this fraction of the rows.
LOWRANK_MAX_FRACTION = 0.25
_CHUNK = 256  # iterations scored per block of the spectral path


def stop_index(mse: Sequence[float], T_max: int, adaptive: bool, start: int = 0, best=(np.inf, 0)):
    """Where the path stops: ``(stop, best)``, ``stop`` the last T scored or None when the
    values ``mse[start:]`` (for T = start, start + 1, ...) run out first.

    The rule: stop at ``T_max``, or (adaptive) once T > 1.5 * best T + 50.
    """
    best_mse, best_T = best
    for s in range(start, start + len(mse)):
        v = mse[s - start]
        if v < best_mse:
            best_mse, best_T = v, s
        if s == T_max or (adaptive and s > 1.5 * best_T + 50):
            return s, (best_mse, best_T)
    return None, (best_mse, best_T)


def iterative_path_mse(K32, t, tt, train_mask, val_mask, m, T_max, nu, adaptive) -> np.ndarray:
    """Validation MSE for T = 0..T_stop by the recursion, all folds in one product per step.

    ``K32`` is the (n, n) kernel matrix (float32); ``tt`` (n, F) the targets with each fold's
    validation rows zeroed; ``train_mask``/``val_mask`` (n, F); ``m`` (F,) training rows per fold.
    """
    n, F = tt.shape
    u, w = nu_coefficients(T_max, nu)
    C_prev2 = np.zeros((n, F))
    C_prev = np.zeros((n, F))
    out = []
    best = (np.inf, 0)
    for s in range(T_max + 1):
        R = (K32 @ C_prev.astype(np.float32)).astype(np.float64)
        resid = np.where(val_mask, R - t[:, None], 0.0)
        out.append(float((resid * resid).sum()) / n)
        stop, best = stop_index(out[-1:], T_max, adaptive, start=s, best=best)
        if stop is not None:
            break
        step = (w[s] / m) * (tt - np.where(train_mask, R, 0.0))
        C = C_prev + u[s] * (C_prev - C_prev2) + step
        C_prev2, C_prev = C_prev, C
    return np.array(out)


def lowrank_factor(K: np.ndarray, tol: float = LOWRANK_TOL, max_rank: int | None = None):
    """Pivoted Cholesky factor L (n, r) with K ~ L L^T, or None when r > ``max_rank``.

    ``K`` (float64, symmetric positive semi-definite) is overwritten. Every remaining pivot
    (diagonal of K - L L^T) is below ``tol``.
    """
    n = K.shape[0]
    # K is symmetric, so its transpose is the same matrix in Fortran order: no copy
    A, piv, rank, info = lapack.dpstrf(K.T, tol=tol, lower=1, overwrite_a=1)
    if info < 0:  # pragma: no cover - an argument error is a bug here
        raise ValueError(f"dpstrf: illegal argument {-info}")
    rank = int(rank)
    if max_rank is not None and rank > max_rank:
        return None
    L = np.empty((n, rank))
    L[piv - 1] = np.tril(A[:, :rank])  # rows of P^T K P = L L^T back in the original order
    return L


class SpectralPath:
    """The spectral path of one bandwidth and nu, extendable to a larger ``T_max``.

    Built from the factor ``L`` (n, r) of the kernel matrix, the targets ``t`` (n,) and the
    folds' validation indices; :meth:`extend` scores T = 0..T_stop (module docstring), and a
    later call with a larger maximum continues where the last one stopped at its maximum.
    """

    def __init__(self, L: np.ndarray, t: np.ndarray, folds, nu: float):
        n = len(t)
        M = L.T @ L
        self.parts = []
        for val in folds:
            train = np.ones(n, dtype=bool)
            train[val] = False
            Lv = L[val]
            mu, V = np.linalg.eigh(M - Lv.T @ Lv)
            b = V.T @ (L[train].T @ t[train])
            self.parts.append((mu, b, Lv @ V, t[val], float(train.sum())))
        self.n, self.nu = n, float(nu)
        self.state = [(np.zeros_like(p[0]), np.zeros_like(p[0])) for p in self.parts]  # g_{s-2}, g_{s-1}
        self.out = [float(t @ t) / n]  # T = 0: c = 0
        self.best = (self.out[0], 0)
        self.done = False  # stopped by the adaptive rule (no maximum changes that)

    def extend(self, T_max: int, adaptive: bool) -> np.ndarray:
        """Validation MSE for T = 0..T_stop, T_stop <= ``T_max`` (the module's stopping rule)."""
        s = len(self.out) - 1
        if self.done or s >= T_max:
            return np.array(self.out[: T_max + 1])
        u, w = nu_coefficients(T_max, self.nu)
        stop = None
        while stop is None:
            hi = min(s + _CHUNK, T_max)
            sse = np.zeros(hi - s)
            for f, (mu, b, A, tv, m) in enumerate(self.parts):
                g2, g1 = self.state[f]
                G = np.empty((hi - s, len(mu)))
                for k in range(s, hi):  # g_{k+1} from g_k, g_{k-1}
                    g = g1 + u[k] * (g1 - g2) + (w[k] / m) * (1.0 - mu * g1)
                    G[k - s] = g
                    g2, g1 = g1, g
                self.state[f] = (g2, g1)
                R = A @ (G * b).T - tv[:, None]  # (n_v, hi - s) validation residuals
                sse += np.einsum("ij,ij->j", R, R)
            chunk = list(sse / self.n)
            stop, self.best = stop_index(chunk, T_max, adaptive, start=s + 1, best=self.best)
            self.out.extend(chunk if stop is None else chunk[: stop - s])
            s = hi
        # stopped by the rule (not only by the maximum): a larger maximum stops here too
        self.done = adaptive and stop > 1.5 * self.best[1] + 50
        return np.array(self.out)


def spectral_path_mse(L, t, folds, T_max, nu, adaptive) -> np.ndarray:
    """Validation MSE for T = 0..T_stop from the factor ``L`` (n, r) of the kernel matrix.

    ``folds`` holds each fold's validation indices; the module docstring gives the maths.
    """
    return SpectralPath(L, t, folds, nu).extend(T_max, adaptive)
