r"""Spectral form of the nu-method fit and its Daleckii-Krein gradient.

Maths. The nu-method (Lo Gerfo, Rosasco, Odone, De Vito, Verri 2008, "Spectral algorithms
for supervised learning", Neural Computation 20(7)) is a spectral filter: with
K = U diag(mu) U^T the eigendecomposition of the symmetric m x m kernel matrix and
lambda = mu / m (in [0, 1] for the Gaussian kernel), the recursion of
:mod:`enfo_sdk.keys.nu_recursion` gives exactly

    c_T = g(K) t = U diag(g(mu)) U^T t,    g(mu) = h_T(mu / m) / m,
    h_T(lambda) = (1 - r_T(lambda)) / lambda,
    r_T(lambda) = P_T^{(a,b)}(1 - 2 lambda) / P_T^{(a,b)}(1),   a = 2 nu - 1/2,  b = -1/2,

where r_T is the residual polynomial (r_s = r_{s-1} + u_s (r_{s-1} - r_{s-2}) - w_s lambda r_{s-1},
r_0 = r_{-1} = 1, the scalar form of the recursion) and P^{(a,b)} the Jacobi polynomial.
h_T is a polynomial of degree T - 1 (h_T(0) = T (T + 2 nu) / (2 nu + 1/2)).

Evaluation of the filter (float64, on the CPU; y = S lambda with S = T (T + 2 nu)):

* ``|y| <= 20`` (the small eigenvalues, where (1 - r) / lambda cancels catastrophically --
  for an ill-conditioned kernel matrix most of them): the terminating hypergeometric series
  r_T = 2F1(-T, T + 2 nu; 2 nu + 1/2; lambda) = sum_k B_k y^k,
  B_k = (-T)_k (T + 2 nu)_k / ((2 nu + 1/2)_k k! S^k), so h_T(lambda) = -S sum_{k>=1} B_k y^(k-1)
  without any cancellation, with 40 terms (|B_k| <= 1 / (k! (2 nu + 1/2)_k), tail < 1e-24);
  the same pass gives h' and the Taylor coefficients H^(d)(y) / d!, d <= 4, used below.
  Round-off negative eigenvalues are fine here.
* otherwise, for nu = 1 (the default) and 0 < lambda <= 1/2, a closed form, O(1) per
  eigenvalue: with a = 3/2, b = -1/2 the quadratic transformation
  P_T^{(a,-1/2)}(2 x^2 - 1) ~ C_{2T}^{(a+1/2)}(x) (DLMF 18.7(iv)) and
  C_n^{(2)} = U'_{n+1} / 2 (Chebyshev U) give, with sin^2 phi = lambda and M = 2 T + 2,
  r_T(lambda) = 3 q / ((M^2 - 1) M sin^3 phi),   q = sin(M phi) cos phi - M cos(M phi) sin phi,
  and dq/dphi = (M^2 - 1) sin(M phi) sin phi, dlambda/dphi = 2 sin phi cos phi, so
  r'(lambda) = 3 ((M^2 - 1) sin(M phi) sin^2 phi - 3 cos phi q) / ((M^2 - 1) M 2 sin^5 phi cos phi).
  Outside the series M phi > 8.9, so q has no cancellation, and cos phi >= 1/sqrt 2. Against
  60-digit arithmetic (the scalar recursion in mpmath) h is within 2.2e-16 and h' within 5e-15
  (relative, h' on the scale |h| / ell below) at T = 50, 500, 2000; eval_jacobi, which this
  replaced for nu = 1 (``_filter`` was 37% of forging's CPU time, 1.7 ms per call at m = 100,
  T = 2000; now 0.03 ms), was 3.8e-13 off at T = 2000.
* otherwise (nu != 1, lambda > 1/2 -- at most one eigenvalue, as sum(lambda) = trace K / m = 1 --
  or a negative lambda below the series) the closed form with ``scipy.special.eval_jacobi`` at
  an *integer* degree (which selects scipy's difference recurrence, O(T) per eigenvalue in C):
  h = (1 - r) / lambda and, from d/dx P_n^{(a,b)} = (n + a + b + 1)/2 P_{n-1}^{(a+1,b+1)},
  r'(lambda) = -(T + 2 nu) P_{T-1}^{(a+1,b+1)}(1 - 2 lambda) / P_T^{(a,b)}(1),
  h'(lambda) = -(r'(lambda) + h(lambda)) / lambda.

The switch at |y| = 20 (not lower) matters: scipy's recurrence has an absolute error of
about T^2 eps near x = 1, i.e. 3e-11 relative in h at y = 1 and T = 2000. Against 80-digit
mpmath, the max relative error of h over lambda in [-1e-14, 1] with eval_jacobi above the
switch is 3e-15 (T = 50, 200), 1e-13 (T = 2000), 1.5e-12 (T = 5000), always just above the
switch (nu != 1; for nu = 1 the closed form is within 2.2e-16 there).

Gradient (Daleckii-Krein theorem: Daleckii & Krein 1965; Bhatia, Matrix Analysis, Thm V.3.3):
for a symmetric K and any direction E, d g(K)[E] = U [(U^T E U) o Gamma] U^T with
the divided differences Gamma_ij = (g(mu_i) - g(mu_j)) / (mu_i - mu_j), Gamma_ii = g'(mu_i).
Hence for L(c_T) with G = dL/dc_T, a = U^T G, s = U^T t:

    dL/dK = U [(a s^T) o Gamma] U^T = (U diag(a)) Gamma (U diag(s))^T,
    dL/dt = g(K) G = U (g o a).

Because g is a polynomial this holds for non-symmetric E too, so dL/dK is the *same*
(non-symmetric) matrix as the gradient of the unrolled recursion and of the adjoint in
:class:`~enfo_sdk.keys.nu_adjoint.NuMethodSolve`. (The forward reads only the lower triangle of
K, so K must be symmetric -- as every kernel matrix is; ``gradcheck`` directly on K must use a
symmetric parametrisation such as K = (A + A^T) / 2.) In lambda units
Gamma = Gamma_lambda / m^2, and the divided differences are formed so that close eigenvalues
lose nothing: the quotient (h_i - h_j) / (lambda_i - lambda_j) loses about
eps |h| / (|lambda_i - lambda_j| |h'|), so

* both in the series region and |y_i - y_j| <= 1e-2: the Taylor expansion of H(y) = h / S
  about y_j to fourth order (error < 1e-13 there; the quotient's error at the switch ~1e-13);
* otherwise, if |lambda_i - lambda_j| <= 1e-5 ell with ell the scale on which h varies
  (sqrt(lambda)/T for T^2 lambda > 1, the oscillation length of r_T, else 1/T^2): the
  trapezoid (h'_i + h'_j) / 2 (error ~ (delta / ell)^2 / 12 ~ 1e-11; such close pairs of large
  eigenvalues are rare);
* else the quotient.

Against 90-digit mpmath and against the divided differences propagated exactly through the
scalar recursion (delta[lambda f] = f(a) + b delta[f]), Gamma is correct to 3e-12 entrywise
(T = 2000, kernels with eigenvalues down to -5e-17 and clusters). Cost: one ``eigh``, an O(m)
filter (O(T m) for nu != 1), O(m^2) divided differences and two m x m x m products in the backward.

Accuracy end to end (``tests/keys/test_nu_spectral.py``; float64, standardized 4-d rows,
bandwidths 0.5-2, including low-dimensional and near-duplicate rows whose kernel matrices have
eigenvalues at round-off level): c_T and the gradients w.r.t. the synthetic rows and targets
(through ``gaussian_torch``) agree with ``nu_fit_numpy`` / the plain autograd unroll
``nu_fit_unrolled`` to 1e-14-1e-12 (T = 50, 500) and <= 1e-10 (T = 2000; 7e-10 at T = 5000)
relative, norm-wise. The residual is the conditioning of eigh, not the filter: eigh is
backward stable, a perturbation eps |K| of K moves c_T by about |h'(0)| / |h(0)| eps lambda_max
~ T^2 eps / 7 relative for nu = 1 (the numpy recursion differs from 40-digit arithmetic by
~1e-13); the recursion-based paths are ~100x closer to exact arithmetic in c_T, but not in the
gradients, where the adjoint and the unroll differ by up to 6e-10 (T = 2000) and 1e-9
(T = 3000) on the same problems.

Everything is computed in float64 (inputs of other dtypes are cast and the result is cast
back); ``eigh`` and the matrix products run on the inputs' device, the filter on the CPU
(an m-vector round trip).

Choice of method (:func:`nu_fit_fast`): the spectral path costs one ``eigh`` plus two m^3
products, nearly independent of T; the adjoint recursion (:func:`nu_fit_torch`) about
4 T m^2 flops in matrix-vector products plus several us per iteration of Python overhead. Measured
with ``python benchmarks/forge_speed.py --calibrate`` (one forging step, forward + backward,
batch 256, float64, torch CPU, one thread, on a 2-core machine shared with other jobs; ms,
spectral / adjoint, medians of 9):

    rows   T=50        T=100       T=200       T=400       T=800       T=1600
      50   1.1/0.9     1.0/1.2     1.1/1.9     1.4/3.4     1.7/6.1     2.4/11.7
     100   1.9/1.3     2.2/1.8     2.3/2.6     2.4/4.1     3.3/7.6     4.4/16.2
     200   6.7/3.2     5.9/3.6     6.1/4.9     7.6/9.1     7.5/13.6    9.6/28.0
     300   13.9/6.9    12.8/6.1    14.1/9.4    14.0/13.5   15.1/23.0   18.6/44.9
     500   40/11       40/15       42/24       42/36       45/61       50/111
     700   99/23       99/41       104/52      106/81      113/127     113/210
    1000   251/48      261/68      247/81      256/131     266/189     267/361

The crossover is T ~ 1.6 m for m <= 100, ~1.4 m at 200-300 and ~1.0-1.2 m at 500-1000, so
the rule is: **spectral when T >= 1.3 m, adjoint otherwise** (within ~10% of the faster one
everywhere on the grid). On GPUs the rule is untested (``eigh`` is comparatively slower there
for small m, the adjoint's per-iteration overhead larger). Timings with two threads on the
loaded machine are dominated by OpenMP/BLAS barrier stalls (10-100x slower, erratic) and
were not used. (The table predates the closed-form filter for nu = 1, which takes ~1.7 ms
off each spectral step at T = 2000, m = 100; the rule was not re-measured.)
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from scipy.special import eval_jacobi

from .nu_adjoint import nu_fit_torch

__all__ = ["nu_filter", "nu_fit_spectral", "nu_fit_fast", "uses_spectral", "SPECTRAL_MIN_T_PER_ROW", "NuSpectralSolve"]

_SERIES_Y = 20.0  # the series is used for y = T (T + 2 nu) |lambda| <= _SERIES_Y
_SERIES_TERMS = 40  # k = 1..40 of the hypergeometric series (tail < 1e-24 relative there)
_TAYLOR_Y = 1e-2  # series-region pairs with |y_i - y_j| <= this use a 4-term Taylor expansion
_CLOSE = 1e-5  # other pairs closer than _CLOSE * ell use the trapezoid (h'_i + h'_j) / 2
_TRIG_MAX = 0.5  # nu = 1: the closed form for 0 < lambda <= this (1 / cos phi stays <= sqrt 2)


def _series_coefficients(T: int, nu: float, n: int) -> np.ndarray:
    """B_0..B_{n-1} with r_T(lambda) = sum_k B_k y^k, y = T (T + 2 nu) lambda (B_k = 0 for k > T).

    B_k = A_k / (T (T + 2 nu))^k with A_k = (-T)_k (T + 2 nu)_k / ((2 nu + 1/2)_k k!), so that
    |B_k| <= 1 / (k! (2 nu + 1/2)_k) never overflows.
    """
    a1 = 2.0 * nu + 0.5
    B = np.zeros(n)
    B[0] = 1.0
    for k in range(1, n):
        j = k - 1
        B[k] = B[k - 1] * ((j - T) / T) * ((T + 2.0 * nu + j) / (T + 2.0 * nu)) / ((a1 + j) * (j + 1.0))
    return B


def _filter(lam: np.ndarray, T: int, nu: float):
    """h, h', the series mask and, on it, the Taylor coefficients H^(d)(y) / d!, d = 1..4, of
    H(y) = h(y / S) / S (y = S lambda, S = T (T + 2 nu)), shape (4, n_series)."""
    lam = np.asarray(lam, dtype=np.float64)
    T = int(T)
    nu = float(nu)
    h = np.empty_like(lam)
    dh = np.empty_like(lam)
    S = T * (T + 2.0 * nu)
    small = S * np.abs(lam) <= _SERIES_Y
    taylor = np.empty((4, int(small.sum())))
    if small.any():
        N = _SERIES_TERMS
        C = _taylor_matrix(T, nu)
        y = S * lam[small]
        acc = C @ np.vander(y, N, increasing=True).T  # (5, n_series): H^(d)(y) / d!
        h[small] = S * acc[0]
        dh[small] = (S * S) * acc[1]
        taylor[:] = acc[1:]
    big = ~small
    if nu == 1.0:  # the closed form on 0 < lambda <= 1/2 (module docstring)
        trig = big & (lam > 0.0) & (lam <= _TRIG_MAX)
        h[trig], dh[trig] = _trig_filter(lam[trig], T)
        big &= ~trig
    if big.any():
        a, b = 2.0 * nu - 0.5, -0.5
        lb = lam[big]
        x = 1.0 - 2.0 * lb
        p1 = eval_jacobi(np.int64(T), a, b, 1.0)
        r = eval_jacobi(np.int64(T), a, b, x) / p1
        hb = (1.0 - r) / lb
        rp = -(T + 2.0 * nu) * eval_jacobi(np.int64(T - 1), a + 1.0, b + 1.0, x) / p1
        h[big] = hb
        dh[big] = -(rp + hb) / lb
    return h, dh, small, taylor


def _trig_filter(lam: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """h_T and h_T' for nu = 1 and 0 < lambda <= 1/2 in closed form (module docstring):
    r = 3 q / ((M^2 - 1) M sin^3 phi), q = sin(M phi) cos phi - M cos(M phi) sin phi,
    sin^2 phi = lambda, M = 2 T + 2."""
    M = 2.0 * T + 2.0
    s = np.sqrt(lam)
    c = np.sqrt(1.0 - lam)
    phi = np.arctan2(s, c)
    sM, cM = np.sin(M * phi), np.cos(M * phi)
    q = sM * c - M * cM * s
    kappa = 3.0 / ((M * M - 1.0) * M)
    r = kappa * q / (s * s * s)
    rp = kappa * ((M * M - 1.0) * sM * s * s - 3.0 * c * q) / (2.0 * s**5 * c)  # dr/dlambda
    h = (1.0 - r) / lam
    return h, -(rp + h) / lam


@functools.lru_cache(maxsize=64)
def _taylor_matrix(T: int, nu: float) -> np.ndarray:
    """Row d, column k: binom(k + d, d) c_{k+d}, the coefficient of y^k in H^(d)(y) / d!,
    where H(y) = sum_{n < N} c_n y^n, c_n = -B_{n+1} (d = 0..4, k < N = _SERIES_TERMS)."""
    N = _SERIES_TERMS
    c = -_series_coefficients(T, nu, N + 1)[1:]
    n = np.arange(N)
    C = np.zeros((5, N))
    for d in range(5):
        C[d, : N - d] = _binom(n[d:], d) * c[d:]
    C.setflags(write=False)
    return C


def _binom(n: np.ndarray, d: int) -> np.ndarray:
    out = np.ones_like(n, dtype=np.float64)
    for i in range(d):
        out = out * (n - i) / (i + 1)
    return out


def nu_filter(lam: np.ndarray, T: int, nu: float) -> tuple[np.ndarray, np.ndarray]:
    """h_T(lambda) and h_T'(lambda) for normalised eigenvalues lambda = mu / m (float64).

    g(mu) = h_T(mu / m) / m is the nu-method's spectral filter; see the module docstring.
    """
    h, dh, _, _ = _filter(lam, T, nu)
    return h, dh


def _divided_differences(lam, h, dh, small, taylor, T: int, nu: float) -> torch.Tensor:
    """Gamma_ij = (h_i - h_j) / (lambda_i - lambda_j) (lambda units), accurate for close pairs.

    ``lam`` is sorted (as ``eigh`` returns it), so the series region |y| <= _SERIES_Y is a
    contiguous block of indices.
    """
    D = lam[:, None] - lam[None, :]
    Q = (h[:, None] - h[None, :]) / D
    # ell(|lambda|), the scale on which h varies, is increasing in |lambda|
    a = lam.abs()
    ell = torch.where(a * (T * T) > 1.0, a.sqrt() / T, torch.full_like(a, 1.0 / (T * T)))
    close = D.abs() <= _CLOSE * torch.maximum(ell[:, None], ell[None, :])  # incl. the diagonal
    G = torch.where(close, 0.5 * (dh[:, None] + dh[None, :]), Q)
    idx = torch.nonzero(small).flatten().tolist()
    if idx:
        i0, i1 = idx[0], idx[-1] + 1
        assert i1 - i0 == len(idx), "eigenvalues must be sorted"
        S = T * (T + 2.0 * nu)
        Dy = S * D[i0:i1, i0:i1]  # expansion of H about y_j with step y_i - y_j
        c1, c2, c3, c4 = (taylor[d][None, :] for d in range(4))
        tay = (S * S) * (c1 + Dy * (c2 + Dy * (c3 + Dy * c4)))
        G[i0:i1, i0:i1] = torch.where(Dy.abs() <= _TAYLOR_Y, tay, G[i0:i1, i0:i1])
    return G


class NuSpectralSolve(torch.autograd.Function):
    """c_T(K, t) by eigendecomposition, with a Daleckii-Krein backward (module docstring)."""

    @staticmethod
    def forward(ctx, K: torch.Tensor, t: torch.Tensor, T: int, nu: float) -> torch.Tensor:
        out_dtype = t.dtype
        Kd = K.detach().to(torch.float64)
        td = t.detach().to(torch.float64)
        m = Kd.shape[0]
        mu, U = torch.linalg.eigh(Kd)
        lam = mu / m
        h_np, dh_np, small_np, taylor_np = _filter(lam.cpu().numpy(), T, nu)
        h, dh, small, taylor = (torch.from_numpy(v).to(Kd.device) for v in (h_np, dh_np, small_np, taylor_np))
        s = U.T @ td  # (m,) or (m, k)
        gs = (h / m).reshape((m,) + (1,) * (s.dim() - 1)) * s
        c = U @ gs
        ctx.save_for_backward(U, lam, h, dh, s, small, taylor)
        ctx.T, ctx.nu = int(T), float(nu)
        ctx.dtypes = (K.dtype, t.dtype)
        return c.to(out_dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_c: torch.Tensor):
        U, lam, h, dh, s, small, taylor = ctx.saved_tensors
        m = U.shape[0]
        a = U.T @ grad_c.to(torch.float64)
        grad_K = grad_t = None
        if ctx.needs_input_grad[1]:
            grad_t = (U @ ((h / m).reshape((m,) + (1,) * (a.dim() - 1)) * a)).to(ctx.dtypes[1])
        if ctx.needs_input_grad[0]:
            Gam = _divided_differences(lam, h, dh, small, taylor, ctx.T, ctx.nu)
            Gam = Gam * (1.0 / (m * m))  # lambda units -> mu units
            if a.dim() == 1:
                # U [(a s^T) o Gamma] U^T = (U diag(a)) Gamma (U diag(s))^T
                grad_K = ((U * a) @ Gam) @ (U * s).T
            else:
                grad_K = U @ (((a @ s.T)) * Gam) @ U.T
            grad_K = grad_K.to(ctx.dtypes[0])
        return grad_K, grad_t, None, None


def nu_fit_spectral(K: torch.Tensor, t: torch.Tensor, T: int, nu: float) -> torch.Tensor:
    """Differentiable nu-method coefficients c_T for a symmetric kernel matrix K (m, m) and
    targets t (m,) or (m, k), by eigendecomposition; gradients w.r.t. K and t."""
    return NuSpectralSolve.apply(K, t, int(T), float(nu))


#: :func:`nu_fit_fast` takes the spectral path from T >= SPECTRAL_MIN_T_PER_ROW * m on (measured;
#: the crossover table above).
SPECTRAL_MIN_T_PER_ROW = 1.3


def uses_spectral(m: int, T: int) -> bool:
    """Whether :func:`nu_fit_fast` fits m rows with T iterations by :func:`nu_fit_spectral`
    (else the adjoint :func:`nu_fit_torch`)."""
    return int(T) >= SPECTRAL_MIN_T_PER_ROW * m


def nu_fit_fast(K: torch.Tensor, t: torch.Tensor, T: int, nu: float) -> torch.Tensor:
    """c_T with gradients by the faster method for this (m, T): :func:`nu_fit_spectral` when
    T >= 1.3 m, else the adjoint :func:`nu_fit_torch` (module docstring: the measured rule)."""
    if uses_spectral(K.shape[0], T):
        return nu_fit_spectral(K, t, T, nu)
    return nu_fit_torch(K, t, T, nu)
