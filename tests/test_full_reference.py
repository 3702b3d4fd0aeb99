"""The forge run's full-data reference, fitted on a background thread while forging runs."""

from types import SimpleNamespace

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from enfo_sdk.data.builtin import friedman3
from enfo_sdk.workflows.forge_run import FullReference, key_predictions


def _threads():
    return [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]


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


def test_background_fit_equals_the_foreground_one(split, spec):
    before = _threads()
    test = np.arange(0, 300, 2)
    ref = FullReference.start(spec, split, 0, test)
    assert all(n == 1 for api, n in _threads() if api == "blas")  # held while it runs
    pred = ref.predictions()
    assert _threads() == before  # given back
    X, y = split.train_arrays
    np.testing.assert_allclose(pred, key_predictions(spec, X, y, split.X_test[test]), rtol=1e-12, atol=1e-12)


def test_an_error_in_the_background_is_raised_by_predictions(split, spec):
    before = _threads()
    bad = spec.model_copy(update={"hyperparameters": {**spec.hyperparameters, "bandwidth": -1.0}})
    ref = FullReference.start(bad, split, 0, np.arange(10))
    with pytest.raises(Exception) as info:
        ref.predictions()
    assert "bandwidth" in str(info.value)
    assert _threads() == before
