"""A saved partner model carries an integrity digest: a changed coefficient or metadata value is
refused when the file is loaded (found by benchmarks/fuzz_bundle.py: a quarter of bit-flipped
model files loaded and predicted differently); files written before the digest still load."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from enfo_sdk import partner
from enfo_sdk.bundle.write import encode_parquet
from enfo_sdk.errors import ModelFileError
from enfo_sdk.partner import MODEL_FOOTER_KEY


def _parts(path):
    table = pq.read_table(path)
    meta = json.loads(pq.read_metadata(path).metadata[MODEL_FOOTER_KEY.encode()])
    return {c: table.column(c).to_numpy().copy() for c in table.column_names}, meta


def test_a_changed_coefficient_or_metadata_value_is_refused(verified, tmp_path):
    good = tmp_path / "model.parquet"
    partner.save_model(partner.train(verified), good, verified)
    values, meta = _parts(good)
    assert len(meta["digest"]) == 64
    X = verified.data[verified.manifest.task.features].to_numpy()
    expected = partner.load_model(good).predict(X)

    coef = next(c for c in values if c.startswith("coef"))
    changed = {**values, coef: values[coef] * (1 + 1e-12)}
    bad = tmp_path / "coef.parquet"
    bad.write_bytes(encode_parquet(list(values), changed, {MODEL_FOOTER_KEY: json.dumps(meta).encode()}))
    with pytest.raises(ModelFileError, match="coef.parquet: the model file is corrupted"):
        partner.load_model(bad)

    meta2 = {**meta, "bundle_id": meta["bundle_id"][:-1] + ("0" if meta["bundle_id"][-1] != "0" else "1")}
    bad2 = tmp_path / "meta.parquet"
    bad2.write_bytes(encode_parquet(list(values), values, {MODEL_FOOTER_KEY: json.dumps(meta2).encode()}))
    with pytest.raises(ModelFileError, match="corrupted"):
        partner.load_model(bad2)

    # a file from before the digest (no field) loads and predicts as before
    old = tmp_path / "old.parquet"
    meta3 = {k: v for k, v in meta.items() if k != "digest"}
    old.write_bytes(encode_parquet(list(values), values, {MODEL_FOOTER_KEY: json.dumps(meta3).encode()}))
    np.testing.assert_array_equal(partner.load_model(old).predict(X), expected)
