"""KeySpec and the scikit-learn-style estimators it builds."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from enfo_sdk import KeyRegressor, KeySpec, Preprocessing
from enfo_sdk.errors import HyperparameterError, NotFittedError, ShapeError, UnknownAlgorithmError
from enfo_sdk.partner import TrainedModel


@parametrize_with_checks(
    [  # the partner's TrainedModel is a KeyRegressor and must pass the same checks
        cls(algorithm, hyperparameters=hp)
        for cls in (KeyRegressor, TrainedModel)
        for algorithm, hp in [("nu-method", {"bandwidth": 1.0, "iterations": 30}),
                              ("krr", {"bandwidth": 1.0, "alpha": 1e-3}), ("ridge", {"alpha": 1e-2}), ("ols", None)]
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _spec(**hp):
    pre = Preprocessing(feature_mean=[1.0, -2.0], feature_scale=[2.0, 0.5], target_mean=3.0, target_scale=4.0)
    return KeySpec(algorithm="nu-method", version=1, hyperparameters=hp or {"bandwidth": 1.0, "iterations": 20}, preprocessing=pre)


def test_spec_fills_defaults_and_round_trips_json():
    spec = _spec()
    assert spec.hyperparameters == {"bandwidth": 1.0, "iterations": 20, "nu": 1.0}
    again = KeySpec.model_validate_json(spec.model_dump_json())
    assert again == spec


def test_spec_rejects_unknown_and_bad_hyperparameters():
    with pytest.raises(HyperparameterError, match="'bandwith'"):
        _spec(bandwith=1.0, iterations=3)
    with pytest.raises(HyperparameterError, match="iterations"):
        _spec(bandwidth=1.0, iterations=0)
    with pytest.raises(HyperparameterError, match="bandwidth"):
        _spec(bandwidth=-1.0, iterations=3)
    with pytest.raises(UnknownAlgorithmError, match="available"):
        KeySpec(algorithm="gbm", version=1, hyperparameters={}, preprocessing=_spec().preprocessing)


def test_built_estimator_uses_fixed_preprocessing_in_original_units():
    spec = _spec()
    g = np.random.default_rng(0)
    X = g.normal([1, -2], [2, 0.5], size=(60, 2))
    y = 3 + 4 * np.tanh(X[:, 0] - X[:, 1])
    est = spec.build().fit(X, y)
    # the same model by hand in standardized space
    key = spec.key
    Z = (X - [1.0, -2.0]) / [2.0, 0.5]
    state = key.fit(Z, (y - 3.0) / 4.0, spec.hyperparameters)
    Xq = g.normal(size=(9, 2))
    ref = key.predict(state, (Xq - [1.0, -2.0]) / [2.0, 0.5], spec.hyperparameters) * 4.0 + 3.0
    np.testing.assert_allclose(est.predict(Xq), ref, rtol=1e-12)
    assert est.to_spec() == spec


def test_estimator_works_in_sklearn_tools_and_with_dataframes():
    g = np.random.default_rng(1)
    X = pd.DataFrame(g.normal(size=(100, 3)), columns=["a", "b", "c"])
    y = pd.Series(2 * X["a"] - X["b"] + 0.1 * g.normal(size=100), name="target")
    est = KeyRegressor("ridge", hyperparameters={"alpha": 1e-3})
    scores = cross_val_score(clone(est), X, y, cv=3)
    assert scores.mean() > 0.95
    with pytest.raises(NotFittedError):
        est.predict(X)
    est.fit(X, y)
    with pytest.raises(ShapeError, match="missing:\n- c"):
        est.predict(X[["a", "b"]])
