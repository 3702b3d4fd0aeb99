"""Sealing a manifest's key to its partner, and opening it (format v4; docs/bundle-format.md).

:func:`seal_manifest` turns a manifest of format 1-3 into format 4: ``key`` and ``probes``
leave the clear text and go, as the JSON ``{"key": ..., "probes": ...}``, into
``sealed.ciphertext``, encrypted under a fresh file key that is wrapped for the partner's X25519
key (:mod:`enfo_sdk.sealing`); the associated data is the rest of the manifest
(:meth:`Manifest.sealed_aad`), and the owner then signs the whole, so the signature covers the
sealed block too. :func:`open_manifest` reverses it for the holder of the private key and
returns the manifest of ``sealed.format_version``, parsed and checked as strictly as any other;
anyone else gets a :class:`SealedKeyError` that says who the bundle is sealed to.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from ..errors import KeySpecError, ManifestError, SealedKeyError
from ..sealing import (
    SCHEME, new_file_key, open_content, seal_content, sealing_fingerprint, unwrap_file_key, unwrap_for_owner,
    wrap_file_key, wrap_for_owner,
)
from ..signing import fingerprint
from .manifest import (
    SEALED_FORMAT_VERSION, Manifest, Sealed, SealedContent, SealedOwnerCopy, SealedRecipient, describe,
)

__all__ = ["open_manifest", "seal_manifest", "sealed_to"]


def seal_manifest(manifest: Manifest, recipient, owner_key=None) -> Manifest:
    """The format-4 manifest whose key and probes only ``recipient`` (an X25519 public key) can
    open -- and the owner, when its Ed25519 signing key ``owner_key`` is given."""
    file_key = new_file_key()
    ephemeral, wrapped = wrap_file_key(file_key, recipient)
    stanzas: list = [SealedRecipient(type="x25519", fingerprint=sealing_fingerprint(recipient),
                                     ephemeral=_b64(ephemeral), wrapped_key=_b64(wrapped))]
    if owner_key is not None:
        salt, wrapped = wrap_for_owner(file_key, owner_key)
        stanzas.append(SealedOwnerCopy(type="owner", fingerprint=fingerprint(owner_key.public_key()),
                                       salt=_b64(salt), wrapped_key=_b64(wrapped)))
    plaintext = SealedContent(key=manifest.key, probes=manifest.probes).model_dump_json().encode("utf-8")
    public = manifest.model_copy(update={
        "format_version": SEALED_FORMAT_VERSION, "key": None, "probes": None,
        "sealed": Sealed(scheme=SCHEME, format_version=manifest.format_version, recipients=stanzas, ciphertext=""),
    })
    ciphertext = seal_content(file_key, plaintext, public.sealed_aad())
    sealed = public.model_copy(update={"sealed": public.sealed.model_copy(update={"ciphertext": _b64(ciphertext)})})
    return Manifest.model_validate_json(sealed.payload(), strict=True)  # checked as a reader will check it


def sealed_to(manifest: Manifest) -> list[str]:
    """The partner key fingerprints a sealed manifest is sealed to (empty when it is not sealed)."""
    return manifest.sealed.partners if manifest.sealed is not None else []


def open_manifest(manifest: Manifest, private_key, name: str = "bundle", key_path: str | None = None) -> Manifest:
    """The opened manifest (format ``sealed.format_version``) of a sealed one.

    Raises
    ------
    SealedKeyError
        ``private_key`` is None or not a recipient's, or the sealed block does not open under
        this manifest's unsealed part (moved from another manifest).
    ManifestError
        The opened content does not parse, or does not fit the manifest.
    """
    sealed = manifest.sealed
    if sealed is None:
        return manifest
    to = ", ".join(sealed_to(manifest))
    if private_key is None:
        raise SealedKeyError(f"{name}: the key is sealed to partner {to}; only that partner can rebuild it: pass "
                             "--key PATH (their private sealing key from enfo-partner keygen)")
    owner = isinstance(private_key, Ed25519PrivateKey)  # the owner opening its own bundle
    mine = fingerprint(private_key.public_key()) if owner else sealing_fingerprint(private_key.public_key())
    where = f" ({key_path})" if key_path else ""
    stanzas = [r for r in sealed.recipients if r.fingerprint == mine and (r.type == "owner") == owner]
    if not stanzas:
        raise SealedKeyError(f"{name}: the key is sealed to partner {to}, not to your key {mine}{where}; only "
                             "that partner" + ("" if owner else " (and the owner who signed it)") + " can rebuild it")
    s0 = stanzas[0]
    file_key = (unwrap_for_owner(private_key, _unb64(s0.salt, name), _unb64(s0.wrapped_key, name)) if owner
                else unwrap_file_key(private_key, _unb64(s0.ephemeral, name), _unb64(s0.wrapped_key, name)))
    if file_key is None:
        raise SealedKeyError(f"{name}: the sealed key names your key {mine}{where} but does not open with it "
                             "(the owner sealed it wrongly)")
    plaintext = open_content(file_key, _unb64(sealed.ciphertext, name), manifest.sealed_aad())
    if plaintext is None:
        raise SealedKeyError(f"{name}: the sealed key does not open under this manifest: the sealed block was "
                             "made for another manifest (moved, or the manifest changed after sealing)")
    try:
        content = SealedContent.model_validate_json(plaintext, strict=True)
    except ValidationError as e:
        raise ManifestError(f"{name}: the sealed key opens but does not parse: {describe(e)}") from e
    except KeySpecError as e:
        raise ManifestError(f"{name}: the sealed key cannot be rebuilt here: key: {e}") from e
    opened = manifest.model_copy(update={"format_version": sealed.format_version, "key": content.key,
                                         "probes": content.probes, "sealed": None})
    try:
        return Manifest.model_validate_json(opened.payload(), strict=True)
    except ValidationError as e:
        raise ManifestError(f"{name}: the sealed key does not fit its manifest: {describe(e)}") from e


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as e:
        raise ManifestError(f"{name}: the sealed block holds invalid base64 ({e})") from e
