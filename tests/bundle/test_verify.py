"""verify(): the good path and every adversarial case, each refused with its own error."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enfo_sdk.bundle import Limits, MANIFEST_PAYLOAD_TYPE, VerifiedBundle, read_envelope_unverified, verify, write_bundle
from enfo_sdk.errors import (
    BundleError, BundleFormatError, BundleTooLargeError, DigestMismatchError, EnfoError, ExpiredBundleError,
    MalformedEnvelopeError, ManifestError, MissingEnvelopeError, NotParquetError, PayloadTypeError,
    ReconstructionError, SchemaMismatchError, SignatureError, TruncatedBundleError,
    UnexpectedFooterMetadataError, UntrustedSignerError, WrongPartnerError,
)
from enfo_sdk.signing import TrustStore, fingerprint

from . import helpers


def refused(path, trust, error, *phrases, **kwargs):
    """verify must raise exactly ``error`` (not a sibling) with each phrase in its message."""
    with pytest.raises(BundleError) as info:
        verify(path, trust, **kwargs)
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert str(path) in message, message  # names the file
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    return message


# -- the good path -------------------------------------------------------------------------------------
def test_verify_returns_signed_rows(bundle, trust, result, owner_key):
    path, manifest = bundle
    v = verify(path, trust)
    assert isinstance(v, VerifiedBundle)
    assert v.signer == "acme" and v.fingerprint == fingerprint(owner_key.public_key())
    assert v.manifest == manifest
    assert list(v.data.columns) == [*result.feature_names, result.target_name]
    np.testing.assert_array_equal(v.data.to_numpy(), result.data.to_numpy())  # bit-exact rows
    assert v.max_probe_error <= 1e-6


def test_read_envelope_unverified_gives_manifest_without_trust(bundle, owner_key):
    path, manifest = bundle
    m, keyid = read_envelope_unverified(path)
    assert m == manifest and keyid == fingerprint(owner_key.public_key())


def test_verify_never_unpickles_a_good_bundle(bundle, trust, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("pickle used during verify")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    verify(bundle[0], trust)


# -- the must-show adversarial cases -------------------------------------------------------------------
def test_one_forged_value_changed(bundle, trust, tmp_path):
    bad = helpers.tamper_value(bundle[0], tmp_path / "b.parquet", "x3", row=7)
    msg = refused(bad, trust, DigestMismatchError, "'x3'", "altered after signing")
    assert "'x1'" not in msg  # only the changed column is named


def test_column_renamed(bundle, trust, tmp_path):
    bad = helpers.rename_column(bundle[0], tmp_path / "b.parquet", "x2", "x2_adj")
    refused(bad, trust, SchemaMismatchError, "missing 'x2'", "unexpected 'x2_adj'", "renamed")


def test_rows_reordered(bundle, trust, tmp_path):
    bad = helpers.reorder_rows(bundle[0], tmp_path / "b.parquet")
    refused(bad, trust, DigestMismatchError, "reordered")


def test_one_manifest_byte_changed(bundle, trust, tmp_path):
    bad = helpers.flip_manifest_byte(bundle[0], tmp_path / "b.parquet")
    refused(bad, trust, SignatureError, "does not verify", "acme")


def test_signature_replaced_by_another_keys(bundle, trust, other_key, owner_key, tmp_path):
    # the attacker re-signs with its own key but keeps the owner's keyid
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", other_key, keyid=fingerprint(owner_key.public_key()))
    refused(bad, trust, SignatureError, "signed with another key")


def test_signer_not_in_trust_store(bundle, owner_key, other_key, tmp_path):
    strangers = TrustStore()
    strangers.add("beta", other_key.public_key())
    refused(bundle[0], strangers, UntrustedSignerError, fingerprint(owner_key.public_key()), "not in your trust store", "beta")


def test_resigned_by_untrusted_key_with_its_own_keyid(bundle, trust, other_key, tmp_path):
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", other_key)
    refused(bad, trust, UntrustedSignerError, fingerprint(other_key.public_key()))


def test_expired(result, owner_key, trust, tmp_path):
    created = datetime(2025, 1, 1, tzinfo=timezone.utc)
    path = tmp_path / "b.parquet"
    write_bundle(path, result, signing_key=owner_key, owner_name="acme", expires_in_days=30, now=created)
    verify(path, trust, now=created + timedelta(days=29))  # still fine
    refused(path, trust, ExpiredBundleError, "expired at 2025-01-31", "fresh one", now=created + timedelta(days=31))


def test_intended_for_another_partner(result, owner_key, other_key, trust, tmp_path):
    path = tmp_path / "b.parquet"
    write_bundle(path, result, signing_key=owner_key, owner_name="acme", partner_name="beta",
                 partner_public_key=other_key.public_key())
    refused(path, trust, WrongPartnerError, "intended for partner 'beta'", "not 'gamma'", partner="gamma")
    refused(path, trust, WrongPartnerError, "say who you are")  # fails closed without partner=
    assert verify(path, trust, partner="beta").manifest.partner.name == "beta"
    assert verify(path, trust, partner=fingerprint(other_key.public_key())).signer == "acme"


def test_truncated_file(bundle, trust, tmp_path):
    bad = helpers.truncate(bundle[0], tmp_path / "b.parquet")
    refused(bad, trust, TruncatedBundleError, "cut off")


def test_not_parquet(trust, tmp_path):
    refused(helpers.not_parquet(tmp_path / "b.parquet"), trust, NotParquetError, "not a Parquet file", "PAR1")
    (tmp_path / "empty.parquet").write_bytes(b"")
    refused(tmp_path / "empty.parquet", trust, NotParquetError, "empty")


def test_parquet_without_envelope(bundle, trust, tmp_path):
    bad = helpers.parquet_without_envelope(bundle[0], tmp_path / "b.parquet")
    refused(bad, trust, MissingEnvelopeError, "never signed")


def test_unknown_payload_type(bundle, trust, owner_key, tmp_path):
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key,
                         payload_type="application/vnd.enfo.manifest+json; version=9")
    refused(bad, trust, PayloadTypeError, "version=9", MANIFEST_PAYLOAD_TYPE)


def test_a_v1_manifest_signed_as_v2_is_refused(bundle, trust, owner_key, tmp_path):
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key,
                         payload_type="application/vnd.enfo.manifest+json; version=2")
    refused(bad, trust, ManifestError, "format_version 1 but the signed payload type is version 2")


@pytest.fixture
def pickled_extension_registered():
    helpers.PWNED.clear()
    helpers.DESERIALIZED.clear()
    pa.register_extension_type(helpers.PickledExtensionType())
    try:
        yield
    finally:
        pa.unregister_extension_type("test.enfo.pickled")


def test_footer_with_pickled_extension_type_is_refused_unread(bundle, trust, tmp_path, monkeypatch,
                                                              pickled_extension_registered):
    bad = helpers.with_pickled_extension(bundle[0], tmp_path / "b.parquet")
    # the fixture really is dangerous: pyarrow's own metadata reader unpickles it
    pq.read_metadata(bad)
    assert helpers.DESERIALIZED and helpers.PWNED == ["unpickled"]
    helpers.PWNED.clear()
    helpers.DESERIALIZED.clear()

    calls = []

    def trap(*args, **kwargs):
        calls.append(args)
        raise AssertionError("pickle used during verify")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, trap)
    msg = refused(bad, trust, UnexpectedFooterMetadataError, "'ARROW:schema'", "refused unread")
    assert calls == [] and helpers.DESERIALIZED == [] and helpers.PWNED == []
    assert "extension" in msg


# -- more failures, each at its step -------------------------------------------------------------------
def test_every_error_is_an_enfo_error():
    for err in (BundleFormatError, UntrustedSignerError, SignatureError, PayloadTypeError, ManifestError,
                ExpiredBundleError, WrongPartnerError, SchemaMismatchError, DigestMismatchError,
                ReconstructionError, NotParquetError, TruncatedBundleError, MissingEnvelopeError,
                UnexpectedFooterMetadataError, BundleTooLargeError, MalformedEnvelopeError):
        assert issubclass(err, BundleError) and issubclass(err, EnfoError)


def test_manifest_with_unknown_field_resigned_by_owner(bundle, trust, owner_key, tmp_path):
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key, edit=lambda m: m.update(comment="hi"))
    refused(bad, trust, ManifestError, "comment", "unknown field")


def test_manifest_with_wrong_type_names_the_field(bundle, trust, owner_key, tmp_path):
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key,
                         edit=lambda m: m["task"].update(features=["x1", "x2", "x3", 4]))
    refused(bad, trust, ManifestError, "task.features.3")


def test_manifest_owner_must_be_signer(bundle, owner_key, other_key, tmp_path):
    both = TrustStore()
    both.add("acme", owner_key.public_key())
    both.add("mallory", other_key.public_key())
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", other_key)  # manifest still names acme
    refused(bad, both, ManifestError, "signed by", "mallory")


def test_changed_hyperparameters_fail_reconstruction(bundle, trust, owner_key, tmp_path):
    def edit(m):
        m["key"]["hyperparameters"]["iterations"] = 10

    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key, edit=edit)
    refused(bad, trust, ReconstructionError, "nu-method v1", "probe")


def test_changed_probe_prediction_fails_reconstruction(bundle, trust, owner_key, tmp_path):
    def edit(m):
        m["probes"]["predictions"][2] *= 1 + 1e-5

    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key, edit=edit)
    refused(bad, trust, ReconstructionError, "1 of 8 probe points", "at probe 2")


def test_tiny_probe_difference_within_tolerance(bundle, trust, owner_key, tmp_path):
    def edit(m):
        m["probes"]["predictions"][0] *= 1 + 1e-9

    verify(helpers.resign(bundle[0], tmp_path / "b.parquet", owner_key, edit=edit), trust)


def test_rows_removed(bundle, trust, tmp_path):
    cols, _ = helpers.read_parts(bundle[0])
    bad = helpers.rewrite(bundle[0], tmp_path / "b.parquet", columns={k: v[:-1] for k, v in cols.items()})
    refused(bad, trust, DigestMismatchError, "19 rows", "says 20")


def test_column_stored_as_float32(bundle, trust, tmp_path):
    cols, env = helpers.read_parts(bundle[0])
    table = pa.table({k: pa.array(v, pa.float32() if k == "x1" else pa.float64()) for k, v in cols.items()})
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, table.schema, store_schema=False) as w:
        w.write_table(table)
        w.add_key_value_metadata({"enfo.envelope": env.to_json().decode()})
    bad = tmp_path / "b.parquet"
    bad.write_bytes(sink.getvalue().to_pybytes())
    refused(bad, trust, SchemaMismatchError, "'x1'", "FLOAT", "float64")


def test_malformed_envelope(bundle, trust, tmp_path):
    bad = helpers.rewrite(bundle[0], tmp_path / "b.parquet", footer={"enfo.envelope": b'{"payload": "!!"}'})
    refused(bad, trust, MalformedEnvelopeError, "missing payloadType, signatures")
    bad = helpers.rewrite(bundle[0], tmp_path / "c.parquet", footer={"enfo.envelope": b"not json"})
    refused(bad, trust, MalformedEnvelopeError, "not valid JSON")


def test_size_limits(bundle, trust):
    path = bundle[0]
    size = path.stat().st_size
    refused(path, trust, BundleTooLargeError, "over the limit", limits=Limits(max_file_bytes=size - 1))
    refused(path, trust, BundleTooLargeError, "footer", limits=Limits(max_footer_bytes=100))
    refused(path, trust, BundleTooLargeError, "envelope", limits=Limits(max_envelope_bytes=100))
    verify(path, trust, limits=Limits(max_file_bytes=size))


def test_missing_file(trust, tmp_path):
    refused(tmp_path / "nope.parquet", trust, BundleFormatError, "no such file")


def test_verify_checks_signature_before_parsing_the_manifest(bundle, trust, tmp_path, other_key, owner_key):
    """A garbage manifest with a bad signature is a SignatureError, not a ManifestError."""
    bad = helpers.resign(bundle[0], tmp_path / "b.parquet", other_key, keyid=fingerprint(owner_key.public_key()),
                         edit=lambda m: m.update(format_version=99))
    refused(bad, trust, SignatureError)


# -- robustness ------------------------------------------------------------------------------------------
def test_other_standard_encodings_verify(bundle, trust, tmp_path):
    """A verifier accepts what another Parquet writer might produce: OPTIONAL columns, compression,
    several row groups, dictionary pages -- the digest, not the encoding, is signed."""
    cols, env = helpers.read_parts(bundle[0])
    table = pa.table({k: pa.array(v) for k, v in cols.items()})  # nullable fields
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, table.schema, store_schema=False, compression="zstd", use_dictionary=True) as w:
        w.write_table(table, row_group_size=7)
        w.add_key_value_metadata({"enfo.envelope": env.to_json().decode()})
    path = tmp_path / "other.parquet"
    path.write_bytes(sink.getvalue().to_pybytes())
    assert pq.read_metadata(path).num_row_groups == 3
    assert verify(path, trust).manifest == bundle[1]


def test_random_corruption_only_ever_raises_bundle_errors(bundle, trust):
    """Flip bytes anywhere in a good bundle: verify refuses with a BundleError, never crashes."""
    good = bundle[0].read_bytes()
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(150):
        b = bytearray(good)
        for _ in range(1 + trial % 3):
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        path = bundle[0].with_name(f"fuzz{trial}.parquet")
        path.write_bytes(bytes(b))
        try:
            verify(path, trust)
            outcomes.add("ok")  # a flip in bytes nothing depends on (e.g. statistics)
        except BundleError as e:
            outcomes.add(type(e).__name__)
        finally:
            path.unlink()
    assert len(outcomes - {"ok"}) >= 3, outcomes
