"""The Manifest model: strict, consistent, and its JSON schema can be generated."""

from __future__ import annotations

import json

import pytest

from enfo_sdk.bundle import Manifest, parse_manifest
from enfo_sdk.errors import ManifestError


def edited(manifest, edit) -> bytes:
    obj = json.loads(manifest.payload())
    edit(obj)
    return json.dumps(obj).encode()


def test_json_schema_generates_and_forbids_extras():
    schema = Manifest.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["properties"]["format_version"]["enum"] == [1, 2, 3, 4]
    assert "content_digest" in schema["required"]


@pytest.mark.parametrize("edit, phrase", [
    (lambda m: m.update(format_version=2), "format_version"),  # v2 needs key.columns
    (lambda m: m.update(format_version=3), "format_version"),
    (lambda m: m["owner"].update(fingerprint="SHA256:short"), "owner.fingerprint"),
    (lambda m: m.update(content_digest="md5:00"), "content_digest"),
    (lambda m: m.update(rows="20"), "rows"),  # strict: no string-to-int coercion
    (lambda m: m["task"].update(target="x1"), "twice"),
    (lambda m: m["probes"]["predictions"].pop(), "predictions"),
    (lambda m: [p.pop() for p in m["probes"]["points"]], "3 coordinates, expected 4"),
    (lambda m: m["probes"]["points"][0].pop(), "different lengths"),
    (lambda m: m.update(expires="2000-01-01T00:00:00Z"), "expires must be after created"),
    (lambda m: m.update(created="2025-01-01T00:00:00"), "created"),  # no timezone
    (lambda m: m["key"].update(algorithm="magic"), "unknown key algorithm"),
    (lambda m: m["key"]["hyperparameters"].update(bandwidth=-1), "bandwidth"),
    (lambda m: m.pop("column_digests"), "column_digests: required field is missing"),
])
def test_strict_parse_names_the_field(bundle, edit, phrase):
    with pytest.raises(ManifestError) as info:
        parse_manifest(edited(bundle[1], edit), "b.parquet")
    assert phrase in str(info.value), str(info.value)


def test_duplicate_keys_and_nan_refused(bundle):
    payload = bundle[1].payload()
    dup = payload.replace(b'"rows":20', b'"rows":20,"rows":21')
    with pytest.raises(ManifestError, match="duplicate key 'rows'"):
        parse_manifest(dup)
    nan = payload.replace(b'"predictions":[', b'"predictions":[NaN,', 1)
    with pytest.raises(ManifestError, match="NaN"):
        parse_manifest(nan)
