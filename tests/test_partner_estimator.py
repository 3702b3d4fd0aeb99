"""The partner's trained key as a scikit-learn estimator (enfo_sdk.partner.TrainedModel).

scikit-learn's estimator checks run on TrainedModel beside KeyRegressor in tests/test_spec.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from enfo_sdk.bundle import verify, write_bundle
from enfo_sdk.errors import DataError, NotFittedError
from enfo_sdk.partner import TrainedModel, load_model, save_model, train
from enfo_sdk.signing import TrustStore, generate_private_key

try:  # tests/ is on sys.path (pytest's rootdir-less import mode)
    from bundle import helpers
except ImportError:  # pragma: no cover
    from tests.bundle import helpers


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    key = generate_private_key()
    trust = TrustStore()
    trust.add("acme", key.public_key())
    path = tmp_path_factory.mktemp("estimator") / "bundle.parquet"
    write_bundle(path, helpers.forged(), signing_key=key, owner_name="acme")
    return verify(path, trust)


def test_trained_and_loaded_models_are_regressors_with_provenance(verified, tmp_path):
    model = train(verified)
    loaded = load_model(save_model(model, tmp_path / "m.parquet", verified))
    m = verified.manifest
    for est in (model, loaded):
        assert isinstance(est, TrainedModel) and is_regressor(est)
        assert est.bundle_id_ == m.bundle_id and est.signer_fingerprint_ == verified.fingerprint
        assert est.feature_names_ == ["x1", "x2", "x3", "x4"] and est.target_name_ == "y"
        assert list(est.get_feature_names_out()) == ["y"]
        assert est.get_params() == m.key.build().get_params()  # the key's recipe, exactly
    # the state is bit-exact (test_partner.py); only BLAS summation order over its memory layout may differ
    np.testing.assert_allclose(loaded.predict(verified.X), model.predict(verified.X), rtol=1e-12, atol=0)


def test_clone_is_the_untrained_key_and_fit_clears_provenance(verified):
    model = train(verified)
    fresh = clone(model)
    assert type(fresh) is TrainedModel and not hasattr(fresh, "state_")
    with pytest.raises(NotFittedError):
        fresh.predict(verified.X)
    with pytest.raises(NotFittedError):
        fresh.get_feature_names_out()
    X = helpers.owner_table().head(60)
    fresh.fit(X.drop(columns="y"), X["y"])
    assert fresh.bundle_id_ is None and fresh.signer_fingerprint_ is None and fresh.target_name_ == "y"
    assert fresh.bundle_id is None  # the old attribute name still answers
    assert model.bundle_id == verified.manifest.bundle_id  # the original is untouched


def test_in_a_pipeline_and_cross_val_score(verified):
    """Pipeline(select features -> key) fitted on the bundle predicts what the owner's key does (1e-6);
    cross_val_score on the partner's rows equals a hand-written K-fold of the bare key."""
    owner = helpers.owner_table()
    owner_pred = helpers.forged().model().predict(owner.drop(columns="y").to_numpy())
    features = verified.manifest.task.features
    pipe = make_pipeline(
        ColumnTransformer([("features", "passthrough", features)], remainder="drop"),
        train(verified),
    )
    pipe.fit(verified.data, verified.data["y"])  # wider frame in, the key refit on the bundle
    np.testing.assert_allclose(pipe.predict(owner), owner_pred, rtol=1e-6, atol=0)

    partner_rows = helpers.owner_table().sample(90, random_state=3).reset_index(drop=True)
    folds = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, partner_rows, partner_rows["y"], cv=folds, scoring="neg_root_mean_squared_error")
    X, y = partner_rows[features].to_numpy(), partner_rows["y"].to_numpy()
    expected = []
    for tr, te in folds.split(X):
        key = verified.manifest.key.build().fit(X[tr], y[tr])
        expected.append(-np.sqrt(np.mean((key.predict(X[te]) - y[te]) ** 2)))
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_predict_on_frames_matches_names_and_refuses_others(verified):
    model = train(verified)
    X = helpers.owner_table().drop(columns="y").head(20)
    np.testing.assert_array_equal(model.predict(X[["x4", "x2", "x1", "x3"]]), model.predict(X.to_numpy()))
    with pytest.raises(DataError, match="missing column\\(s\\) 'x2'"):
        model.predict(X.drop(columns="x2"))
    with pytest.raises(DataError, match="x3"):
        model.predict(X.assign(x3="a"))
