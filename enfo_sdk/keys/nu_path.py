r"""The nu-method's cross-validation path: the CV error of every iteration count T at once.

Used by :meth:`enfo_sdk.keys.nu_method.NuMethod.cv_search`. With n search rows, F folds
and, per fold f, training rows (m_f of them) and validation rows v_f, the path is

    mse(T) = (1/n) sum_f |K_{v_f, f} c_T^{(f)} - t_{v_f}|^2,    T = 0, 1, ..., T_stop,

c_T^{(f)} the nu-method's coefficients after T iterations on fold f's training rows (the
recursion of :mod:`enfo_sdk.keys.nu_method`). Two ways to compute it:

* **Iterative** (:meth:`NuMethod.path_mse <enfo_sdk.keys.nu_method.NuMethod.path_mse>`): all folds together, one (n, n) x (n, F) product
  per iteration with a coefficient matrix that is zero on each fold's validation rows; the
  kernel is held in float32 for that product. Costs T_stop passes over an n x n matrix,
  memory-bound; :func:`symmetric_product` reads only its lower triangle, in blocks of
  ``SYMMETRIC_BLOCK`` rows each used twice while in cache (K_ii C_i and K_ij C_j for j < i,
  then K_ij^T C_i for the rows above): at n = 5,000, F = 5, one thread, 5.5 ms per pass
  against 12 ms for BLAS ``K @ C`` (cProfile CPU time on the shared 2-core machine).
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
  r eigenvalues at once, in float64. Costs one ``dpstrf``, F eigendecompositions of r x r,
  O(F r) per iteration for the recursion and O(n r) per iteration count *scored*.

  Coarse to fine in T (:meth:`SpectralPath.path`): the predictions, not the recursion, are
  the cost (at n = 5,000, r = 923 scoring all 2,000 counts was 19 GFLOP), so the search
  scores a coarse grid (:func:`coarse_grid`: every T up to 32, then each about 2% above the
  last, and T_max), then every T strictly between the coarse minimum's two grid neighbours.
  The minimum found is the path's minimum unless the path has a second, deeper dip narrower
  than 2% of T between grid values (the tests compare it with scoring every T).

Both stop by the same rule (:func:`stop_index`): at ``T_max``, or, for an adaptive search,
as soon as T > 1.5 * (best T so far) + 50 (for the spectral path: the first coarse grid
value past it, the best T taken over the grid).

Accuracy, measured on the README example (Friedman #3, 5,000 rows, 5 folds, bandwidth 2,
T <= 2,000), against the same path in plain float64 arithmetic (kernel and coefficients in
float64): max |error| of mse(T) over the path was 3.2e-5 for the float32 iterative path
with BLAS ``K @ C`` and 3.5e-5 with :func:`symmetric_product` (mse ~ 0.106: enough to move
the argmin from T = 2000 to 1999, or to 1990 with one BLAS thread; 1999 for both), and for the spectral path 4.3e-5 (tol 1e-6, r = 523), 1.9e-7 (tol 1e-8, r = 923),
6.2e-10 (tol 1e-10, r = 1433), 1.1e-12 (tol 1e-12, r = 2075). The search uses tol = 1e-8
and takes the spectral path when r <= n / 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import lapack

from .._random import rng as make_rng
from .nu_recursion import nu_coefficients

#: Pivot tolerance of the pivoted Cholesky factor (the kernel's diagonal is 1).
LOWRANK_TOL = 1e-8
#: The spectral path is taken when the factor's rank is at most this fraction of the rows.
LOWRANK_MAX_FRACTION = 0.25
#: :func:`lowrank_factor` first factors a random submatrix of this many times ``max_rank`` rows.
PRECHECK_ROWS = 1.25
_CHUNK = 256  # iteration counts projected per block of the spectral path
#: Rows per block of :func:`symmetric_product` (a 32 x 5,000 float32 block is 640 KB, within
#: L2; measured 5.5 / 6.0 / 7.0 / 8.0 ms per pass for 32 / 24 / 16 / 64 rows at n = 5,000).
SYMMETRIC_BLOCK = 32
#: The spectral path's coarse grid: every T up to DENSE_UPTO, then about COARSE_STEP apart.
DENSE_UPTO = 32
COARSE_STEP = 0.02


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


def symmetric_product(K: np.ndarray):
    """C -> K C for a symmetric K (n, n) (the CV path's float32 kernel), reading only its lower
    triangle and diagonal blocks.

    Row block i (rows i0:i1) gives its own rows, K[i0:i1, :i1] C[:i1], and, from the same
    block while it is in cache, the rows above: K[i0:i1, :i0]^T C[i0:i1] is added to them.
    (The cost of one CV iteration is reading K: this reads half of it, and small blocks keep
    BLAS out of its slow path for few right-hand sides.) ``C`` is (n, k), cast to K's dtype.
    """
    n = K.shape[0]
    b = SYMMETRIC_BLOCK

    def product(C: np.ndarray) -> np.ndarray:
        C = np.ascontiguousarray(C, dtype=K.dtype)
        out = np.empty_like(C)
        for i0 in range(0, n, b):
            i1 = min(i0 + b, n)
            blk = K[i0:i1, :i1]
            np.matmul(blk, C[:i1], out=out[i0:i1])
            if i0:
                out[:i0] += blk[:, :i0].T @ C[i0:i1]
        return out

    return product


def lowrank_factor(K: np.ndarray, tol: float = LOWRANK_TOL, max_rank: int | None = None):
    """Pivoted Cholesky factor L (n, r) with K ~ L L^T, or None when r > ``max_rank``.

    ``K`` (float64, symmetric positive semi-definite) is overwritten. Every remaining pivot
    (diagonal of K - L L^T) is below ``tol``.

    With ``max_rank``, a seeded random principal submatrix of ``PRECHECK_ROWS * max_rank``
    rows is factored first; when it already needs more than ``max_rank`` pivots, None is
    returned without factoring K (LAPACK cannot stop at a rank, and the factor's cost is
    n r^2: at the quick start's bandwidth 1, r = 3,652 of 5,000 rows, 1.3 s of CPU, against
    0.1 s for the submatrix). The eigenvalues of a principal submatrix interlace K's
    (lambda_k(K_SS) <= lambda_k(K)), so a submatrix that needs more pivots than ``max_rank``
    almost surely means K does too; when it needs fewer, K itself is factored and decides.
    """
    n = K.shape[0]
    if max_rank is not None and n > PRECHECK_ROWS * max_rank + 1:
        idx = np.sort(make_rng(0).choice(n, int(PRECHECK_ROWS * max_rank) + 1, replace=False))
        sub = K[np.ix_(idx, idx)]
        if int(lapack.dpstrf(sub.T, tol=tol, lower=1, overwrite_a=1)[2]) > max_rank:
            return None
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


def coarse_grid(T_max: int, start: int = -1) -> list[int]:
    """The iteration counts a spectral path scores first: every T up to ``DENSE_UPTO``, then
    each about ``COARSE_STEP`` (relative) above the last, and ``T_max``; those above ``start``."""
    pts = list(range(0, min(T_max, DENSE_UPTO) + 1))
    T = pts[-1]
    while T < T_max:
        T = min(T_max, max(T + 1, int(T * (1.0 + COARSE_STEP))))
        pts.append(T)
    return [T for T in pts if T > start]


class _Filter:
    """g_s(mu) of the scalar recursion for every fold's eigenvalues at once, advanced in s."""

    def __init__(self, mu: np.ndarray, m: np.ndarray, nu: float):
        self.mu, self.m, self.nu = mu, m, nu  # (F, r) eigenvalues, (F, 1) training rows
        self.s = 0
        self.g2 = np.zeros_like(mu)  # g_{s-1}
        self.g1 = np.zeros_like(mu)  # g_s
        self.u = self.w = np.zeros(0)

    def at(self, Ts: Sequence[int]) -> np.ndarray:
        """g_T for the ascending counts ``Ts`` (each >= the current s): shape (len(Ts), F, r)."""
        if len(Ts) and Ts[-1] > len(self.u):
            self.u, self.w = nu_coefficients(max(Ts[-1], 2 * len(self.u)), self.nu)
        out = np.empty((len(Ts),) + self.mu.shape)
        for j, T in enumerate(Ts):
            while self.s < T:  # g_{k+1} from g_k, g_{k-1}
                k = self.s
                g = self.g1 + self.u[k] * (self.g1 - self.g2) + (self.w[k] / self.m) * (1.0 - self.mu * self.g1)
                self.g2, self.g1 = self.g1, g
                self.s += 1
            out[j] = self.g1
        return out


class SpectralPath:
    """The spectral path of one bandwidth and nu.

    Built from the factor ``L`` (n, r) of the kernel matrix, the targets ``t`` (n,) and the
    folds' validation indices. :meth:`scores` gives mse(T) at any iteration counts;
    :meth:`path` is what the search uses: the coarse grid up to the stop, then every T
    between the coarse minimum's two grid neighbours (module docstring). Every value scored
    is kept, and a later :meth:`path` with a larger maximum continues the coarse grid.
    """

    def __init__(self, L: np.ndarray, t: np.ndarray, folds, nu: float):
        n = len(t)
        M = L.T @ L
        mus, bs, ms, self.val = [], [], [], []
        for val in folds:
            train = np.ones(n, dtype=bool)
            train[val] = False
            Lv = L[val]
            mu, V = np.linalg.eigh(M - Lv.T @ Lv)
            mus.append(mu)
            bs.append(V.T @ (L[train].T @ t[train]))
            ms.append(float(train.sum()))
            self.val.append((Lv @ V, t[val]))
        self.mu, self.b = np.array(mus), np.array(bs)
        self.m = np.array(ms)[:, None]
        self.n, self.nu = n, float(nu)
        self.scored: dict[int, float] = {0: float(t @ t) / n}  # T = 0: c = 0
        self.coarse = _Filter(self.mu, self.m, self.nu)  # advanced along the coarse grid
        self.stop: int | None = None  # where the adaptive rule stopped the coarse grid
        self.best = (self.scored[0], 0)  # (mse, T), the coarse grid's minimum so far

    def scores(self, Ts: Sequence[int]) -> np.ndarray:
        """Validation MSE at the ascending iteration counts ``Ts`` (a fresh recursion)."""
        return self._score(_Filter(self.mu, self.m, self.nu), list(Ts))

    def _score(self, filt: _Filter, Ts: list[int]) -> np.ndarray:
        out = np.empty(len(Ts))
        for lo in range(0, len(Ts), _CHUNK):
            block = Ts[lo : lo + _CHUNK]
            X = filt.at(block) * self.b  # (len(block), F, r): g_T(mu) o b
            sse = np.zeros(len(block))
            for f, (A, tv) in enumerate(self.val):
                R = A @ X[:, f, :].T - tv[:, None]  # (n_v, len(block)) validation residuals
                sse += np.einsum("ij,ij->j", R, R)
            out[lo : lo + len(block)] = sse / self.n
        return out

    def path(self, T_max: int, adaptive: bool) -> dict[int, float]:
        """mse(T) for T = 0..T_stop on the coarse grid, and at every T next to its minimum.

        T_stop is ``T_max`` or, when ``adaptive``, the first grid value above 1.5 * (best T
        so far) + 50. Returns ``{T: mse}`` in ascending T, T <= T_stop.
        """
        if self.stop is None:
            grid = coarse_grid(T_max, start=self.coarse.s)
            for lo in range(0, len(grid), 16):  # a few grid values at a time, for the stop
                block = grid[lo : lo + 16]
                for T, v in zip(block, self._score(self.coarse, block)):
                    self.scored[T] = float(v)
                    if v < self.best[0]:
                        self.best = (float(v), T)
                    if adaptive and T > 1.5 * self.best[1] + 50:
                        self.stop = T
                        break
                if self.stop is not None:
                    break
        T_stop = min(T_max, self.stop) if self.stop is not None else T_max
        grid = [T for T in coarse_grid(T_stop) if T in self.scored]
        i = min(range(len(grid)), key=lambda k: self.scored[grid[k]])
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        todo = [T for T in range(lo + 1, hi) if T not in self.scored]
        if todo:
            self.scored.update(zip(todo, map(float, self.scores(todo))))
        return {T: self.scored[T] for T in sorted(self.scored) if T <= T_stop}


def spectral_path_mse(L, t, folds, T_max, nu) -> np.ndarray:
    """Validation MSE for every T = 0..T_max from the factor ``L`` (n, r) of the kernel matrix.

    ``folds`` holds each fold's validation indices; the module docstring gives the maths.
    """
    return SpectralPath(L, t, folds, nu).scores(range(T_max + 1))
