"""Sealed keys (format v4): only the partner the key is sealed to can rebuild it.

Adversarial cases beside the good one: no key, another partner's key, a changed sealed block
(the signature fails first), and a sealed block under a manifest it was not made for (the
owner re-signs an edited manifest: the signature holds, the AEAD's associated data does not).
"""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from enfo_sdk import partner
from enfo_sdk.bundle import Envelope, verify, write_bundle
from enfo_sdk.errors import EnfoError, SealedKeyError, SignatureError, SigningError
from enfo_sdk.sealing import (
    generate_sealing_key, new_file_key, open_content, sealing_fingerprint, unwrap_file_key, wrap_file_key,
)

from . import helpers
from .test_fuzz import MUTATIONS, mutate


@pytest.fixture(scope="module")
def partner_a():
    return generate_sealing_key()


@pytest.fixture(scope="module")
def partner_b():
    return generate_sealing_key()


@pytest.fixture(scope="module")
def sealed(result, owner_key, bundle_dir, partner_a):
    path = bundle_dir / "sealed.parquet"
    manifest = write_bundle(path, result, signing_key=owner_key, owner_name="Acme Retail", seal_to=partner_a.public_key())
    return path, manifest


def test_anyone_verifies_the_signature_but_the_key_stays_sealed(sealed, trust, partner_a, result):
    path, manifest = sealed
    assert manifest.format_version == 4 and manifest.key is None and manifest.probes is None
    payload = helpers.read_parts(path)[1].payload.decode()
    assert '"sealed"' in payload and '"key"' not in payload and '"probes"' not in payload
    for secret in ("bandwidth", "iterations", "feature_mean", repr(result.spec.preprocessing.target_mean)):
        assert secret not in payload, secret
    v = verify(path, trust)  # no sealing key: checked up to the digest, not opened
    assert not v.opened and v.sealed_to == [sealing_fingerprint(partner_a.public_key())]
    assert np.array_equal(v.X, result.X) and v.max_probe_error is None
    with pytest.raises(SealedKeyError, match="sealed to partner SHA256:"):
        partner.train(v)


def test_partner_rebuilds_the_owner_key_exactly(sealed, trust, partner_a, result):
    v = verify(sealed[0], trust, sealing_key=partner_a)
    assert v.opened and v.manifest.format_version == 1 and v.manifest.key == result.spec
    assert v.max_probe_error <= 1e-6
    rows = helpers.owner_table(n=600).drop(columns="y").to_numpy()[:50]
    owner = result.spec.build().fit(result.X, result.y).predict(rows)  # the owner's key on its forged rows
    mine = partner.train(v).predict(rows)
    np.testing.assert_allclose(mine, owner, rtol=1e-6, atol=1e-12)


def test_another_partner_or_no_key_is_refused(sealed, trust, partner_b, partner_a):
    with pytest.raises(SealedKeyError) as e:
        verify(sealed[0], trust, sealing_key=partner_b, sealing_key_path="b.x25519")
    msg = str(e.value)
    assert sealing_fingerprint(partner_a.public_key()) in msg and sealing_fingerprint(partner_b.public_key()) in msg
    assert "b.x25519" in msg and "\n" not in msg


def test_changed_sealed_block_fails_the_signature_first(sealed, trust, partner_a, tmp_path):
    _, env = helpers.read_parts(sealed[0])
    obj = json.loads(env.payload)
    ct = bytearray(base64.b64decode(obj["sealed"]["ciphertext"]))
    ct[0] ^= 1
    obj["sealed"]["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    forged = Envelope(payload=json.dumps(obj).encode(), payload_type=env.payload_type, signatures=env.signatures)
    bad = helpers.rewrite(sealed[0], tmp_path / "flip.parquet", envelope=forged)
    with pytest.raises(SignatureError):
        verify(bad, trust, sealing_key=partner_a)


def test_sealed_block_under_another_manifest_does_not_open(sealed, trust, owner_key, partner_a, tmp_path):
    # the owner's own key re-signs: only the associated data can catch the move
    same = helpers.resign(sealed[0], tmp_path / "same.parquet", owner_key, edit=lambda m: None)
    assert verify(same, trust, sealing_key=partner_a).opened  # re-encoded JSON, same content: opens
    moved = helpers.resign(sealed[0], tmp_path / "moved.parquet", owner_key,
                           edit=lambda m: m["metrics"].update(best_val_rmse=0.0))
    with pytest.raises(SealedKeyError, match="made for another manifest"):
        verify(moved, trust, sealing_key=partner_a)


def test_unsealed_bundles_keep_their_format(bundle):
    payload = helpers.read_parts(bundle[0])[1].payload.decode()
    assert '"sealed"' not in payload and '"key"' in payload and bundle[1].format_version == 1


def test_primitives_refuse_wrong_keys_and_low_order_points(partner_a, partner_b):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    fk = new_file_key()
    eph, wrapped = wrap_file_key(fk, partner_a.public_key())
    assert unwrap_file_key(partner_a, eph, wrapped) == fk
    assert unwrap_file_key(partner_b, eph, wrapped) is None
    assert open_content(fk, b"\0" * 32, b"aad") is None
    with pytest.raises(SigningError, match="low order"):
        wrap_file_key(fk, X25519PublicKey.from_public_bytes(bytes(32)))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=MUTATIONS)
def test_a_mutated_sealed_bundle_is_refused_or_opens_to_the_signed_key(sealed, trust, partner_a, tmp_path, mutation):
    """As tests/bundle/test_fuzz.py, for a sealed bundle opened by its partner."""
    target = tmp_path / "mutant.parquet"
    target.write_bytes(mutate(sealed[0].read_bytes(), mutation))
    t = time.perf_counter()
    try:
        got = verify(target, trust, sealing_key=partner_a)
    except EnfoError:
        pass
    else:
        assert got.manifest == verify(sealed[0], trust, sealing_key=partner_a).manifest, mutation
    assert time.perf_counter() - t < 1.0, mutation
