"""Kernel ridge regression, ``krr`` v1.

Gaussian kernel k(z, z') = exp(-|z - z'|^2 / (2 s^2)), coefficients c = (K + alpha m I)^-1 t,
f(z) = sum_i c_i k(z, z_i). This equals scikit-learn's ``KernelRidge(kernel="rbf",
gamma=1/(2 s^2), alpha=alpha*m)`` (tested). The torch fit uses ``torch.linalg.solve`` and
imports torch itself; fit and predict are numpy only.
"""

from __future__ import annotations

import numpy as np

from .base import Hyperparameter, Key
from .kernels import gaussian


class KRR(Key):
    name = "krr"
    version = 1
    hyperparameters = (
        Hyperparameter("bandwidth", float, None, 1e-6, low_inclusive=True, high=1e6,
                       doc="Gaussian kernel bandwidth s in [1e-6, 1e6] (standardized units)"),
        Hyperparameter("alpha", float, None, 0.0, high=1e6, doc="penalty alpha in (0, 1e6]"),
    )
    row_state = ("train_rows", "coef")
    estimator_defaults = {"bandwidth": 1.0, "alpha": 1e-3}

    def fit(self, Z, t, params):
        m = Z.shape[0]
        K = gaussian(Z, Z, params["bandwidth"])
        K[np.diag_indices(m)] += params["alpha"] * m
        c = np.linalg.solve(K, t)
        return {"train_rows": np.array(Z, dtype=np.float64), "coef": c}

    def predict(self, state, Z, params):
        return gaussian(Z, state["train_rows"], params["bandwidth"]) @ state["coef"]

    def torch_fit(self, Zs, ts, params):
        import torch

        from .kernels_torch import gaussian_torch

        m = Zs.shape[0]
        s = params["bandwidth"]
        K = gaussian_torch(Zs, Zs, s)
        c = torch.linalg.solve(K + params["alpha"] * m * torch.eye(m, dtype=Zs.dtype, device=Zs.device), ts)
        return lambda Zq: gaussian_torch(Zq, Zs, s) @ c

    def default_search(self, n_rows):
        return {
            "bandwidth": [float(v) for v in np.geomspace(0.125, 4.0, 6)],
            "alpha": [float(v) for v in np.geomspace(1e-7, 1e-1, 7)],
        }

    def widen(self, name, values, side):
        v = sorted(values)
        ratio = v[1] / v[0] if len(v) > 1 else 2.0
        lo, hi = (1e-3, 1e3) if name == "bandwidth" else (1e-14, 1e4)
        if side == "low" and v[0] > lo:
            return [v[0] / ratio**2, v[0] / ratio] + v
        if side == "high" and v[-1] < hi:
            return v + [v[-1] * ratio, v[-1] * ratio**2]
        return None
