"""The content digest, recomputed by hand from DESIGN.md's definition (hashlib + struct only)."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from enfo_sdk.bundle import column_digests, content_digest
from enfo_sdk.errors import DataError


def by_hand(names, columns) -> str:
    """SHA-256 over b"enfo-columns-v1\\n", then per column: name, NUL, "float64", NUL,
    row count as u64 LE, values as f64 LE -- written from the definition, not the library."""
    h = hashlib.sha256()
    h.update(b"enfo-columns-v1\n")
    for name, values in zip(names, columns):
        values = [float(v) for v in values]
        h.update(name.encode("utf-8") + b"\x00" + b"float64" + b"\x00")
        h.update(struct.pack("<Q", len(values)))
        h.update(struct.pack(f"<{len(values)}d", *values))
    return "sha256:" + h.hexdigest()


def test_manifest_digest_recomputed_by_hand(bundle):
    path, manifest = bundle
    table = pq.read_table(path)  # our own file: plain pyarrow is fine here
    names = manifest.task.features + [manifest.task.target]
    columns = [table.column(n).to_pylist() for n in names]
    assert by_hand(names, columns) == manifest.content_digest
    for name, values in zip(names, columns):
        h = hashlib.sha256(name.encode() + b"\0float64\0" + struct.pack("<Q", len(values))
                           + struct.pack(f"<{len(values)}d", *values))
        assert manifest.column_digests[name] == "sha256:" + h.hexdigest()


def test_library_matches_hand_on_awkward_values():
    cols = {"é ü": np.array([0.0, -0.0, 1e-310, -np.inf, np.nan]), "b": np.arange(5.0)}
    assert content_digest(cols) == by_hand(list(cols), cols.values())
    assert content_digest(pd.DataFrame(cols)) == content_digest(cols)
    assert content_digest(list(cols.values()), list(cols)) == content_digest(cols)


def test_digest_binds_names_order_rows_and_bits():
    base = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])}
    d = content_digest(base)
    assert content_digest(base, ["b", "a"]) != d
    assert content_digest({"a": base["a"][::-1], "b": base["b"][::-1]}) != d
    assert content_digest({"a": base["a"], "c": base["b"]}) != d
    assert content_digest({"a": np.array([1.0, 2.0 + 2**-51]), "b": base["b"]}) != d
    assert content_digest({"a": np.array([0.0]), "b": np.array([1.0])}) != content_digest(
        {"a": np.array([-0.0]), "b": np.array([1.0])})
    assert set(column_digests(base)) == {"a", "b"}


@pytest.mark.parametrize("bad", [
    {"a": np.array([1, 2])},                      # not float64
    {"a\0b": np.array([1.0])},                    # NUL in a name
    {"a": np.array([1.0]), "b": np.array([1.0, 2.0])},  # ragged
])
def test_digest_refuses_undefined_inputs(bad):
    with pytest.raises(DataError):
        content_digest(bad)
