"""The untrusted-footer reader: agrees with pyarrow on good files, refuses bad ones cleanly."""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enfo_sdk.bundle.footer import Limits, parse_footer
from enfo_sdk.errors import BundleFormatError, BundleTooLargeError, NotParquetError, TruncatedBundleError


def parquet_bytes(table, **kwargs) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("kwargs", [
    dict(), dict(compression="zstd", row_group_size=3), dict(store_schema=False), dict(version="1.0"),
    dict(write_statistics=False, use_dictionary=False),
])
def test_agrees_with_pyarrow(kwargs):
    t = pa.table({"a": np.arange(10.0), "b": pa.array([1, None] * 5), "s": ["x"] * 10, "l": [[1.0, 2.0]] * 10})
    t = t.replace_schema_metadata({"k": "v", "enfo.envelope": "{}"})
    raw = parquet_bytes(t, **kwargs)
    mine = parse_footer(raw)
    md = pq.ParquetFile(pa.BufferReader(raw)).metadata
    assert mine.num_rows == md.num_rows == 10
    assert dict(mine.key_value) == {k.decode(): v for k, v in (md.metadata or {}).items()}
    assert [c.name for c in mine.columns][:3] == ["a", "b", "s"] and mine.nested
    assert mine.columns[0].type_name == "DOUBLE" and mine.columns[1].type_name == "INT64"


def test_framing_errors():
    raw = parquet_bytes(pa.table({"a": [1.0]}))
    with pytest.raises(NotParquetError):
        parse_footer(b"")
    with pytest.raises(NotParquetError):
        parse_footer(b"hello world, not parquet")
    with pytest.raises(TruncatedBundleError):
        parse_footer(raw[:-1])
    with pytest.raises(TruncatedBundleError):
        parse_footer(b"PAR1")
    huge = raw[:-8] + struct.pack("<I", 10**9) + b"PAR1"
    with pytest.raises(BundleTooLargeError):
        parse_footer(huge)
    with pytest.raises(TruncatedBundleError):
        parse_footer(raw[:-8] + struct.pack("<I", len(raw)) + b"PAR1")
    with pytest.raises(BundleTooLargeError):
        parse_footer(raw, limits=Limits(max_footer_bytes=10))


def test_corrupt_footers_raise_format_errors_only():
    raw = parquet_bytes(pa.table({"a": [1.0, 2.0]}))
    (n,) = struct.unpack("<I", raw[-8:-4])
    start = len(raw) - 8 - n
    rng = np.random.default_rng(0)
    for trial in range(300):
        b = bytearray(raw)
        for _ in range(1 + trial % 4):
            b[start + int(rng.integers(n))] = int(rng.integers(256))
        try:
            parse_footer(bytes(b))
        except BundleFormatError:
            pass  # any other exception type is a bug


def test_duplicate_field_and_deep_nesting_refused():
    # a struct with field 1 (i32) twice: header 0x15 = delta 1, type 5; then 0x05 = full id follows
    dup = bytes([0x15, 0x02, 0x05, 0x02, 0x02, 0x00])
    with pytest.raises(BundleFormatError, match="twice"):
        parse_footer(b"PAR1" + dup + struct.pack("<I", len(dup)) + b"PAR1")
    deep = bytes([0x1C] * 100) + bytes(101)  # struct in struct in struct ...
    with pytest.raises(BundleFormatError, match="deep"):
        parse_footer(b"PAR1" + deep + struct.pack("<I", len(deep)) + b"PAR1")
