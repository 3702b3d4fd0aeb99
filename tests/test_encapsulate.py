"""Encapsulation: CV choice against a brute-force reference, edges, errors."""

import time
import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold

from enfo_sdk import EdgeOfGridWarning, KeySpec, encapsulate
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import DataError, HyperparameterError, UnknownAlgorithmError
from enfo_sdk.keys import get_key
from enfo_sdk.preprocessing import Preprocessing


@pytest.fixture(scope="module")
def data():
    df = friedman3(n=500, noise=0.1, seed=1)
    return df.drop(columns="y"), df["y"]


def test_nu_method_path_search_matches_brute_force_refits(data):
    """The all-folds-at-once iteration path gives the same CV error as refitting per T."""
    X, y = data
    with pytest.warns(EdgeOfGridWarning):  # this small user grid is not meant to bracket
        enc = encapsulate(X, y, search={"bandwidth": [0.7, 1.0, 1.4], "iterations": [5, 20, 60]},
                          cv=4, seed=2, return_search=True)
    key = get_key("nu-method")
    pre = Preprocessing.fit(X.to_numpy(), y.to_numpy())
    Z, t = pre.transform_X(X.to_numpy()), pre.transform_y(y.to_numpy())
    folds = np.array_split(np.random.default_rng(2).permutation(len(t)), 4)
    for row in enc.search.table:
        p = key.check_params({"bandwidth": row["bandwidth"], "iterations": row["iterations"]})
        sse = 0.0
        for val in folds:
            tr = np.setdiff1d(np.arange(len(t)), val)
            r = key.predict(key.fit(Z[tr], t[tr], p), Z[val], p) - t[val]
            sse += r @ r
        # the search multiplies with a float32 kernel; 1e-4 relative is ample for ranking
        assert row["cv_mse"] == pytest.approx(sse / len(t), rel=1e-4)
    best = min(enc.search.table, key=lambda r: r["cv_mse"])
    assert enc.spec.hyperparameters["bandwidth"] == best["bandwidth"]
    assert enc.spec.hyperparameters["iterations"] == best["iterations"]


@pytest.mark.parametrize("algorithm", ["ridge", "krr"])
def test_grid_search_matches_sklearn_folds(data, algorithm):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EdgeOfGridWarning)  # max_widen=0: edges are allowed here
        enc = encapsulate(X, y, algorithm=algorithm, cv=3, return_search=True, max_widen=0)
    assert isinstance(enc.spec, KeySpec) and enc.spec.algorithm == algorithm
    scores = [r["cv_mse"] for r in enc.search.table]
    assert enc.search.best_score == min(scores)


def test_default_search_is_not_on_the_edge_for_friedman3():
    df = friedman3(n=1500, noise=0.1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EdgeOfGridWarning)
        enc = encapsulate(df.drop(columns="y"), df["y"], return_search=True)
    bws = sorted({r["bandwidth"] for r in enc.search.table})
    grid = enc.grid["bandwidth"]
    assert grid[0] < enc.spec.hyperparameters["bandwidth"] < grid[-1]
    assert enc.spec.hyperparameters["iterations"] < enc.grid["iterations"]["max"]
    assert len(bws) >= 3


def test_edge_is_widened_or_warned(data):
    X, y = data
    # a user grid far too small: the best bandwidth is its top edge; user grids are
    # not widened, the edge is reported and warned about
    with pytest.warns(EdgeOfGridWarning, match="bandwidth=0.07"):
        enc = encapsulate(X, y, search={"bandwidth": [0.05, 0.07], "iterations": {"max": 100}},
                          return_search=True, max_widen=0)
    assert "bandwidth" in enc.search.at_edge
    with pytest.warns(EdgeOfGridWarning, match="alpha=50.0"):
        encapsulate(X, y, algorithm="ridge", search={"alpha": [50.0, 100.0]})
    # the default ridge grid is widened past its low edge instead (Friedman #3 wants a small alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EdgeOfGridWarning)
        enc = encapsulate(X, y, algorithm="ridge", search=None, return_search=True)
    assert enc.grid["alpha"][0] < enc.spec.hyperparameters["alpha"] < enc.grid["alpha"][-1]


def test_errors(data):
    X, y = data
    with pytest.raises(UnknownAlgorithmError, match="nu-method v1"):
        encapsulate(X, y, algorithm="xgboost")
    with pytest.raises(HyperparameterError, match="'bandwith'"):
        encapsulate(X, y, search={"bandwith": [1.0]})
    with pytest.raises(HyperparameterError, match="cv"):
        encapsulate(X, y, cv=1)
    with pytest.raises(DataError, match="non-numeric"):
        encapsulate(X.assign(x4="z"), y)
