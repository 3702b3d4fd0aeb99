"""Keys against independent references (numpy lstsq, scikit-learn, a plain loop)."""

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge as SkRidge

from enfo_sdk.keys import get_key


@pytest.fixture(scope="module")
def data():
    g = np.random.default_rng(42)
    Z = g.standard_normal((80, 3))
    t = np.sin(Z[:, 0]) + 0.5 * Z[:, 1] * Z[:, 2] + 0.1 * g.standard_normal(80)
    Zq = g.standard_normal((25, 3))
    return Z, t, Zq


def test_ols_equals_lstsq(data):
    Z, t, Zq = data
    key = get_key("ols")
    state = key.fit(Z, t, {})
    A = np.hstack([np.ones((len(Z), 1)), Z])
    ref, *_ = np.linalg.lstsq(A, t, rcond=None)
    Aq = np.hstack([np.ones((len(Zq), 1)), Zq])
    np.testing.assert_allclose(key.predict(state, Zq, {}), Aq @ ref, rtol=0, atol=1e-8)
    # and the torch fit agrees with the exact one
    import torch

    f = key.torch_fit(torch.as_tensor(Z), torch.as_tensor(t), {})
    np.testing.assert_allclose(f(torch.as_tensor(Zq)).numpy(), Aq @ ref, atol=1e-8)


@pytest.mark.parametrize("alpha", [1e-4, 0.1, 2.0])
def test_ridge_equals_sklearn(data, alpha):
    Z, t, Zq = data
    key = get_key("ridge")
    state = key.fit(Z, t, {"alpha": alpha})
    # (1/m)|t - Zb - b0|^2 + alpha|b|^2  <=>  sklearn's |t - Zb - b0|^2 + (alpha m)|b|^2
    ref = SkRidge(alpha=alpha * len(Z)).fit(Z, t)
    np.testing.assert_allclose(key.predict(state, Zq, {"alpha": alpha}), ref.predict(Zq), atol=1e-8)


@pytest.mark.parametrize("bandwidth,alpha", [(0.7, 1e-3), (1.5, 1e-5), (3.0, 0.05)])
def test_krr_equals_sklearn_kernel_ridge(data, bandwidth, alpha):
    Z, t, Zq = data
    key = get_key("krr")
    p = {"bandwidth": bandwidth, "alpha": alpha}
    state = key.fit(Z, t, p)
    ref = KernelRidge(kernel="rbf", gamma=1 / (2 * bandwidth**2), alpha=alpha * len(Z)).fit(Z, t)
    np.testing.assert_allclose(key.predict(state, Zq, p), ref.predict(Zq), rtol=0, atol=1e-8)


def plain_nu_method(Z, t, s, T, nu):
    """The DESIGN.md formulas written out again, element by element."""
    m = len(t)
    K = np.array([[np.exp(-np.sum((Z[i] - Z[j]) ** 2) / (2 * s * s)) for j in range(m)] for i in range(m)])
    return plain_recursion(K, t, T, nu), K


def plain_recursion(K, t, T, nu):
    """The recursion of DESIGN.md with a full K @ c product."""
    m = len(t)
    c_prev2 = np.zeros(m)
    c_prev = np.zeros(m)
    for it in range(1, T + 1):
        if it == 1:
            u, w = 0.0, (4 * nu + 2) / (4 * nu + 1)
        else:
            u = (it - 1) * (2 * it - 3) * (2 * it + 2 * nu - 1) / (
                (it + 2 * nu - 1) * (2 * it + 4 * nu - 1) * (2 * it + 2 * nu - 3)
            )
            w = 4 * (2 * it + 2 * nu - 1) * (it + nu - 1) / ((it + 2 * nu - 1) * (2 * it + 4 * nu - 1))
        c = c_prev + u * (c_prev - c_prev2) + (w / m) * (t - K @ c_prev)
        c_prev2, c_prev = c_prev, c
    return c_prev


@pytest.mark.parametrize("s,T,nu", [(1.0, 1, 1.0), (0.8, 37, 1.0), (2.0, 150, 0.5), (1.3, 60, 2.5)])
def test_nu_method_equals_plain_loop(data, s, T, nu):
    Z, t, Zq = data
    key = get_key("nu-method")
    p = {"bandwidth": s, "iterations": T, "nu": nu}
    state = key.fit(Z, t, p)
    c_ref, _ = plain_nu_method(Z, t, s, T, nu)
    np.testing.assert_allclose(state["coef"], c_ref, rtol=1e-12, atol=1e-12 * np.abs(c_ref).max())
    Kq = np.exp(-((Zq[:, None, :] - Z[None, :, :]) ** 2).sum(-1) / (2 * s * s))
    np.testing.assert_allclose(key.predict(state, Zq, p), Kq @ c_ref, rtol=1e-12, atol=1e-12)


def test_nu_method_large_fit_uses_half_the_matrix_and_equals_the_loop():
    """From SYMMETRIC_MIN_ROWS rows the fit multiplies by K with BLAS dsymv (lower triangle
    only); it must equal the formulas' loop with a full K @ c to rounding."""
    from enfo_sdk.keys.nu_recursion import SYMMETRIC_MIN_ROWS

    g = np.random.default_rng(7)
    m = SYMMETRIC_MIN_ROWS + 37
    Z = g.standard_normal((m, 3))
    t = np.cos(Z[:, 0]) * Z[:, 1] + 0.1 * g.standard_normal(m)
    s, T, nu = 1.1, 120, 1.0
    key = get_key("nu-method")
    state = key.fit(Z, t, {"bandwidth": s, "iterations": T, "nu": nu})
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)  # not the package's kernel code
    K = np.exp(-sq / (2 * s * s))
    c_prev = plain_recursion(K, t, T, nu)
    np.testing.assert_allclose(state["coef"], c_prev, rtol=1e-10, atol=1e-10 * np.abs(c_prev).max())


def test_nu_method_converges_towards_interpolation(data):
    """Many iterations approach the kernel interpolant K^-1 t on the training rows."""
    Z, t, _ = data
    key = get_key("nu-method")
    fit_err = []
    for T in (5, 100, 3000):
        p = key.check_params({"bandwidth": 1.0, "iterations": T})
        st = key.fit(Z, t, p)
        fit_err.append(np.sqrt(np.mean((key.predict(st, Z, p) - t) ** 2)))
    assert fit_err[0] > fit_err[1] > fit_err[2]
    assert fit_err[2] < 0.05 * fit_err[0]


def test_torch_fits_match_exact_fits(data):
    import torch

    Z, t, Zq = data
    cases = [("nu-method", {"bandwidth": 1.1, "iterations": 40}), ("krr", {"bandwidth": 1.0, "alpha": 1e-3}),
             ("ridge", {"alpha": 0.01}), ("ols", {})]
    for name, p in cases:
        key = get_key(name)
        p = key.check_params(p)
        exact = key.predict(key.fit(Z, t, p), Zq, p)
        f = key.torch_fit(torch.as_tensor(Z), torch.as_tensor(t), p)
        np.testing.assert_allclose(f(torch.as_tensor(Zq)).detach().numpy(), exact, rtol=1e-10, atol=1e-10, err_msg=name)
