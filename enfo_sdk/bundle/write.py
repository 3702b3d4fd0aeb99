"""Writing a signed bundle: table, manifest, envelope, one atomic rename.

Order of work (nothing touches the target path until the last step):

1. check the forged table (float64, finite, names) and the arguments;
2. draw probe points and compute the owner's predictions with ``spec.build()`` fitted on the
   exact float64 values that will be written;
3. build the :class:`Manifest` (content and column digests over those values), serialise it
   and check that it parses back strictly to the same manifest;
4. sign PAE(payloadType, manifest bytes) into a DSSE envelope;
5. encode the Parquet file in memory (plain float64 columns, no Arrow schema, no pandas
   metadata, one footer entry ``enfo.envelope``) and write it atomically.
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import datetime, timedelta, timezone
from numbers import Real
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._validation import data_row
from ..errors import ConfigError, DataError, SigningError
from ..signing import fingerprint, parse_public_key_line
from ..fs import write_bytes_atomic
from .digest import column_digests, content_digest
from .envelope import sign_envelope
from .manifest import (
    ENVELOPE_KEY, MANIFEST_PAYLOAD_TYPES, Forging, Manifest, Owner, Partner, Probes, Task,
    library_versions, parse_manifest,
)
from .probes import probe_points, probe_seed, rebuild_predictions
from .sealed import seal_manifest

__all__ = ["write_bundle", "signed_bundle_bytes", "encode_parquet"]

#: Longest accepted ``expires_in_days`` (100 years; larger values overflow a datetime).
MAX_EXPIRES_IN_DAYS = 36_500


def write_bundle(path: str | os.PathLike, result, **kwargs) -> Manifest:
    """Write ``result`` (a :class:`~enfo_sdk.forge.ForgeResult`) as a signed bundle at ``path``.

    ``path`` is replaced atomically if it exists; the keyword arguments are
    :func:`signed_bundle_bytes`'s. Returns the signed :class:`Manifest`.
    """
    manifest, data = signed_bundle_bytes(result, where=str(path), **kwargs)
    write_bytes_atomic(path, data)
    return manifest


def signed_bundle_bytes(
    result,
    *,
    where: str = "<bundle>",
    signing_key: Ed25519PrivateKey,
    owner_name: str,
    partner_name: str | None = None,
    partner_public_key: Ed25519PublicKey | str | None = None,
    expires_in_days: float | None = None,
    expires_at: datetime | None = None,
    metrics: dict[str, float] | None = None,
    n_probes: int = 8,
    now: datetime | None = None,
    seal_to=None,
    rivalry=None,
) -> Manifest:
    """The bytes of a signed bundle of ``result`` (a :class:`~enfo_sdk.forge.ForgeResult`), and
    its manifest; nothing is written (a workflow writes them with its other outputs).

    Parameters
    ----------
    result : ForgeResult
        The forged rows (``data``: features then target, original units) and their KeySpec.
    signing_key : Ed25519PrivateKey
        The owner's key (see :func:`enfo_sdk.signing.load_private_key`).
    owner_name : str
        Shown to partners; their trust store names the key independently.
    partner_name : str, optional
        Intended partner; verification then requires ``partner=`` to match.
    partner_public_key : Ed25519PublicKey or str, optional
        The partner's public key (object or ``ssh-ed25519`` line); its fingerprint is recorded
        and also accepted as the partner's identity. Needs ``partner_name``.
    expires_in_days : float, optional
        The bundle is refused from ``created + expires_in_days`` on.
    expires_at : datetime, optional
        Timezone-aware instant from which the bundle is refused (not with ``expires_in_days``;
        after ``created``, at most :data:`MAX_EXPIRES_IN_DAYS` later).
    metrics : dict, optional
        Owner-side validation metrics to publish. Default: ``best_val_rmse`` from the result
        (nothing about the owner's data size is published unless given here).
    n_probes : int
        Probe points (1..10000).
    now : datetime, optional
        Creation time (default: now, UTC).
    rivalry : RivalryRecord, optional
        The owner's measured rivalry figures (:mod:`enfo_sdk.bundle.record`), signed with the
        manifest; ``enfo-owner forge`` always gives one.
    where : str
        Where the bytes will go, for messages.
    seal_to : X25519PublicKey, optional
        The partner's public sealing key (:func:`enfo_sdk.sealing.load_sealing_public_key`):
        the key and probe points are then sealed to it (format v4, :mod:`.sealed`), inside the
        signed manifest, with a copy the owner's ``signing_key`` opens.

    Returns
    -------
    (Manifest, bytes)
        The signed manifest and the Parquet file's bytes.
    """
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise SigningError(f"signing_key must be an Ed25519 private key, got {type(signing_key).__name__}")
    if not isinstance(owner_name, str) or not owner_name.strip():
        raise ConfigError("owner_name must be a non-empty string")
    if isinstance(n_probes, bool) or not isinstance(n_probes, int) or not 1 <= n_probes <= 10_000:
        raise ConfigError(f"n_probes must be a whole number in 1..10000, got {n_probes!r}")
    spec = result.spec
    features = [str(c) for c in result.feature_names]
    target = str(result.target_name)
    task = _task(spec, features, target, getattr(result, "target_columns", None))
    columns = task.columns
    values = _checked_columns(result.data, columns)
    if spec.n_features != len(features):
        raise DataError(f"the key expects {spec.n_features} features, the bundle has {len(features)}: {features}")

    created = _utc(now) if now is not None else datetime.now(timezone.utc)
    expires = None
    if expires_in_days is not None:
        if not isinstance(expires_in_days, Real) or not math.isfinite(expires_in_days) \
                or not 0 < expires_in_days <= MAX_EXPIRES_IN_DAYS:
            raise ConfigError(f"expires_in_days must be a number of days in (0, {MAX_EXPIRES_IN_DAYS}], "
                              f"got {expires_in_days!r}")
        expires = created + timedelta(days=float(expires_in_days))
    if expires_at is not None:
        expires = _absolute_expiry(expires_at, created, expires_in_days)
    partner = _partner(partner_name, partner_public_key)

    bundle_id = str(uuid.uuid4())
    X = np.column_stack([values[n] for n in features])
    y = np.column_stack([values[n] for n in task.target_columns]) if task.classes else values[target]
    points = probe_points(spec.preprocessing, n_probes, probe_seed(bundle_id))
    predictions = rebuild_predictions(spec, X, y, points)
    if not np.isfinite(predictions).all():
        raise DataError("the key model trained on the forged rows predicts non-finite values at the probe points")

    manifest = Manifest(
        format_version=3 if task.classes else 2 if spec.columns is not None else 1,
        bundle_id=bundle_id,
        created=created,
        expires=expires,
        owner=Owner(name=owner_name.strip(), fingerprint=fingerprint(signing_key.public_key())),
        partner=partner,
        task=task,
        key=spec,
        forging=_forging(result),
        probes=Probes(points=points.tolist(), predictions=predictions.tolist()),
        metrics=_metrics(result, metrics),
        rows=len(y),
        content_digest=content_digest(values, columns),
        column_digests=column_digests(values, columns),
        rivalry=rivalry,
    )
    if seal_to is not None:
        manifest = seal_manifest(manifest, seal_to, owner_key=signing_key)
    payload = manifest.payload()
    if parse_manifest(payload, where) != manifest:  # what partners will parse is what we meant
        raise DataError("the manifest does not survive a JSON round trip (a non-JSON value in the settings?)")
    envelope = sign_envelope(payload, MANIFEST_PAYLOAD_TYPES[manifest.format_version], signing_key)
    return manifest, encode_parquet(columns, values, {ENVELOPE_KEY: envelope.to_json()})


def encode_parquet(columns: list[str], values: dict[str, np.ndarray], footer: dict[str, bytes]) -> bytes:
    """Parquet bytes of required float64 columns with exactly ``footer`` as key-value metadata.

    No ``ARROW:schema`` entry (so no pandas metadata and no extension types), no compression
    (every Parquet reader can decode it), one row group, PLAIN encoding (no dictionary page) and
    no statistics: page headers then hold little besides the framing, so few bytes are left that
    a reader ignores (a flipped bit in a statistic is accepted with the signed content unchanged;
    benchmarks/fuzz_bundle.py counts such mutants).
    """
    schema = pa.schema([pa.field(n, pa.float64(), nullable=False) for n in columns])
    table = pa.Table.from_arrays([pa.array(values[n], type=pa.float64()) for n in columns], schema=schema)
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, store_schema=False, compression="none", use_dictionary=False,
                          write_statistics=False) as writer:
        writer.write_table(table, row_group_size=max(1, table.num_rows))
        writer.add_key_value_metadata({k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in footer.items()})
    return sink.getvalue().to_pybytes()


# -- helpers -------------------------------------------------------------------------------------
def _checked_columns(data, columns: list[str]) -> dict[str, np.ndarray]:
    got = [str(c) for c in data.columns]
    if got != columns:
        missing = [c for c in columns if c not in got]
        extra = [c for c in got if c not in columns]
        detail = "; ".join(p for p in (
            f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
            "" if missing or extra else f"order {got}",
        ) if p)
        raise DataError(f"the forged table must have the columns {columns} in this order ({detail})")
    out = {}
    for name in columns:
        if "\0" in name:
            raise DataError(f"column name {name!r} contains a NUL character")
        try:
            arr = np.ascontiguousarray(data[name].to_numpy(dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise DataError(f"column {name!r} is not numeric: {e}") from e
        bad = ~np.isfinite(arr)
        if bad.any():
            raise DataError(f"column {name!r} has {int(bad.sum())} NaN or infinite values "
                            f"(first in forged {data_row(int(np.argmax(bad)))})")
        out[name] = arr
    if len(next(iter(out.values()))) < 2:
        raise DataError("a bundle needs at least 2 rows")
    return out


def _task(spec, features: list[str], target: str, target_columns) -> Task:
    """The manifest's task: a regression target column, or a classification key's classes."""
    if spec.task != "classification":
        return Task(target=target, features=features)
    classes = spec.classes
    if classes is None:
        raise DataError(f"a bundle of classification key {spec.algorithm!r} needs its column encoding "
                        f"(the classes); forge it through a ColumnTransform")
    task = Task(target=target, features=features, type="classification", classes=classes)
    if target_columns and list(target_columns) != task.target_columns:
        raise DataError(f"the forged label columns {list(target_columns)} differ from the key's {task.target_columns}")
    return task


def _absolute_expiry(expires_at, created: datetime, expires_in_days) -> datetime:
    if expires_in_days is not None:
        raise ConfigError("give expires_in_days or expires_at, not both")
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise ConfigError(f"expires_at must be a timezone-aware datetime, got {expires_at!r}")
    expires = expires_at.astimezone(timezone.utc)
    if not created < expires <= created + timedelta(days=MAX_EXPIRES_IN_DAYS):
        raise ConfigError(f"expires_at {expires.isoformat()} must be after the bundle's creation "
                          f"({created.isoformat(timespec='seconds')}) and at most {MAX_EXPIRES_IN_DAYS:,} days later")
    return expires


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ConfigError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return dt.astimezone(timezone.utc)


def _partner(name: str | None, public_key) -> Partner | None:
    if name is None and public_key is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("partner_name must be a non-empty string when a partner is named or its key given")
    fp = None
    if public_key is not None:
        if isinstance(public_key, str):
            public_key = parse_public_key_line(public_key)
        fp = fingerprint(public_key)
    return Partner(name=name.strip(), fingerprint=fp)


def _scalar(key: str, v: Any):
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise DataError(f"forging setting {key!r} is {v}; the manifest holds finite numbers only")
        return v
    raise DataError(f"forging setting {key!r} = {v!r} is not a JSON scalar")


def _forging(result) -> Forging:
    settings = {str(k): _scalar(str(k), v) for k, v in dict(result.settings).items()}
    steps = result.metrics.get("steps_run", settings.get("steps", 0))
    return Forging(
        mode=settings.get("mode", "rival"),
        weights={
            "alignment": float(settings.get("alignment_weight", 0.0) or 0.0),
            "adaptability": float(settings.get("adaptability_weight", 0.0) or 0.0),
            "rival": float(settings.get("rival_weight", 0.0) or 0.0),
        },
        steps=int(steps),
        seed=int(settings.get("seed", 0) or 0),
        settings=settings,
        library_versions=library_versions(),
    )


def _metrics(result, extra: dict | None) -> dict[str, float]:
    out: dict[str, float] = {}
    best = result.metrics.get("best_val_rmse") if result.metrics else None
    if isinstance(best, Real) and not isinstance(best, bool) and math.isfinite(best):
        out["best_val_rmse"] = float(best)
    for k, v in (extra or {}).items():
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
            raise ConfigError(f"metric {k!r} must be a finite number, got {v!r}")
        out[str(k)] = float(v)
    return out

