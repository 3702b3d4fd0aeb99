"""A bundle's rows for the owner's own tools: verified (an update) or read by the owner.

:func:`rows_from_bundle` verifies a bundle against trusted keys and returns its rows, key and
manifest -- the start of an update (``enfo-owner forge --from``). :func:`owner_bundle_rows` is
the owner reading a bundle it forged itself (``enfo-owner evaluate --bundle``): the manifest is
read without checking the signature, but the rows must match its content digest and the
contract's columns. Both live here so that nothing outside ``bundle/`` opens a bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, DigestMismatchError


def rows_from_bundle(path: str | Path, trust, partner: str | None = None) -> tuple[pd.DataFrame, Any, Any]:
    """A verified bundle's rows, key and manifest: the start of an update (``forge --from``).

    Parameters
    ----------
    path : str or Path
        The previous bundle.
    trust : TrustStore, public key, or path(s) of public key / trust-store files
        The bundle must verify against these keys (e.g. the owner's own ``owner.key.pub``).
    partner : str, optional
        Needed when the bundle names an intended partner.

    Returns
    -------
    data : DataFrame of shape (rows, n_features + 1)
    spec : KeySpec
    manifest : Manifest
    """
    from ..signing import TrustStore, load_trust
    from .verify import verify

    if not isinstance(trust, TrustStore):
        if hasattr(trust, "public_bytes"):
            store = TrustStore()
            store.add("owner", trust)
            trust = store
        else:
            trust = load_trust(trust)
    verified = verify(Path(path), trust, partner=partner)
    return verified.data.copy(), verified.require_key(), verified.manifest


def owner_bundle_rows(path: str | Path, features: list[str], target: str,
                      owner_key=None) -> tuple[Any, pd.DataFrame]:
    """The manifest and rows of a bundle the owner forged, checked against its content digest.

    The manifest is read **without signature verification** (it is the owner's own file); the
    bundle's columns must be ``features`` then ``target`` (a classification bundle: one label
    column ``target=class`` per class) and its rows must match the content digest. A key
    sealed to a partner is opened with the owner's copy: ``owner_key`` is the Ed25519 signing
    key, or a function returning it (called only for a sealed bundle); the manifest returned
    is then the opened one.

    Raises
    ------
    DataError
        The bundle's columns differ from the contract's, or its rows cannot be read.
    DigestMismatchError
        The rows do not match the manifest's content digest.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .digest import content_digest
    from .footer import parse_footer, read_bounded
    from .verify import read_envelope_unverified

    path = Path(path)
    manifest, _keyid = read_envelope_unverified(path)
    if manifest.sealed is not None:  # sealed to a partner: the owner's copy opens with its signing key
        from .sealed import open_manifest

        key = owner_key() if callable(owner_key) else owner_key
        if key is None:
            raise DataError(f"{path}: the key is sealed to partner {', '.join(manifest.sealed.partners)}; the owner "
                            "opens it with the signing key that signed it (signing.key)")
        manifest = open_manifest(manifest, key, str(path))
    names = list(manifest.columns)
    if list(manifest.task.features) != list(features) or manifest.task.target != target:
        raise DataError(
            f"{path}: bundle columns {[*manifest.task.features, manifest.task.target]} do not match the "
            f"contract's {[*features, target]}"
        )
    raw = read_bounded(path)
    footer = parse_footer(raw, str(path))
    if footer.num_rows != manifest.rows:  # checked before a byte of column data is decoded
        raise DigestMismatchError(f"{path}: the table has {footer.num_rows:,} rows but the manifest "
                                  f"says {manifest.rows:,}; refused before decoding")
    try:
        pf = pq.ParquetFile(pa.BufferReader(raw))
        _check_decoded_size(pf.metadata, manifest.rows, len(names), path)
        df = pf.read(use_threads=False, use_pandas_metadata=False).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as e:  # the kinds pyarrow raises for bad files
        raise DataError(f"{path}: cannot read the bundle's rows: {e}") from e
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataError(f"{path}: bundle lacks column(s) {missing}")
    df = df[names].astype(np.float64)
    if content_digest(df, names) != str(manifest.content_digest):
        raise DigestMismatchError(f"{path}: the rows do not match the manifest's content digest")
    return manifest, df


def _check_decoded_size(metadata, rows: int, columns: int, path) -> None:
    """Refuse a file whose column data would decode to more than its float64 rows can hold
    (a 0.9 MB compressed file decoded to 3.85 GB before this check)."""
    limit = 2 * 8 * rows * columns + (1 << 20)  # values, a dictionary page, headers
    total = sum(metadata.row_group(g).column(c).total_uncompressed_size
                for g in range(metadata.num_row_groups) for c in range(metadata.num_columns))
    if total > limit:
        raise DataError(f"{path}: the column data would decode to {total:,} bytes, more than "
                        f"{rows:,} rows of {columns} float64 columns take ({limit:,}); refused")
