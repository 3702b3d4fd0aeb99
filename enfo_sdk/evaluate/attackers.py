"""Rivalry with respect to models: an *attacker zoo* trained on the bundle alone.

The paper (section 5.1.2) trains KRR and SVR on the synthetic rows and compares their test
RMSE with the key's. We widen that to seven model families a partner could try; each is
tuned by K-fold cross-validation (grid search, negative MSE) **on the synthetic rows only**
(an attacker has nothing else), inside a pipeline that standardizes the features and the
target, then refitted on all synthetic rows and scored on the owner's held-out rows.

The headline is ``best_ratio``: the best attacker's test RMSE divided by the key's test RMSE
on the same rows; above 1 means every attacker does worse than the key.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

__all__ = ["ZOO", "attacker_zoo", "make_attacker"]


def _zoo(seed: int) -> dict:
    return {
        "krr": (KernelRidge(kernel="rbf"),
                {"alpha": [1e-3, 1e-2, 1e-1, 1.0], "gamma": [0.03, 0.1, 0.3, 1.0]}),
        "svr": (SVR(kernel="rbf"),
                {"C": [0.3, 3.0, 30.0], "gamma": [0.1, 0.3, 1.0], "epsilon": [0.01, 0.1]}),
        "random_forest": (RandomForestRegressor(n_estimators=100, random_state=seed),
                          {"max_features": [0.5, 1.0], "min_samples_leaf": [1, 3]}),
        "gradient_boosting": (GradientBoostingRegressor(random_state=seed),
                              {"n_estimators": [100, 300], "learning_rate": [0.05],
                               "max_depth": [2, 3]}),
        "knn": (KNeighborsRegressor(), {"n_neighbors": [1, 3, 5, 10], "weights": ["uniform", "distance"]}),
        "mlp": (MLPRegressor(hidden_layer_sizes=(32, 32), solver="lbfgs", max_iter=500,
                             random_state=seed),
                {"alpha": [1e-3, 1e-1, 1.0]}),
        "ridge": (Ridge(), {"alpha": [1e-3, 1e-2, 1e-1, 1.0, 10.0]}),
    }


#: The attacker names, in report order.
ZOO = tuple(_zoo(0))


def make_attacker(name: str, n_rows: int, *, cv: int = 5, seed: int = 0) -> GridSearchCV:
    """The tuned (GridSearchCV) pipeline for attacker ``name`` on ``n_rows`` training rows."""
    model, grid = _zoo(seed)[name]
    folds = max(2, min(cv, n_rows))
    grid = dict(grid)
    if name == "knn":  # every k must fit in a training fold
        fold_rows = n_rows - math.ceil(n_rows / folds)
        grid["n_neighbors"] = sorted({min(k, fold_rows) for k in grid["n_neighbors"]})
    pipe = Pipeline([("scale", StandardScaler()), ("model", model)])
    wrapped = TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())
    param_grid = {f"regressor__model__{k}": v for k, v in grid.items()}
    return GridSearchCV(wrapped, param_grid, cv=KFold(folds, shuffle=True, random_state=seed),
                        scoring="neg_mean_squared_error", n_jobs=1, error_score="raise")


def attacker_zoo(X_bundle, y_bundle, X_test, y_test, *, key_rmse: float | None = None,
                 names=ZOO, cv: int = 5, seed: int = 0, progress=None) -> dict:
    """Tune every attacker on (X_bundle, y_bundle) by CV, score on the held-out rows.

    Parameters
    ----------
    X_bundle : array-like of shape (m, n_features)
    y_bundle : array-like of shape (m,)
    X_test : array-like of shape (n_test, n_features)
    y_test : array-like of shape (n_test,)
    key_rmse : float, optional
        Test RMSE of the key trained on the bundle; gives ``best_ratio``.
    progress : callable, optional
        ``progress(fraction)`` after each attacker.

    Returns
    -------
    dict
        ``models``: {name: {"rmse", "params"}}, ``best``: name, ``best_rmse``, and with
        ``key_rmse`` also ``key_rmse`` and ``best_ratio``.
    """
    Xb = np.asarray(X_bundle, dtype=np.float64)
    yb = np.asarray(y_bundle, dtype=np.float64)
    Xt = np.asarray(X_test, dtype=np.float64)
    yt = np.asarray(y_test, dtype=np.float64)
    models = {}
    for i, name in enumerate(names):
        search = make_attacker(name, len(yb), cv=cv, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(Xb, yb)
        r = search.predict(Xt) - yt
        models[name] = {
            "rmse": float(np.sqrt(np.mean(r * r))),
            "params": {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()},
        }
        if progress is not None:
            progress((i + 1) / len(names))
    best = min(models, key=lambda k: models[k]["rmse"])
    out = {"models": models, "best": best, "best_rmse": models[best]["rmse"]}
    if key_rmse is not None:
        out["key_rmse"] = float(key_rmse)
        out["best_ratio"] = models[best]["rmse"] / key_rmse if key_rmse > 0 else None
    return out
