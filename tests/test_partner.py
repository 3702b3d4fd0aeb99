"""Partner side: forge -> write -> verify -> train -> save/load -> predict (enfo_sdk.partner)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from enfo_sdk.bundle import verify, write_bundle
from enfo_sdk.errors import DataError, ModelFileError
from enfo_sdk.partner import MODEL_FOOTER_KEY, TrainedModel, load_model, predict, save_model, train
from enfo_sdk.signing import TrustStore, generate_private_key

try:  # tests/ is on sys.path (pytest's rootdir-less import mode)
    from bundle import helpers
except ImportError:  # pragma: no cover - if tests/ ever becomes a package
    from tests.bundle import helpers


@pytest.fixture(scope="module")
def owner():
    key = generate_private_key()
    trust = TrustStore()
    trust.add("acme", key.public_key())
    return key, trust


@pytest.fixture(scope="module")
def verified(owner, tmp_path_factory):
    key, trust = owner
    path = tmp_path_factory.mktemp("partner") / "bundle.parquet"
    write_bundle(path, helpers.forged(), signing_key=key, owner_name="acme")
    return verify(path, trust)


def owner_rows():
    return helpers.owner_table().drop(columns="y")


def test_round_trip_reproduces_the_owners_predictions(verified, tmp_path):
    """forge -> write -> verify -> train -> predict equals the owner's key model to 1e-6."""
    result = helpers.forged()
    X = owner_rows()
    owner_pred = result.model().predict(X.to_numpy())
    model = train(verified)
    np.testing.assert_allclose(model.predict(X.to_numpy()), owner_pred, rtol=1e-6, atol=0)

    trained = TrainedModel.from_bundle(verified, model)
    path = save_model(model, tmp_path / "model.parquet", verified)
    loaded = load_model(path)
    out = predict(loaded, X)
    assert isinstance(out, pd.Series) and out.name == "y" and out.index.equals(X.index)
    np.testing.assert_allclose(out.to_numpy(), owner_pred, rtol=1e-6, atol=0)
    # save/load keeps every bit of the state; only BLAS summation order may differ
    np.testing.assert_allclose(out.to_numpy(), predict(trained, X).to_numpy(), rtol=1e-12)
    assert loaded.bundle_id == verified.manifest.bundle_id
    assert loaded.signer_fingerprint == verified.fingerprint
    assert loaded.spec == verified.manifest.key
    for name, arr in model.state_.items():
        np.testing.assert_array_equal(loaded.estimator.state_[name], arr)  # bit-exact state


def test_predict_matches_columns_by_name(verified):
    trained = TrainedModel.from_bundle(verified)
    X = owner_rows().head(50)
    shuffled = X[["x3", "x1", "x4", "x2"]]
    pd.testing.assert_series_equal(predict(trained, shuffled), predict(trained, X))
    # the estimator's own predict matches names too, and returns an array (scikit-learn's contract)
    np.testing.assert_array_equal(trained.predict(shuffled), predict(trained, X).to_numpy())


def test_predict_names_missing_and_extra_columns(verified):
    trained = TrainedModel.from_bundle(verified)
    X = owner_rows().head(5)
    with pytest.raises(DataError) as info:
        predict(trained, X.drop(columns="x2").assign(x9=1.0))
    msg = str(info.value)
    assert "missing column(s) 'x2'" in msg and "unexpected column(s) 'x9'" in msg
    with pytest.raises(DataError, match="'y' \\(the target: drop it"):
        predict(trained, helpers.owner_table().head(5))
    with pytest.raises(DataError, match="x3"):
        predict(trained, X.assign(x3=np.nan))
    with pytest.raises(DataError, match="DataFrame"):
        predict(trained, X.to_numpy())


def test_model_file_layout(verified, tmp_path):
    path = save_model(train(verified), tmp_path / "m.parquet", verified)
    md = pq.read_metadata(path)
    assert list(md.metadata) == [MODEL_FOOTER_KEY.encode()]
    assert pq.read_schema(path).names == ["train_rows[0]", "train_rows[1]", "train_rows[2]", "train_rows[3]", "coef"]
    assert md.num_rows == verified.manifest.rows


@pytest.mark.parametrize("algorithm, hyper", [("ols", {}), ("ridge", {"alpha": 0.01}), ("krr", {"bandwidth": 1.0, "alpha": 1e-3})])
def test_other_keys_round_trip(owner, tmp_path, algorithm, hyper):
    key, trust = owner
    base = helpers.forged()
    spec = helpers.with_algorithm(base.spec, algorithm, **hyper)
    rows = helpers.owner_table().sample(40, random_state=1)
    result = helpers.result_from_rows(rows, spec)
    write_bundle(tmp_path / "b.parquet", result, signing_key=key, owner_name="acme")
    v = verify(tmp_path / "b.parquet", trust)
    path = save_model(train(v), tmp_path / "m.parquet", v.manifest)
    X = owner_rows().head(30)
    np.testing.assert_allclose(predict(load_model(path), X).to_numpy(), result.model().predict(X.to_numpy()), rtol=1e-9)


def test_save_refuses_a_model_of_another_key(verified, tmp_path):
    other = helpers.with_algorithm(verified.manifest.key, "ols").build().fit(verified.X, verified.y)
    with pytest.raises(DataError, match="not trained with this bundle's key"):
        save_model(other, tmp_path / "m.parquet", verified)
    assert list(tmp_path.iterdir()) == []


def test_load_model_refuses_non_models_without_unpickling(verified, tmp_path, monkeypatch):
    def trap(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "loads", trap)
    monkeypatch.setattr(pickle, "Unpickler", trap)
    with pytest.raises(ModelFileError, match="not an EnFo model file"):
        load_model(verified.path)  # a bundle, not a model
    with pytest.raises(ModelFileError, match="not a Parquet file"):
        load_model(helpers.not_parquet(tmp_path / "x.parquet"))
    good = save_model(train(verified), tmp_path / "m.parquet", verified)
    load_model(good)  # and a real one loads with pickle disabled
    (tmp_path / "t.parquet").write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="cut off"):
        load_model(tmp_path / "t.parquet")


def test_train_needs_a_verified_bundle(verified):
    with pytest.raises(TypeError, match="VerifiedBundle"):
        train(verified.data)
