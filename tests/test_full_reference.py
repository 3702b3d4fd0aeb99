"""The forge run's full-data reference: fitted once, on first use, equal to a direct fit."""

from types import SimpleNamespace

import numpy as np
import pytest

from enfo_sdk.data.builtin import friedman3
from enfo_sdk.workflows.protocol import FullReference, key_predictions


@pytest.fixture(scope="module")
def split():
    df = friedman3(n=1400, noise=0.1, seed=3)
    X, y = df.drop(columns="y").to_numpy(), df["y"].to_numpy()
    # what FullReference.start reads of an OwnerSplit: the training arrays and the held-out rows
    return SimpleNamespace(train_arrays=(X[:1100], y[:1100]), X_test=X[1100:], y_test=y[1100:])


@pytest.fixture(scope="module")
def spec(split):
    import warnings

    from enfo_sdk import encapsulate

    X, y = split.train_arrays
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-point grid is on its own edge
        return encapsulate(X, y, search={"bandwidth": [2.0], "iterations": [300]}, cv=3, max_widen=0)


def test_predictions_equal_a_direct_fit_and_are_fitted_once(split, spec, monkeypatch):
    from enfo_sdk.workflows import protocol

    test = np.arange(0, 300, 2)
    ref = FullReference.start(spec, split, 0, test)
    calls = []
    real = protocol.key_predictions
    monkeypatch.setattr(protocol, "key_predictions", lambda *a: (calls.append(1), real(*a))[1])
    pred = ref.predictions()
    assert ref.predictions() is pred and len(calls) == 1  # the full figure and the rivalry check share it
    X, y = split.train_arrays
    direct = spec.build().fit(X, y).predict(split.X_test[test])
    np.testing.assert_allclose(pred, direct, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pred, key_predictions(spec, X, y, split.X_test[test]), rtol=0, atol=0)


def test_an_error_in_the_fit_is_raised_by_predictions(split, spec):
    bad = spec.model_copy(update={"hyperparameters": {**spec.hyperparameters, "bandwidth": -1.0}})
    ref = FullReference.start(bad, split, 0, np.arange(10))
    with pytest.raises(Exception, match="bandwidth"):
        ref.predictions()
