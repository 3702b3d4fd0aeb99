"""The nu-method's recursion in numpy: its coefficients and the exact float64 fit.

With K the m x m kernel matrix of the training rows and t their targets, c_0 = c_{-1} = 0 and
for s = 1..T

    c_s = c_{s-1} + u_s (c_{s-1} - c_{s-2}) + (w_s / m) (t - K c_{s-1}),

    u_1 = 0,  w_1 = (4 nu + 2) / (4 nu + 1),
    u_s = (s-1)(2s-3)(2s+2nu-1) / ((s+2nu-1)(2s+4nu-1)(2s+2nu-3)),      s >= 2
    w_s = 4 (2s+2nu-1)(s+nu-1) / ((s+2nu-1)(2s+4nu-1)),                  s >= 2

(Lo Gerfo, Rosasco, Odone, De Vito, Verri 2008). The key (:mod:`.nu_method`) and both
differentiable fits (:mod:`.nu_adjoint`, :mod:`.nu_spectral`) share these; this module
imports neither torch nor any of them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SYMMETRIC_MIN_ROWS", "nu_coefficients", "nu_fit_numpy"]

#: Training rows from which :func:`nu_fit_numpy` multiplies by K with ``dsymv`` (owner-side
#: fits on the full table); smaller fits keep ``K @ c``.
SYMMETRIC_MIN_ROWS = 1000


def nu_coefficients(T: int, nu: float) -> tuple[np.ndarray, np.ndarray]:
    """Momentum u_s and step w_s for s = 1..T (index 0 of the arrays is s = 1)."""
    s = np.arange(1, T + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # s = 1 divides by 0 when nu = 1/2; set below
        u = (s - 1) * (2 * s - 3) * (2 * s + 2 * nu - 1) / (
            (s + 2 * nu - 1) * (2 * s + 4 * nu - 1) * (2 * s + 2 * nu - 3)
        )
        w = 4 * (2 * s + 2 * nu - 1) * (s + nu - 1) / ((s + 2 * nu - 1) * (2 * s + 4 * nu - 1))
    u[0] = 0.0
    w[0] = (4 * nu + 2) / (4 * nu + 1)
    return u, w


def nu_fit_numpy(K: np.ndarray, t: np.ndarray, T: int, nu: float) -> np.ndarray:
    """Coefficients c_T for kernel matrix K (m, m) and targets t (m,) or (m, k).

    K is symmetric; from :data:`SYMMETRIC_MIN_ROWS` rows on, for one target column, the
    product K c is BLAS ``dsymv`` on K's lower triangle, which reads half the matrix: a fit is
    T passes over K and memory-bound, so this halves its time (5,000 rows: 14.6 ms per product
    against 26.9 ms for ``K @ c`` on one thread). The two differ by rounding only (K built by
    :func:`~enfo_sdk.keys.kernels.gaussian` is symmetric up to rounding). Below that size
    (every bundle a partner fits) the product stays ``K @ c`` and scipy is not imported.
    """
    m = K.shape[0]
    u, w = nu_coefficients(T, nu)
    t = np.asarray(t)
    matvec = _symmetric_product(K) if t.ndim == 1 and m >= SYMMETRIC_MIN_ROWS else K.__matmul__
    c_prev2 = np.zeros_like(t, dtype=np.float64)
    c_prev = np.zeros_like(t, dtype=np.float64)
    for s in range(T):
        c = c_prev + u[s] * (c_prev - c_prev2) + (w[s] / m) * (t - matvec(c_prev))
        c_prev2, c_prev = c_prev, c
    return c_prev


def _symmetric_product(K: np.ndarray):
    """c -> K c for symmetric float64 K by ``dsymv`` (K @ c for any other K)."""
    if K.dtype != np.float64 or K.ndim != 2 or K.shape[0] != K.shape[1] or not (
        K.flags.c_contiguous or K.flags.f_contiguous
    ):
        return K.__matmul__
    from scipy.linalg.blas import dsymv

    A = K.T if K.flags.c_contiguous else K  # Fortran order without a copy (K is symmetric)
    return lambda c: dsymv(1.0, A, c, lower=1)
