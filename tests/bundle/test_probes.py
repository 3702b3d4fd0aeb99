"""Probe rebuilding in plain numpy equals the scikit-learn estimator path, value for value."""

from __future__ import annotations

import numpy as np
import pytest

from enfo_sdk.bundle.probes import check_probes, probe_points, probe_seed, rebuild_predictions
from enfo_sdk.errors import DataError, ReconstructionError

from . import helpers

def _rows(result):
    X = result.data[result.feature_names].to_numpy(dtype=np.float64)
    y = result.data[result.target_name].to_numpy(dtype=np.float64)
    return X, y


@pytest.mark.parametrize("algorithm", sorted(helpers.KEY_PARAMS))
def test_numpy_rebuild_equals_the_estimator_bitwise(result, algorithm):
    spec = helpers.with_algorithm(result.spec, algorithm, **helpers.KEY_PARAMS[algorithm])
    X, y = _rows(result)
    points = probe_points(spec.preprocessing, 16, probe_seed("bundle-id"))
    mine = rebuild_predictions(spec, X, y, points)
    reference = spec.build().fit(X, y).predict(points)  # the scikit-learn-style estimator
    assert mine.dtype == np.float64 and mine.shape == (16,)
    np.testing.assert_array_equal(mine, reference)


def test_rebuild_refuses_what_the_estimator_refused(result):
    X, y = _rows(result)
    spec = result.spec
    points = probe_points(spec.preprocessing, 4, 0)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(DataError, match=r"x2 \(1 NaN, 0 infinite; first in data row 4\)"):
        rebuild_predictions(spec, X_nan, y, points)
    with pytest.raises(DataError, match="at least 2 distinct rows"):
        rebuild_predictions(spec, np.repeat(X[:1], 5, axis=0), np.repeat(y[:1], 5), points)
    bad_points = points.copy()
    bad_points[0, 0] = np.inf
    with pytest.raises(DataError, match="probe points has missing or infinite values in column"):
        rebuild_predictions(spec, X, y, bad_points)
    with pytest.raises(ReconstructionError, match="rebuilding the nu-method v1 key on the bundle rows failed"):
        check_probes(spec, X_nan, y, points, np.zeros(4))
