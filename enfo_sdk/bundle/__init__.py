"""Signed Parquet bundles: manifest, content digest, DSSE envelope, writer and verifier.

Format v1 is specified in ``docs/bundle-format.md``. The owner writes, the partner verifies::

    from enfo_sdk.bundle import verify, write_bundle
    manifest = write_bundle("rows.parquet", result, signing_key=key, owner_name="acme")
    bundle = verify("rows.parquet", trust, partner="beta")   # raises a BundleError or returns
    bundle.data, bundle.manifest.key, bundle.signer

Modules: :mod:`.manifest` (the pydantic model), :mod:`.digest` (canonical content digest),
:mod:`.envelope` (DSSE), :mod:`.footer` (untrusted Parquet footer reading, size limits),
:mod:`.probes`, :mod:`.write`, :mod:`.verify`, :mod:`.record` (the signed rivalry record).
"""

from .digest import column_digests, content_digest
from .envelope import Envelope, Signature, pae, parse_envelope, sign_envelope
from .footer import DEFAULT_LIMITS, Limits
from .manifest import (
    ENVELOPE_KEY, MANIFEST_PAYLOAD_TYPE, Forging, Manifest, Owner, Partner, Probes, Task, parse_manifest,
)
from .probes import PROBE_RTOL
from .record import RivalryRecord
from .verify import VerifiedBundle, read_envelope_unverified, verify
from .write import write_bundle

__all__ = [
    "DEFAULT_LIMITS", "ENVELOPE_KEY", "Envelope", "Forging", "Limits", "MANIFEST_PAYLOAD_TYPE",
    "Manifest", "Owner", "PROBE_RTOL", "Partner", "Probes", "RivalryRecord", "Signature", "Task", "VerifiedBundle",
    "column_digests", "content_digest", "pae", "parse_envelope", "parse_manifest",
    "read_envelope_unverified", "sign_envelope", "verify", "write_bundle",
]
