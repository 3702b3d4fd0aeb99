"""The attacker zoo and the external-data rivalry on real rows (no rivalry expected there)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from enfo_sdk import encapsulate
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.evaluate.attackers import ZOO, attacker_zoo
from enfo_sdk.evaluate.utility import external_rivalry, key_rmse

FEATURES = ["x1", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def friedman():
    df = friedman3(n=2400, seed=3)
    X, y = df[FEATURES].to_numpy(), df["y"].to_numpy()
    spec = encapsulate(df[FEATURES][:1200], df["y"][:1200], algorithm="nu-method",
                       search={"bandwidth": [1.0, 2.0, 4.0], "iterations": {"max": 400}})
    return spec, X[:1200], y[:1200], X[1200:], y[1200:]


def test_zoo_on_real_sampled_rows_is_close_to_the_key(friedman):
    """Real rows are not rival: the best tuned attacker is at most a few percent worse."""
    spec, X, y, Xt, yt = friedman
    pick = np.random.default_rng(0).choice(len(y), 150, replace=False)
    key = key_rmse(spec, X[pick], y[pick], Xt, yt)
    out = attacker_zoo(X[pick], y[pick], Xt, yt, key_rmse=key)
    assert set(out["models"]) == set(ZOO)
    assert out["best_ratio"] <= 1.05
    # the RMSE reported is the RMSE of the tuned model: check one against a direct refit
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.compose import TransformedTargetRegressor
    alpha = out["models"]["ridge"]["params"]["alpha"]
    ref = TransformedTargetRegressor(make_pipeline(StandardScaler(), Ridge(alpha=alpha)),
                                     transformer=StandardScaler()).fit(X[pick], y[pick])
    r = ref.predict(Xt) - yt
    assert out["models"]["ridge"]["rmse"] == pytest.approx(np.sqrt(np.mean(r * r)), rel=1e-9)


def test_zoo_prefers_the_right_family():
    """On a linear target every tuned model is scored, and ridge beats k-NN clearly."""
    g = np.random.default_rng(1)
    X = g.uniform(-1, 1, size=(120, 3))
    Xt = g.uniform(-1, 1, size=(500, 3))
    w = np.array([2.0, -1.0, 0.5])
    y, yt = X @ w + 0.05 * g.standard_normal(120), Xt @ w
    out = attacker_zoo(X, y, Xt, yt, names=("ridge", "knn"))
    assert out["best"] == "ridge"
    assert out["models"]["knn"]["rmse"] > 2 * out["models"]["ridge"]["rmse"]


def test_external_real_rows_help_a_sampled_bundle():
    """More real rows improve OLS (the opposite of what a rival bundle should show)."""
    g = np.random.default_rng(2)
    w = np.array([1.0, -2.0, 0.5, 0.0])

    def draw(n):
        X = g.standard_normal((n, 4))
        return X, X @ w + g.standard_normal(n)

    (Xb, yb), (Xe, ye), (Xt, yt) = draw(12), draw(1000), draw(2000)
    import pandas as pd
    spec = encapsulate(pd.DataFrame(Xe, columns=FEATURES), pd.Series(ye), algorithm="ols")
    out = external_rivalry(spec, Xb, yb, Xe, ye, Xt, yt)
    ref = LinearRegression().fit(np.vstack([Xb, Xe]), np.r_[yb, ye])
    r = ref.predict(Xt) - yt
    assert out["augmented"] == pytest.approx(np.sqrt(np.mean(r * r)), rel=1e-6)
    assert out["change"] < 0 and out["external_rows"] == 1000
