r"""The canonical content digest of a bundle's table (DESIGN.md, "Bundle format v1").

    digest = SHA-256( b"enfo-columns-v1\n"
                      || for each column, in manifest order (features, then target):
                           name (UTF-8) || 0x00 || b"float64" || 0x00
                           || row count as unsigned 64-bit little-endian
                           || every value as IEEE-754 binary64 little-endian, row order )

written ``"sha256:" + lowercase hex``. It binds names, order, row order and the exact bits
of every value (so ``-0.0`` differs from ``0.0``). Names may not contain NUL, which keeps the
byte string uniquely decodable.

A *column digest* is SHA-256 of one column's part alone (name .. values, no prefix); the
manifest stores them so a mismatch can name the column that changed.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from ..errors import DataError

DIGEST_DOMAIN = b"enfo-columns-v1\n"
DIGEST_PREFIX = "sha256:"

__all__ = ["DIGEST_DOMAIN", "column_digests", "content_digest"]


def _columns(data, names: Sequence[str] | None) -> list[tuple[str, np.ndarray]]:
    """(name, float64 little-endian contiguous values) pairs, checked."""
    pd = sys.modules.get("pandas")  # only a loaded pandas can have made a DataFrame; not imported here
    if pd is not None and isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns] if names is None else list(names)
        arrays = [data[n].to_numpy() for n in names]
    elif isinstance(data, Mapping):
        names = list(data) if names is None else list(names)
        arrays = [data[n] for n in names]
    elif isinstance(data, pa.Table):
        names = list(data.column_names) if names is None else list(names)
        arrays = [data.column(n).to_numpy() for n in names]
    else:
        arrays = list(data)
        if names is None:
            raise DataError("content_digest needs column names when given a sequence of arrays")
        names = list(names)
        if len(names) != len(arrays):
            raise DataError(f"{len(names)} names for {len(arrays)} columns")
    out = []
    n_rows = None
    for name, values in zip(names, arrays):
        name = str(name)
        if "\0" in name:
            raise DataError(f"column name {name!r} contains a NUL character")
        arr = np.asarray(values)
        if arr.dtype != np.float64:
            raise DataError(f"column {name!r} is {arr.dtype}, the digest is defined over float64 only")
        if arr.ndim != 1:
            raise DataError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
        if n_rows is None:
            n_rows = len(arr)
        elif len(arr) != n_rows:
            raise DataError(f"column {name!r} has {len(arr)} rows, the first column {n_rows}")
        out.append((name, np.ascontiguousarray(arr, dtype="<f8")))
    return out


def _update(h, name: str, values: np.ndarray) -> None:
    h.update(name.encode("utf-8"))
    h.update(b"\0float64\0")
    h.update(struct.pack("<Q", len(values)))
    h.update(memoryview(values).cast("B"))


def content_digest(data, names: Sequence[str] | None = None) -> str:
    """The bundle content digest, ``"sha256:<64 hex>"``.

    Parameters
    ----------
    data : DataFrame, mapping name -> array, pyarrow Table, or sequence of arrays
        float64 columns of equal length.
    names : sequence of str, optional
        Columns to hash, in order (required for a sequence of arrays; default: all columns
        in their order).
    """
    h = hashlib.sha256(DIGEST_DOMAIN)
    for name, values in _columns(data, names):
        _update(h, name, values)
    return DIGEST_PREFIX + h.hexdigest()


def column_digests(data, names: Sequence[str] | None = None) -> dict[str, str]:
    """Per-column digests (each column's part of :func:`content_digest`, hashed alone)."""
    out = {}
    for name, values in _columns(data, names):
        h = hashlib.sha256()
        _update(h, name, values)
        out[name] = DIGEST_PREFIX + h.hexdigest()
    return out
