"""write_bundle(): file layout, manifest contents, atomicity."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from enfo_sdk.bundle import ENVELOPE_KEY, MANIFEST_PAYLOAD_TYPE, Manifest, pae, parse_envelope, verify, write_bundle
from enfo_sdk import fs as _atomic
from enfo_sdk.errors import ConfigError, DataError, SigningError
from enfo_sdk.signing import fingerprint

from . import helpers


def test_footer_holds_only_the_envelope_and_columns_are_plain_float64(bundle):
    path, manifest = bundle
    md = pq.read_metadata(path)
    assert list(md.metadata) == [ENVELOPE_KEY.encode()]  # no ARROW:schema, no pandas metadata
    schema = pq.read_schema(path)
    assert schema.names == manifest.columns
    assert all(str(t) == "double" for t in schema.types)
    assert md.num_rows == manifest.rows == 20


def test_envelope_signs_the_manifest_bytes(bundle, owner_key):
    path, manifest = bundle
    env = parse_envelope(pq.read_metadata(path).metadata[ENVELOPE_KEY.encode()])
    assert env.payload_type == MANIFEST_PAYLOAD_TYPE
    assert env.payload == manifest.payload()
    (sig,) = env.signatures
    assert sig.keyid == fingerprint(owner_key.public_key()) == manifest.owner.fingerprint
    owner_key.public_key().verify(sig.sig, pae(env.payload_type, env.payload))  # raises if bad
    assert pae("t", b"ab") == b"DSSEv1 1 t 2 ab"


def test_manifest_contents(bundle, result):
    _, m = bundle
    assert m.format_version == 1 and m.owner.name == "Acme Retail" and m.partner is None
    assert m.task.features == result.feature_names and m.task.target == result.target_name
    assert m.key == result.spec
    assert m.forging.mode == "rival" and m.forging.seed == 0 and m.forging.steps == result.metrics["steps_run"]
    assert m.forging.settings == result.settings
    assert {"numpy", "enfo-sdk", "python"} <= set(m.forging.library_versions)
    assert m.metrics == {"best_val_rmse": result.metrics["best_val_rmse"]}  # nothing about owner data size
    assert len(m.probes.points) == 8 and m.expires is None


def test_probe_points_are_not_rows_and_predictions_are_the_owners(bundle, result):
    _, m = bundle
    points = np.array(m.probes.points)
    rows = result.X
    assert not any((np.abs(rows - p).max(axis=1) == 0).any() for p in points)
    np.testing.assert_allclose(
        result.spec.build().fit(result.X, result.y).predict(points), m.probes.predictions, rtol=1e-12
    )


def test_manifest_json_round_trips_floats_exactly(bundle):
    _, m = bundle
    again = Manifest.model_validate_json(m.payload(), strict=True)
    assert again == m
    assert json.loads(m.payload())["probes"]["points"] == m.probes.points


def test_partner_and_expiry_recorded(result, owner_key, other_key, tmp_path):
    m = write_bundle(tmp_path / "b.parquet", result, signing_key=owner_key, owner_name="acme",
                     partner_name="beta", partner_public_key=helpers_line(other_key), expires_in_days=2)
    assert m.partner.name == "beta" and m.partner.fingerprint == fingerprint(other_key.public_key())
    assert (m.expires - m.created).total_seconds() == 2 * 86400


def helpers_line(key):
    from enfo_sdk.signing import public_key_line

    return public_key_line(key.public_key(), "beta")


@pytest.mark.parametrize("kwargs, error", [
    (dict(owner_name=""), ConfigError),
    (dict(n_probes=0), ConfigError),
    (dict(expires_in_days=-1), ConfigError),
    (dict(partner_public_key="ssh-ed25519 AAAA"), ConfigError),  # key without a name
    (dict(metrics={"auc": float("nan")}), ConfigError),
])
def test_bad_arguments(result, owner_key, tmp_path, kwargs, error):
    args = dict(signing_key=owner_key, owner_name="acme") | kwargs
    with pytest.raises(error):
        write_bundle(tmp_path / "b.parquet", result, **args)
    assert list(tmp_path.iterdir()) == []


def test_bad_key_and_bad_rows(result, owner_key, tmp_path):
    with pytest.raises(SigningError):
        write_bundle(tmp_path / "b.parquet", result, signing_key=owner_key.public_key(), owner_name="a")
    data = result.data.copy()
    data.loc[3, "x2"] = np.nan
    bad = helpers.result_from_rows(data, result.spec)
    with pytest.raises(DataError, match="'x2'.*data row 4"):
        write_bundle(tmp_path / "b.parquet", bad, signing_key=owner_key, owner_name="a")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError])
def test_atomic_nothing_left_behind_and_old_file_kept(result, owner_key, tmp_path, monkeypatch, exc):
    target = tmp_path / "b.parquet"
    target.write_bytes(b"previous")

    def fail(fd):
        raise exc("interrupted")

    monkeypatch.setattr(_atomic.os, "fsync", fail)
    with pytest.raises(exc):
        write_bundle(target, result, signing_key=owner_key, owner_name="acme")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.parquet"]


def test_write_replaces_existing_bundle(result, owner_key, trust, tmp_path):
    target = tmp_path / "b.parquet"
    first = write_bundle(target, result, signing_key=owner_key, owner_name="acme")
    second = write_bundle(target, result, signing_key=owner_key, owner_name="acme")
    assert verify(target, trust).manifest.bundle_id == second.bundle_id != first.bundle_id
    assert sorted(os.listdir(tmp_path)) == ["b.parquet"]


def test_absolute_expiry(result, owner_key, trust, tmp_path):
    from datetime import datetime, timedelta, timezone

    from enfo_sdk.errors import ExpiredBundleError

    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    at = datetime(2030, 1, 1, 15, 30, tzinfo=timezone(timedelta(hours=2)))  # 13:30 UTC the same day
    path = tmp_path / "b.parquet"
    m = write_bundle(path, result, signing_key=owner_key, owner_name="o", expires_at=at, now=now)
    assert m.expires == at and m.expires.utcoffset() == timedelta(0)
    assert verify(path, trust, now=at - timedelta(seconds=1)).manifest.expires == at
    with pytest.raises(ExpiredBundleError, match="2030-01-01T13:30:00Z"):
        verify(path, trust, now=at)
    for bad in (now, now - timedelta(days=1), now + timedelta(days=36_501), datetime(2031, 1, 1)):
        with pytest.raises(ConfigError, match="expires_at"):
            write_bundle(tmp_path / "x.parquet", result, signing_key=owner_key, owner_name="o", expires_at=bad, now=now)
    with pytest.raises(ConfigError, match="not both"):
        write_bundle(tmp_path / "x.parquet", result, signing_key=owner_key, owner_name="o", expires_at=at,
                     expires_in_days=1, now=now)
    assert not (tmp_path / "x.parquet").exists()
