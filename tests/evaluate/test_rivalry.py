"""The forge's rivalry check: attackers against an independent sequential run, the time budget,
reused predictions, bootstrap intervals."""

import numpy as np
import pytest

from enfo_sdk.data.builtin import friedman3
from enfo_sdk.evaluate.attackers import make_attacker
from enfo_sdk.evaluate.rivalry import bootstrap_ratio, rivalry_check


@pytest.fixture(scope="module")
def rows():
    import warnings

    from enfo_sdk import encapsulate

    df = friedman3(n=700, noise=0.1, seed=5)
    X, y = df.drop(columns="y").to_numpy(), df["y"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-point grid is on its own edge
        spec = encapsulate(X[:500], y[:500], search={"bandwidth": [2.0], "iterations": [200]}, cv=3,
                           max_widen=0)
    return spec, X[:60], y[:60], X[500:], y[500:], X[60:500], y[60:500]


def test_attackers_equal_a_sequential_run_in_the_zoos_order(rows):
    spec, Xf, yf, Xt, yt, _, _ = rows
    names = ("ridge", "knn", "krr", "random_forest")
    check = rivalry_check(spec, Xf, yf, Xt, yt, seconds=600, names=names, seed=3)
    assert list(check.attackers) == list(names) and check.skipped == []
    key = spec.build().fit(Xf, yf).predict(Xt)
    key_rmse = np.sqrt(np.mean((key - yt) ** 2))
    for name in names:  # each attacker fitted again here, alone, on this thread
        search = make_attacker(name, len(yf), seed=3).fit(Xf, yf)
        rmse = np.sqrt(np.mean((search.predict(Xt) - yt) ** 2))
        assert check.attackers[name]["rmse"] == pytest.approx(rmse, rel=1e-12)
        assert check.attackers[name]["ratio"] == pytest.approx(rmse / key_rmse, rel=1e-12)
    best = min(names, key=lambda n: check.attackers[n]["rmse"])
    assert check.best == best and check.ratio[0] == pytest.approx(check.attackers[best]["ratio"], rel=1e-12)


def test_a_spent_budget_runs_one_attacker_per_thread(rows):
    """Whatever the scheduling, each of the two threads runs its first attacker; the budget
    stops the rest."""
    from enfo_sdk.evaluate.rivalry import ATTACKER_THREADS

    spec, Xf, yf, Xt, yt, _, _ = rows
    names = ("ridge", "knn", "krr", "svr")
    for seconds in (0.0, 1e-3):
        check = rivalry_check(spec, Xf, yf, Xt, yt, seconds=seconds, names=names)
        assert list(check.attackers) == list(names[:ATTACKER_THREADS])
        assert check.skipped == list(names[ATTACKER_THREADS:])


def test_reused_predictions_give_the_same_figures(rows):
    spec, Xf, yf, Xt, yt, Xa, ya = rows
    names = ("ridge",)
    fitted = rivalry_check(spec, Xf, yf, Xt, yt, X_full=Xa, y_full=ya, names=names)
    key = spec.build().fit(Xf, yf).predict(Xt)
    full = spec.build().fit(Xa, ya).predict(Xt)
    reused = rivalry_check(spec, Xf, yf, Xt, yt, names=names, pred_key=key, pred_full=full)
    assert reused.key_vs_full == pytest.approx(fitted.key_vs_full, rel=1e-12)
    assert reused.ratio == pytest.approx(fitted.ratio, rel=1e-12)


def test_bootstrap_ratio_point_and_interval():
    g = np.random.default_rng(0)
    y = g.normal(size=200)
    a, b = y + 0.3 * g.normal(size=200), y + 0.2 * g.normal(size=200)
    point, low, high = bootstrap_ratio(a, b, y, resamples=500)
    assert point == pytest.approx(np.sqrt(np.mean((a - y) ** 2) / np.mean((b - y) ** 2)), rel=1e-12)
    assert low < point < high and 1.0 < low  # a is clearly worse than b on 200 rows


def test_mean_only_is_the_feature_blind_model_and_the_table_says_when_the_target_is_out_of_reach(rows):
    from enfo_sdk.report_table import _rivalry_lines

    spec, Xf, yf, Xt, yt, _, _ = rows
    check = rivalry_check(spec, Xf, yf, Xt, yt, names=("ridge",))
    key = spec.build().fit(Xf, yf).predict(Xt)
    # an independent reference: the forged targets' mean as the prediction, over the key
    blind = np.sqrt(np.mean((yf.mean() - yt) ** 2)) / np.sqrt(np.mean((key - yt) ** 2))
    assert check.mean_only[0] == pytest.approx(blind, rel=1e-12)
    assert check.mean_only[1] <= check.mean_only[0] <= check.mean_only[2]
    assert blind > 1.2  # the key on 60 Friedman #3 rows is better than knowing nothing (x1.30)
    lines = _rivalry_lines(check.to_json())
    assert any(line.startswith("mean only / key") for line in lines)
    # a target above the whole mean-only interval: the warning says it is out of reach here
    high = {**check.to_json(), "below_target": True, "target": check.mean_only[2] * 1.01}
    text = "\n".join(_rivalry_lines(high))
    assert "out of reach on this table" in text
    low = {**check.to_json(), "below_target": True, "target": check.mean_only[1]}
    assert "out of reach" not in "\n".join(_rivalry_lines(low))
