"""The bundle manifest: the signed description of a bundle (DESIGN.md, "Bundle format v1").

The manifest is JSON, parsed strictly (``extra="forbid"``, pydantic strict mode, no
duplicate keys, no ``NaN``/``Infinity``). It names the key exactly (a :class:`KeySpec`), the
table's columns, where the rows came from, the probe points with the owner's predictions,
and the content digest that binds the table to the signature. ``schemas/manifest.schema.json``
is generated from :class:`Manifest`.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_serializer, model_validator,
)

from ..errors import KeySpecError, ManifestError
from ..spec import KeySpec
from .record import RivalryRecord

__all__ = [
    "ENVELOPE_KEY", "MANIFEST_PAYLOAD_TYPE", "MANIFEST_PAYLOAD_TYPES", "SEALED_FORMAT_VERSION", "Forging", "Manifest",
    "Owner", "Partner", "Probes", "Sealed", "SealedContent", "SealedOwnerCopy", "SealedRecipient", "Task", "library_versions",
    "RivalryRecord", "parse_manifest",
]

#: DSSE payloadType of a v1 manifest
MANIFEST_PAYLOAD_TYPE = "application/vnd.enfo.manifest+json; version=1"
#: DSSE payloadType of each manifest format version this library reads and writes (v2: typed
#: columns, the key carries the raw table's encoding; v3: v2 with a classification target)
MANIFEST_PAYLOAD_TYPES = {
    1: MANIFEST_PAYLOAD_TYPE, 2: "application/vnd.enfo.manifest+json; version=2",
    3: "application/vnd.enfo.manifest+json; version=3",
    4: "application/vnd.enfo.manifest+json; version=4",
}
#: the format version of a manifest whose key and probes are sealed to a partner (``sealed``)
SEALED_FORMAT_VERSION = 4
#: the one Parquet footer key-value entry of a bundle
ENVELOPE_KEY = "enfo.envelope"

Fingerprint = Annotated[str, StringConstraints(pattern=r"^SHA256:[A-Za-z0-9+/]{43}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00]*$")]
Scalar = bool | int | float | str | None
Base64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$", max_length=4_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Owner(_Strict):
    """Who made and signed the bundle."""

    name: Name
    fingerprint: Fingerprint


class Partner(_Strict):
    """The partner the bundle is intended for (when the owner says so)."""

    name: Name
    fingerprint: Fingerprint | None = None


class Task(_Strict):
    """The table's columns: ``features`` in order, then the target.

    A regression bundle has one target column, ``target``, and records no ``type`` (formats v1
    and v2). A classification bundle (format v3) says ``type: classification`` and lists its
    ``classes``; its target columns are one probability per class, ``target=class``, in that
    order (:attr:`target_columns`).
    """

    target: ColumnName
    features: list[ColumnName] = Field(min_length=1)
    type: Literal["regression", "classification"] = "regression"
    classes: list[ColumnName] | None = Field(None, min_length=2, max_length=50)

    @model_serializer(mode="wrap")
    def _omit_regression_defaults(self, handler):
        out = handler(self)
        if out.get("type") == "regression":  # v1/v2 manifests stay as they were
            out.pop("type", None)
        if out.get("classes") is None:
            out.pop("classes", None)
        return out

    @model_validator(mode="after")
    def _distinct(self) -> "Task":
        if (self.type == "classification") != (self.classes is not None):
            raise ValueError("classes are listed exactly when type is classification")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be distinct")
        seen = set()
        for name in [*self.features, *self.target_columns]:
            if name in seen:
                raise ValueError(f"column name {name!r} appears twice (features and target must be distinct)")
            seen.add(name)
        return self

    @property
    def target_columns(self) -> list[str]:
        """The target's columns: ``[target]``, or ``target=class`` per class."""
        if self.classes is None:
            return [self.target]
        return [f"{self.target}={c}" for c in self.classes]

    @property
    def columns(self) -> list[str]:
        return [*self.features, *self.target_columns]


class Forging(_Strict):
    """Forging provenance: how the rows were made (informational; not re-run by partners)."""

    mode: Literal["rival", "augment", "adaptable"]
    weights: dict[str, float]
    steps: int = Field(ge=0)
    seed: int
    settings: dict[str, Scalar]
    library_versions: dict[str, str]


class Probes(_Strict):
    """Query points (original units, not real rows) and the owner's key predictions there
    (classification: the class probabilities, one list per point)."""

    points: list[list[float]] = Field(min_length=1, max_length=10_000)
    predictions: list[float] | list[list[float]]

    @model_validator(mode="after")
    def _shapes(self) -> "Probes":
        if len(self.predictions) != len(self.points):
            raise ValueError(f"{len(self.points)} probe points but {len(self.predictions)} predictions")
        widths = {len(p) for p in self.points}
        if len(widths) != 1:
            raise ValueError(f"probe points have different lengths {sorted(widths)}")
        return self


class SealedRecipient(_Strict):
    """Who can open a sealed block: a partner's X25519 key (:mod:`enfo_sdk.sealing`).

    ``ephemeral`` is the owner's one-time X25519 public key and ``wrapped_key`` the file key
    encrypted for the partner (both base64); ``fingerprint`` names the partner's public key.
    """

    type: Literal["x25519"]
    fingerprint: Fingerprint
    ephemeral: Base64 = Field(min_length=44, max_length=44)
    wrapped_key: Base64 = Field(min_length=64, max_length=64)


class SealedOwnerCopy(_Strict):
    """The owner's own way into a sealed block (for ``enfo-owner evaluate`` and ``forge --from``):
    the file key wrapped under a key derived from the owner's signing key and ``salt``;
    ``fingerprint`` is the signing key's (``owner.fingerprint``)."""

    type: Literal["owner"]
    fingerprint: Fingerprint
    salt: Base64 = Field(min_length=24, max_length=24)
    wrapped_key: Base64 = Field(min_length=64, max_length=64)


class Sealed(_Strict):
    """The key and probe points, encrypted to the partner (format v4; docs/bundle-format.md).

    ``ciphertext`` (base64) is ChaCha20-Poly1305 under the file key of the JSON object
    ``{"key": ..., "probes": ...}`` with the manifest's unsealed part as associated data;
    ``format_version`` is the version the opened manifest has (1, 2 or 3).
    """

    scheme: Literal["x25519-hkdf-sha256-chacha20poly1305"]
    format_version: Literal[1, 2, 3]
    recipients: list[Annotated[SealedRecipient | SealedOwnerCopy, Field(discriminator="type")]] = Field(
        min_length=1, max_length=16)
    ciphertext: Base64

    @property
    def partners(self) -> list[str]:
        """The fingerprints of the partner keys the block is sealed to."""
        return [r.fingerprint for r in self.recipients if r.type == "x25519"]


class SealedContent(_Strict):
    """The plaintext of a sealed block: what a manifest of format 1-3 holds in the clear."""

    key: KeySpec
    probes: Probes


class Manifest(_Strict):
    """The signed manifest of a v1 bundle.

    Attributes
    ----------
    format_version : 1, 2, 3 or 4
        2 when the key carries the raw table's column encoding (``key.columns``), 3 when it
        also has a classification target, else 1; 4 when ``key`` and ``probes`` are sealed to
        a partner (``sealed``; opening it gives the manifest of ``sealed.format_version``).
    bundle_id : str
        Unique id (a UUID4 string from the writer).
    created, expires : datetime (timezone-aware)
        ``expires`` is optional; a bundle is refused at and after it.
    owner : Owner
        Name and fingerprint of the signer.
    partner : Partner or None
        The intended partner, when the bundle was made for one.
    task : Task
        Feature names in column order, then the target.
    key : KeySpec or None
        Algorithm, version, hyperparameters and preprocessing: everything needed to rebuild
        the key model (None, and absent from the JSON, in a sealed manifest).
    forging : Forging
        Mode, objective weights, steps, seed, all settings, library versions.
    probes : Probes or None
        Probe points and the owner's predictions (reproduced to 1e-6 relative on verify;
        None in a sealed manifest).
    sealed : Sealed or None
        Format v4 only: the key and probes, encrypted to the partner.
    metrics : dict of str to float
        Owner-side validation metrics.
    rows : int
        Row count of the table.
    content_digest : str
        ``sha256:<hex>`` over the table (see :mod:`enfo_sdk.bundle.digest`).
    column_digests : dict of str to str
        One ``sha256:<hex>`` per column, in column order, so a mismatch names the column.
    rivalry : RivalryRecord or None
        The owner's measured rivalry figures and how they were measured (optional; left out of
        the JSON when absent, so bundles written before it keep their bytes).
    """

    format_version: Literal[1, 2, 3, 4]
    bundle_id: Name
    created: AwareDatetime
    expires: AwareDatetime | None = None
    owner: Owner
    partner: Partner | None = None
    task: Task
    key: KeySpec | None = None
    forging: Forging
    probes: Probes | None = None
    metrics: dict[str, float]
    rows: int = Field(ge=2)
    content_digest: Digest
    column_digests: dict[ColumnName, Digest]
    sealed: Sealed | None = None
    rivalry: RivalryRecord | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler):
        out = handler(self)
        for name in ("key", "probes", "sealed", "rivalry"):  # absent: left out, so older bundles keep their bytes
            if name in out and out[name] is None:
                del out[name]
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "Manifest":
        if list(self.column_digests) != self.task.columns:
            raise ValueError(
                f"column_digests must list the columns {self.task.columns} in order, got {list(self.column_digests)}"
            )
        if self.expires is not None and self.expires <= self.created:
            raise ValueError("expires must be after created")
        if self.rivalry is not None and self.rivalry.task != self.task.type:
            raise ValueError(f"rivalry.task {self.rivalry.task!r} differs from task.type {self.task.type!r}")
        sealed = self.format_version == SEALED_FORMAT_VERSION
        if sealed != (self.sealed is not None) or (sealed and (self.key is not None or self.probes is not None)):
            raise ValueError("a sealed block is present exactly in format_version 4 manifests, which have no "
                             "key or probes in the clear")
        if sealed:
            if (self.task.type == "classification") != (self.sealed.format_version == 3):
                raise ValueError("sealed.format_version is 3 exactly for a classification task")
            return self
        if self.key is None or self.probes is None:
            raise ValueError("key and probes are required in format_version 1-3 manifests")
        d = len(self.task.features)
        if self.key.n_features != d:
            raise ValueError(
                f"key.preprocessing has {self.key.n_features} features but task.features names {d}"
            )
        if len(self.probes.points[0]) != d:
            raise ValueError(f"probe points have {len(self.probes.points[0])} coordinates, expected {d}")
        cols = self.key.columns
        if (cols is not None) != (self.format_version >= 2):
            raise ValueError("key.columns is present exactly in format_version 2 and 3 manifests")
        classify = self.task.type == "classification"
        if classify != (self.format_version == 3):
            raise ValueError("task.type is classification exactly in format_version 3 manifests")
        if classify != (self.key.task == "classification"):
            raise ValueError(f"task.type {self.task.type!r} but key {self.key.algorithm!r} is a {self.key.task} key")
        if classify:
            widths = {len(p) for p in self.probes.predictions} if all(isinstance(p, list) for p in self.probes.predictions) else set()
            if widths != {len(self.task.classes)}:
                raise ValueError(f"probe predictions must hold {len(self.task.classes)} class probabilities per point")
        elif any(isinstance(p, list) for p in self.probes.predictions):
            raise ValueError("probe predictions of a regression key are numbers")
        if cols is not None:
            if cols.feature_names != list(self.task.features):
                raise ValueError(f"task.features {list(self.task.features)} differ from the key's encoded "
                                 f"features {cols.feature_names}")
            if cols.target.name != self.task.target:
                raise ValueError(f"task.target {self.task.target!r} differs from the key's {cols.target.name!r}")
            if cols.task != self.task.type or getattr(cols.target, "classes", None) != self.task.classes:
                raise ValueError(f"task ({self.task.type}, classes {self.task.classes}) differs from the key's "
                                 f"encoded target ({cols.task}, classes {getattr(cols.target, 'classes', None)})")
        return self

    @property
    def columns(self) -> list[str]:
        """Column names in table order: features, then the target."""
        return self.task.columns

    def payload(self) -> bytes:
        """The manifest JSON bytes that get signed."""
        return self.model_dump_json().encode("utf-8")

    def sealed_aad(self) -> bytes:
        """The associated data of a sealed block: the manifest's JSON without ``sealed.ciphertext``
        (every unsealed field, and the sealed block's scheme and recipients), after a label."""
        return b"enfo-sealed-v1\n" + self.model_dump_json(exclude={"sealed": {"ciphertext"}}).encode("utf-8")


# -- strict parsing ---------------------------------------------------------------------------
def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constants(token: str):
    raise ValueError(f"{token} is not valid JSON")


def strict_json(data: bytes):
    """``json.loads`` that refuses duplicate keys, NaN/Infinity and nesting deeper than the
    interpreter's recursion limit (raises ValueError; the input is untrusted until the
    signature checks, and a RecursionError is not a message)."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply (refused unread)") from None


def parse_manifest(payload: bytes, name: str = "bundle") -> Manifest:
    """Parse signed manifest bytes strictly; ManifestError names the fields at fault."""
    try:
        text = payload.decode("utf-8")
        strict_json(text)
    except (UnicodeDecodeError, ValueError) as e:
        raise ManifestError(f"{name}: the signed manifest is not valid JSON ({e})") from e
    try:
        return Manifest.model_validate_json(payload, strict=True)
    except ValidationError as e:
        raise ManifestError(f"{name}: the signed manifest does not match format v1: {describe(e)}") from e
    except KeySpecError as e:  # raised inside KeySpec's validator (unknown key, bad hyperparameter)
        raise ManifestError(f"{name}: the signed manifest's key cannot be rebuilt here: key: {e}") from e


def describe(e: ValidationError, limit: int = 5) -> str:
    """A one-line account of a pydantic error: 'field.path: message; ...'."""
    parts = []
    for err in e.errors()[:limit]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (format v1 allows no extra fields)"
        elif err.get("type") == "missing":
            msg = "required field is missing"
        parts.append(f"{where}: {msg}")
    more = len(e.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


# -- provenance ------------------------------------------------------------------------------------
_DISTRIBUTIONS = ("enfo-sdk", "numpy", "torch", "scikit-learn", "pyarrow", "pandas", "pydantic", "cryptography")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a bundle's numbers."""
    out = {"python": platform.python_version()}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")

