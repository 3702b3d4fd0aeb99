"""Linear keys: ``ols`` v1 and ``ridge`` v1.

``ols``: least squares with an intercept, no hyperparameters.
``ridge``: minimise (1/m)|t - Z b - b0|^2 + alpha |b|^2, the intercept not penalised. With
centred data Zc, tc the solution is b = (Zc^T Zc + alpha m I)^-1 Zc^T tc and
b0 = mean(t) - mean(Z) b; alpha = 0 is the ``ols`` solution when Zc has full column rank.

The torch fits solve the same normal equations with ``torch.linalg.solve`` (plain autograd);
only they import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import Hyperparameter, Key

if TYPE_CHECKING:
    import torch


def _ridge_numpy(Z: np.ndarray, t: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    m, d = Z.shape
    zm, tm = Z.mean(0), t.mean()
    Zc, tc = Z - zm, t - tm
    A = Zc.T @ Zc + alpha * m * np.eye(d)
    b = np.linalg.solve(A, Zc.T @ tc)
    return b, float(tm - zm @ b)


def _ridge_torch(Z: torch.Tensor, t: torch.Tensor, alpha: float):
    import torch

    m, d = Z.shape
    zm, tm = Z.mean(0), t.mean()
    Zc, tc = Z - zm, t - tm
    A = Zc.T @ Zc + alpha * m * torch.eye(d, dtype=Z.dtype, device=Z.device)
    b = torch.linalg.solve(A, Zc.T @ tc)
    return b, tm - zm @ b


class OLS(Key):
    name = "ols"
    version = 1
    row_state = ()

    def fit(self, Z, t, params):
        m = Z.shape[0]
        A = np.hstack([np.ones((m, 1)), Z])
        sol, *_ = np.linalg.lstsq(A, t, rcond=None)
        return {"intercept": np.array([sol[0]]), "coef": sol[1:].copy()}

    def predict(self, state, Z, params):
        return Z @ state["coef"] + state["intercept"][0]

    def torch_fit(self, Zs, ts, params):
        b, b0 = _ridge_torch(Zs, ts, 0.0)
        return lambda Zq: Zq @ b + b0


class Ridge(Key):
    name = "ridge"
    version = 1
    hyperparameters = (
        Hyperparameter("alpha", float, None, 0.0, low_inclusive=True, high=1e6, doc="penalty alpha in [0, 1e6]"),
    )
    estimator_defaults = {"alpha": 1e-3}

    def fit(self, Z, t, params):
        b, b0 = _ridge_numpy(Z, t, params["alpha"])
        return {"intercept": np.array([b0]), "coef": b}

    def predict(self, state, Z, params):
        return Z @ state["coef"] + state["intercept"][0]

    def torch_fit(self, Zs, ts, params):
        b, b0 = _ridge_torch(Zs, ts, params["alpha"])
        return lambda Zq: Zq @ b + b0

    def default_search(self, n_rows):
        return {"alpha": [float(v) for v in np.geomspace(1e-6, 10.0, 15)]}

    def widen(self, name, values, side):
        v = sorted(values)
        if side == "low" and v[0] > 1e-12:
            return [v[0] / 100, v[0] / 10] + v
        if side == "high" and v[-1] < 1e6:
            return v + [v[-1] * 10, v[-1] * 100]
        return None
