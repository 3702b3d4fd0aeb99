"""Forging classification rows, the signed bundle (format 3), its verification and tampering."""

from __future__ import annotations

import numpy as np
import pytest

from enfo_sdk.bundle import verify, write_bundle
from enfo_sdk.bundle.manifest import MANIFEST_PAYLOAD_TYPES
from enfo_sdk.errors import (
    DataError,
    DigestMismatchError, ManifestError, PayloadTypeError, ReconstructionError, SignatureError, UntrustedSignerError,
)
from enfo_sdk.forging.labels import allocate
from enfo_sdk.signing import TrustStore, generate_private_key

from bundle import helpers as bh  # tests/bundle (pytest puts tests/ on the path)
from . import helpers


@pytest.fixture(scope="module")
def owner_key():
    return generate_private_key()


@pytest.fixture(scope="module")
def trust(owner_key):
    store = TrustStore()
    store.add("acme", owner_key.public_key())
    return store


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, owner_key):
    path = tmp_path_factory.mktemp("clf") / "clf.parquet"
    write_bundle(path, helpers.forged(), signing_key=owner_key, owner_name="acme")
    return path


def test_forged_rows_carry_label_distributions():
    res = helpers.forged()
    assert res.target_columns == ["label=high", "label=low", "label=mid"]
    P = res.data[res.target_columns].to_numpy()
    assert (P >= 0).all()
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    bal = res.metrics["class_balance"]
    assert sum(b["rows"] for b in bal.values()) == 12
    assert sum(b["mass"] for b in bal.values()) == pytest.approx(12.0)
    # the forged rows' key keeps the temperature encapsulation fitted (docs/keys.md)
    assert res.spec.hyperparameters["temperature"] == res.metrics["temperature"] == helpers.key()[3].hyperparameters["temperature"]
    assert res.settings["class_loss"] == "squared" and res.settings["min_per_class"] == 0


def test_bundle_is_format_3_and_partner_probabilities_equal_the_owner_s(bundle, trust):
    v = verify(bundle, trust)
    m = v.manifest
    assert m.format_version == 3 and m.task.type == "classification"
    assert m.task.classes == ["high", "low", "mid"] and list(v.data.columns)[-3:] == m.task.target_columns
    assert v.max_probe_error <= 1e-6
    # the partner's rebuilt model against the owner's model on fresh rows (not the probes)
    res = helpers.forged()
    owner = res.model()
    partner = m.key.build().fit(v.data[m.task.features].to_numpy(), v.data[m.task.target_columns].to_numpy())
    Xq = helpers.key()[1].iloc[:50]
    np.testing.assert_allclose(partner.predict_proba(Xq.to_numpy()), owner.predict_proba(Xq), rtol=0, atol=1e-6)
    assert list(partner.predict(Xq.to_numpy())) == list(owner.predict(Xq))
    assert set(partner.predict(Xq.to_numpy())) <= {"high", "low", "mid"}


@pytest.mark.parametrize("edit, error, match", [
    (lambda o: o["task"].__setitem__("classes", ["low", "high", "mid"]), ManifestError, "column_digests must list the columns"),
    (lambda o: o["task"].pop("type"), ManifestError, "classes are listed exactly when"),
    (lambda o: (o["task"].pop("type"), o["task"].pop("classes")), ManifestError, "column_digests must list the columns"),
    (lambda o: o["key"]["hyperparameters"].__setitem__("temperature", 0.5), ReconstructionError, "probe"),
    (lambda o: o["probes"]["predictions"][0].__setitem__(0, o["probes"]["predictions"][0][0] + 1e-4), ReconstructionError, "probe"),
    (lambda o: o["probes"].__setitem__("predictions", [p[0] for p in o["probes"]["predictions"]]), ManifestError, "class probabilities"),
    (lambda o: o["key"].__setitem__("algorithm", "nu-method") or o["key"]["hyperparameters"].pop("temperature"), ManifestError, "regression key"),
])
def test_tampered_manifest_fields_are_refused(bundle, trust, owner_key, tmp_path, edit, error, match):
    bad = bh.resign(bundle, tmp_path / "bad.parquet", owner_key, edit=edit)
    with pytest.raises(error, match=match):
        verify(bad, trust)


def test_other_tampering_is_refused(bundle, trust, owner_key, tmp_path, monkeypatch):
    with pytest.raises(DigestMismatchError):
        verify(bh.tamper_value(bundle, tmp_path / "v.parquet", "label=mid", 3), trust)
    with pytest.raises(ManifestError, match="format_version 3 but the signed payload type is version 2"):
        verify(bh.resign(bundle, tmp_path / "p.parquet", owner_key, payload_type=MANIFEST_PAYLOAD_TYPES[2]), trust)
    with pytest.raises(UntrustedSignerError):
        verify(bh.resign(bundle, tmp_path / "k.parquet", generate_private_key()), trust)
    with pytest.raises((SignatureError, ManifestError)):
        verify(bh.flip_manifest_byte(bundle, tmp_path / "f.parquet"), trust)
    # an older reader (formats 1 and 2 only) refuses the payload type before parsing
    monkeypatch.delitem(MANIFEST_PAYLOAD_TYPES, 3)  # the dict the verifier reads
    with pytest.raises(PayloadTypeError):
        verify(bundle, trust)


def test_min_per_class_keeps_fixed_labels():
    res = helpers.forged(min_per_class=3)
    P = res.data[res.target_columns].to_numpy()
    assert np.bincount(P.argmax(1), minlength=3).min() >= 3
    assert (P.max(1) > 0.99).all()  # the one-hot start (inside the simplex by the margin), never moved
    assert res.settings["min_per_class"] == 3


def test_cross_entropy_loss_forges():
    res = helpers.forged(class_loss="cross_entropy")
    assert res.settings["class_loss"] == "cross_entropy"
    assert res.metrics["val_accuracy"] > 0.5


@pytest.mark.parametrize("counts, rows, minimum, expected", [
    ([50, 30, 20], 10, 0, [5, 3, 2]),
    ([97, 2, 1], 10, 0, [8, 1, 1]),
    ([97, 2, 1], 10, 2, [7, 2, 1]),   # a class with one row gets its one row
])
def test_allocate(counts, rows, minimum, expected):
    assert list(allocate(np.array(counts), rows, minimum)) == expected


def test_partner_round_trip_train_save_load_predict(bundle, trust, tmp_path):
    """verify -> train -> save -> load -> predict_file: the class and probabilities the owner's
    model gives, to 1e-6, through a CSV of raw rows (strings in the categorical column)."""
    import pandas as pd

    from enfo_sdk import partner
    from enfo_sdk.workflows.partner_steps import predict_file

    v = verify(bundle, trust)
    model = partner.train(v)
    assert list(model.classes_) == ["high", "low", "mid"]
    path = partner.save_model(model, tmp_path / "m.parquet", v)
    loaded = partner.load_model(path)
    raw = helpers.table().iloc[:40]
    raw.to_csv(tmp_path / "in.csv", index=False)
    run = predict_file(path, tmp_path / "in.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    owner = helpers.forged().model()
    X = helpers.key()[0].encode_frame(raw)
    P = owner.predict_proba(X)
    got = out[["label_prob=high", "label_prob=low", "label_prob=mid"]].to_numpy()
    np.testing.assert_allclose(got, P, rtol=0, atol=1e-6)
    assert list(out["label_pred"]) == list(owner.predict(X)) and run.column == "label_pred"
    np.testing.assert_allclose(loaded.predict_proba(raw), P, rtol=0, atol=1e-6)
    frame = partner.predict(loaded, raw)
    assert list(frame.columns) == ["label", "label=high", "label=low", "label=mid"]


def test_augment_and_check_report_classification_metrics(bundle, trust):
    from enfo_sdk import partner
    from enfo_sdk.evaluate.classification import classification_metrics
    from enfo_sdk.keys.classify import one_hot

    v = verify(bundle, trust)
    own = helpers.table(n=120, seed=7)  # the partner's own labelled rows (raw)
    rep = partner.augment(v, own, cv=3)
    body = rep.to_json()
    assert body["task"] == "classification" and body["own_rows"] == 120 and body["bundle_rows"] == 12
    # "bundle alone" pools the same model in every fold: it is the key trained on the bundle
    X, y = helpers.key()[0].encode(own), helpers.key()[0].target_values(own)
    direct = classification_metrics(y, partner.train(v).predict_proba(X))
    assert body["bundle_only"]["accuracy"] == direct["accuracy"]
    assert body["bundle_only"]["log_loss"] == pytest.approx(direct["log_loss"], rel=1e-12)
    # augmented, by hand: per fold the key on the fold's rows (one-hot) stacked on the bundle's label rows
    perm = np.random.default_rng(0).permutation(120)
    P = np.zeros((120, 3))
    for val in np.array_split(perm, 3):
        tr = np.setdiff1d(perm, val)
        est = v.manifest.key.build().fit(np.vstack([X[tr], v.X]), np.vstack([one_hot(y[tr], 3), v.y]))
        P[val] = est.predict_proba(X[val])
    assert body["augmented"] == classification_metrics(y, P)
    res = partner.check(v, own, cv=3, families=["logistic", "knn"])
    assert set(res.models) == {"logistic", "knn"} and res.key["accuracy"] == direct["accuracy"]
    with pytest.raises(DataError, match="never saw"):
        partner.augment(v, own.assign(label=["zebra"] + list(own["label"][1:])), cv=3)
