r"""Classification keys: the nu-method and kernel ridge on one-hot targets, with a temperature.

For k classes a row's target is its one-hot label y in {0, 1}^k (a forged row: a label
distribution on the simplex). The targets are **not** standardized (``target_mean`` 0,
``target_scale`` 1); the features are, as for regression. With m training rows, kernel
matrix K (Gaussian, bandwidth s) and the (m, k) label matrix Y, one coefficient column per
class on the shared kernel:

* ``nu-method-classifier`` v1: C = the nu-method recursion of ``nu-method`` v1 run on Y
  (each column independently, the same u_t, w_t, K): C_t = C_{t-1} + u_t (C_{t-1} - C_{t-2})
  + (w_t / m)(Y - K C_{t-1}), t = 1..T;
* ``krr-classifier`` v1: C = (K + alpha m I)^{-1} Y (scikit-learn's ``KernelRidge(kernel="rbf",
  gamma=1/(2 s^2), alpha=alpha m)`` fitted on the one-hot matrix, tested to 1e-8).

Scores F(z) = sum_i C_i k(z, z_i) (a row of k numbers); the predicted class is argmax_c F_c(z)
(the first on ties); the probabilities are the softmax of the scores at a temperature tau,

    p_c(z) = exp(F_c(z) / tau) / sum_j exp(F_j(z) / tau),

with tau the ``temperature`` hyperparameter: the owner fits it (:func:`fit_temperature`, the
log-loss minimiser over a bracket) on held-out rows -- encapsulation on the out-of-fold scores
of the chosen key, forging again on its validation rows for the key trained on the forged rows
-- and the manifest records it. tau does not change the class, only the probabilities.

Encapsulation scores hyperparameters by the squared error on the one-hot targets (the Brier
score times k), summed over classes and averaged over rows, like the regression keys' MSE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .base import Hyperparameter, SearchResult
from .krr import KRR
from .nu_method import NuMethod, _path_mse

__all__ = ["NuMethodClassifier", "KRRClassifier", "softmax", "fit_temperature", "one_hot",
           "platt_targets", "cross_entropy_at", "log_loss_at", "TEMPERATURE_BRACKET"]

#: The range :func:`fit_temperature` searches (log-uniform bracket, then golden section).
TEMPERATURE_BRACKET = (1e-3, 1e2)

_TEMPERATURE = Hyperparameter("temperature", float, 1.0, 0.0,
                              doc="softmax temperature tau > 0 of the probabilities (fitted by the owner)")


def one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    """The (n, k) one-hot matrix of class codes 0..k-1."""
    codes = np.asarray(codes).astype(np.int64)
    out = np.zeros((len(codes), int(k)))
    out[np.arange(len(codes)), codes] = 1.0
    return out


def softmax(F: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of scores ``F`` (n, k) at ``temperature`` (stable: the row maximum is
    subtracted first)."""
    A = np.asarray(F, dtype=np.float64) / float(temperature)
    A = A - A.max(axis=1, keepdims=True)
    E = np.exp(A)
    return E / E.sum(axis=1, keepdims=True)


def log_loss_at(F: np.ndarray, codes: np.ndarray, temperature: float) -> float:
    """Mean negative log-probability of the true classes under ``softmax(F / temperature)``."""
    return cross_entropy_at(F, one_hot(codes, np.asarray(F).shape[1]), temperature)


def cross_entropy_at(F: np.ndarray, T: np.ndarray, temperature: float) -> float:
    """Mean over rows of -sum_c T[i, c] log softmax(F[i] / temperature)_c for target rows ``T``
    (n, k) on the simplex (one-hot rows give the log-loss)."""
    A = np.asarray(F, dtype=np.float64) / float(temperature)
    A = A - A.max(axis=1, keepdims=True)
    lse = np.log(np.exp(A).sum(axis=1))
    return float(np.mean(lse - (np.asarray(T, dtype=np.float64) * A).sum(axis=1)))


def platt_targets(codes: np.ndarray, k: int) -> np.ndarray:
    """The calibration targets of rows with true classes ``codes``: a row of class c gets
    (n_c + 1) / (n_c + k) on c and 1 / (n_c + k) on every other class, n_c the rows of class c.

    For k = 2 these are Platt's targets (Platt 1999, "Probabilistic outputs for support vector
    machines", section 2.2; scikit-learn's sigmoid calibration uses them too): they keep the
    fitted temperature finite when the scores separate the classes perfectly.
    """
    codes = np.asarray(codes).astype(np.int64)
    n_c = np.bincount(codes, minlength=int(k)).astype(np.float64)[codes]
    T = np.repeat((1.0 / (n_c + k))[:, None], int(k), axis=1)
    T[np.arange(len(codes)), codes] = (n_c + 1.0) / (n_c + k)
    return T


def fit_temperature(F: np.ndarray, codes: np.ndarray, targets: str = "platt") -> float:
    """The temperature minimising the cross-entropy of ``softmax(F / tau)`` against the Platt
    targets of ``codes`` (:func:`platt_targets`), for scores ``F`` (n, k); ``targets="one_hot"``
    minimises the plain log-loss instead (the fit before the Platt targets, kept for the
    benchmark that compares them: ``benchmarks/classification_temperature.py``).

    The criterion is convex in 1/tau; the minimiser is searched in log tau over
    :data:`TEMPERATURE_BRACKET`: a 41-point grid, then golden-section refinement to 1e-6
    relative. Deterministic (no randomness, no library optimiser). With one-hot targets
    (plain log-loss) scores that separate the calibration rows perfectly drive tau to 0 (the
    bracket's floor) and the probabilities to 0/1; the Platt targets give a finite minimiser.
    """
    k = np.asarray(F).shape[1]
    if targets not in ("platt", "one_hot"):
        raise ValueError(f"targets must be 'platt' or 'one_hot', got {targets!r}")
    T = platt_targets(codes, k) if targets == "platt" else one_hot(codes, k)

    def loss(g: float) -> float:
        return cross_entropy_at(F, T, np.exp(g))

    lo, hi = np.log(TEMPERATURE_BRACKET[0]), np.log(TEMPERATURE_BRACKET[1])
    grid = np.linspace(lo, hi, 41)
    vals = [loss(g) for g in grid]
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    r = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > 1e-6:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2.0))


class _Classifier:
    """What both classification keys add to their regression base: the task, the temperature,
    multi-output CV, and out-of-fold scores for fitting the temperature."""

    task = "classification"

    def oof_scores(self, Z: np.ndarray, Y: np.ndarray, folds: Sequence[np.ndarray], params) -> np.ndarray:
        """Out-of-fold scores (n, k): each fold predicted by the key fitted on the others."""
        F = np.zeros_like(Y, dtype=np.float64)
        n = len(Y)
        for val in folds:
            train = np.setdiff1d(np.arange(n), val)
            F[val] = self.predict(self.fit(Z[train], Y[train], params), Z[val], params)
        return F


class KRRClassifier(_Classifier, KRR):
    name = "krr-classifier"
    version = 1
    hyperparameters = KRR.hyperparameters + (_TEMPERATURE,)

    def cv_score(self, Z, t, folds, params) -> float:
        """Squared error on the one-hot targets per row (summed over classes), out of fold."""
        return float(((self.oof_scores(Z, t, folds, params) - t) ** 2).sum() / len(t))

    def cv_search(self, Z, t, folds, search, progress=None, cache=None) -> SearchResult:
        result = super().cv_search(Z, t, folds, {k: v for k, v in search.items() if k != "temperature"}, progress,
                                   cache=cache)
        result.best_params.pop("temperature", None)  # fitted afterwards, not searched
        return result


class NuMethodClassifier(_Classifier, NuMethod):
    name = "nu-method-classifier"
    version = 1
    hyperparameters = NuMethod.hyperparameters + (_TEMPERATURE,)

    def cv_search(self, Z, t, folds, search, progress=None, cache=None) -> SearchResult:
        """The regression key's search (bandwidth walk, whole iteration path per bandwidth, folds
        together) on the k one-hot columns at once (:meth:`path_mse`); the temperature is not
        searched (the owner fits it afterwards)."""
        return super().cv_search(Z, t, folds, {k: v for k, v in search.items() if k != "temperature"}, progress,
                                 cache=cache)

    def path_mse(self, K, t, folds, T_max, nu, adaptive):
        """Validation squared error per row, summed over the classes, along the path."""
        return _path_mse_multi(K, t, folds, T_max, nu, adaptive)


def _path_mse_multi(K, Y, folds, T_max, nu, adaptive):
    """Validation squared error per row (summed over the k classes) for T = 0..T_stop: the
    regression path with one column per (fold, class), fold-major."""
    n, k = Y.shape
    train = np.ones((n, len(folds)), dtype=bool)
    for f, val in enumerate(folds):
        train[val, f] = False
    train = np.repeat(train, k, axis=1)
    target = np.tile(Y, len(folds))
    m = train.sum(0).astype(np.float64)
    return _path_mse(K, target, np.where(train, target, 0.0), train, ~train, m, T_max, nu, adaptive)


def probabilities(key, state, Z: np.ndarray, params: Mapping) -> np.ndarray:
    """Class probabilities (n, k) of a fitted classification key at standardized rows ``Z``."""
    return softmax(key.predict(state, Z, params), params["temperature"])


def torch_log_loss(F: torch.Tensor, Y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean cross-entropy of label rows ``Y`` (n, k; one-hot or distributions) under
    ``softmax(F / temperature)`` (differentiable)."""
    import torch

    return -(Y * torch.log_softmax(F / float(temperature), dim=1)).sum(1).mean()

