"""Classification keys against independent references: scikit-learn KernelRidge on one-hot
targets, a plain-loop nu-method per class, a brute-force temperature, torch's fit and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge

from enfo_sdk import encapsulate
from enfo_sdk.keys import get_key
from enfo_sdk.keys.classify import fit_temperature, log_loss_at, one_hot, platt_targets, softmax


def _data(n=60, d=3, k=3, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d))
    codes = (np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])) % k
    return X, codes


def test_krr_classifier_equals_sklearn_kernel_ridge_on_one_hot():
    X, codes = _data()
    Y = one_hot(codes, 3)
    key = get_key("krr-classifier")
    params = key.check_params({"bandwidth": 0.8, "alpha": 1e-3})
    state = key.fit(X, Y, params)
    Xq = np.random.default_rng(1).standard_normal((25, 3))
    ref = KernelRidge(kernel="rbf", gamma=1 / (2 * 0.8**2), alpha=1e-3 * len(X)).fit(X, Y).predict(Xq)
    np.testing.assert_allclose(key.predict(state, Xq, params), ref, rtol=0, atol=1e-8)


def _nu_loop(K, y, T, nu):
    """The recursion written out, one class column at a time, straight from docs/keys.md."""
    m = len(y)
    c2, c1 = np.zeros(m), np.zeros(m)
    for s in range(1, T + 1):
        if s == 1:
            u, w = 0.0, (4 * nu + 2) / (4 * nu + 1)
        else:
            u = (s - 1) * (2 * s - 3) * (2 * s + 2 * nu - 1) / ((s + 2 * nu - 1) * (2 * s + 4 * nu - 1) * (2 * s + 2 * nu - 3))
            w = 4 * (2 * s + 2 * nu - 1) * (s + nu - 1) / ((s + 2 * nu - 1) * (2 * s + 4 * nu - 1))
        c = c1 + u * (c1 - c2) + (w / m) * (y - K @ c1)
        c2, c1 = c1, c
    return c1


def test_nu_method_classifier_equals_a_plain_loop_per_class():
    X, codes = _data()
    Y = one_hot(codes, 3)
    key = get_key("nu-method-classifier")
    params = key.check_params({"bandwidth": 1.1, "iterations": 37, "nu": 1.0})
    state = key.fit(X, Y, params)
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-d2 / (2 * 1.1**2))
    C = np.column_stack([_nu_loop(K, Y[:, j], 37, 1.0) for j in range(3)])
    np.testing.assert_allclose(state["coef"], C, rtol=0, atol=1e-8)


def test_probabilities_argmax_and_temperature():
    F = np.array([[0.2, 0.9, 0.1], [0.5, 0.4, 0.3]])
    p = softmax(F, 0.25)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-15)
    e = np.exp(F / 0.25)
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True), rtol=1e-14)


def test_fitted_temperature_against_scipy_on_the_written_out_criterion():
    """docs/keys.md: tau minimises mean_i -sum_c T_ic log softmax(F_i / tau)_c, T the Platt
    targets ((n_c + 1) / (n_c + k) on the row's class c, 1 / (n_c + k) elsewhere)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    g = np.random.default_rng(3)
    codes = g.integers(0, 3, 200)
    F = one_hot(codes, 3) * 0.3 + 0.7 * g.random((200, 3))  # not separable
    n = np.bincount(codes, minlength=3)
    T = np.array([[(n[c] + 1) / (n[c] + 3) if j == c else 1 / (n[c] + 3) for j in range(3)] for c in codes])

    def criterion(log_tau):
        return -np.mean((T * log_softmax(F / np.exp(log_tau), axis=1)).sum(1))

    ref = minimize_scalar(criterion, bounds=(np.log(1e-3), np.log(1e2)), method="bounded",
                          options={"xatol": 1e-10}).x
    tau = fit_temperature(F, codes)
    assert 2e-3 < np.exp(ref) < 50 and abs(np.log(tau) - ref) < 1e-5


def test_temperature_stays_finite_when_the_scores_separate_the_classes():
    """Two classes, every row's score gap +-delta on its own side: the plain log-loss minimiser
    is tau -> 0 (the old fit sat on the bracket floor); with Platt targets the optimum is
    sigmoid(delta / tau) = (n + 1) / (n + 2), i.e. tau = delta / log(n + 1) exactly."""
    n, delta = 40, 2.5
    codes = np.repeat([0, 1], n)
    F = np.zeros((2 * n, 2))
    F[np.arange(2 * n), codes] = delta
    assert log_loss_at(F, codes, 0.3) < log_loss_at(F, codes, 0.6) < log_loss_at(F, codes, 1.2)  # plain: tau -> 0
    assert fit_temperature(F, codes) == pytest.approx(delta / np.log(n + 1), rel=1e-6)
    np.testing.assert_allclose(platt_targets(codes, 2)[0], [(n + 1) / (n + 2), 1 / (n + 2)])


@pytest.mark.parametrize("algorithm", ["nu-method-classifier", "krr-classifier"])
def test_encapsulated_classifier_predicts_and_records_temperature(algorithm):
    X, codes = _data(n=120)
    search = {"bandwidth": [0.5, 1.0, 2.0]} if algorithm == "krr-classifier" else None
    spec = encapsulate(X, codes, algorithm=algorithm, search=search, cv=3)
    assert spec.task == "classification" and spec.preprocessing.target_mean == 0.0
    tau = spec.hyperparameters["temperature"]
    assert tau > 0 and tau != 1.0
    est = spec.build().fit(X, codes)
    P = est.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X), P.argmax(1))
    assert (est.predict(X) == codes).mean() > 0.85
    # a label matrix (a bundle's soft labels) of one-hot rows fits the same model
    np.testing.assert_allclose(spec.build().fit(X, one_hot(codes, 3)).predict_proba(X), P, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["nu-method-classifier", "krr-classifier"])
def test_torch_fit_matches_numpy_fit_and_gradchecks(algorithm):
    X, codes = _data(n=12, d=2)
    Y = one_hot(codes, 3)
    key = get_key(algorithm)
    params = key.check_params({"bandwidth": 1.0, "iterations": 9} if "nu" in algorithm else {"bandwidth": 1.0, "alpha": 1e-2})
    Xq = np.random.default_rng(2).standard_normal((5, 2))
    f = key.torch_fit(torch.tensor(X), torch.tensor(Y), params)
    np.testing.assert_allclose(f(torch.tensor(Xq)).numpy(), key.predict(key.fit(X, Y, params), Xq, params), atol=1e-10)
    Zs = torch.tensor(X, requires_grad=True)
    Ts = torch.tensor(Y * 0.8 + 0.1, requires_grad=True)
    assert torch.autograd.gradcheck(lambda Z, T: key.torch_fit(Z, T, params)(torch.tensor(Xq)), (Zs, Ts))
