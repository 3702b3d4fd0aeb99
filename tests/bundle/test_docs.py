"""docs/bundle-format.md: its worked examples are recomputed here (by hand and by the library)."""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enfo_sdk.bundle import MANIFEST_PAYLOAD_TYPE, column_digests, content_digest, pae
from enfo_sdk.signing import fingerprint, public_key_line

DOC = Path(__file__).resolve().parents[2] / "docs" / "bundle-format.md"


def block(marker: str) -> str:
    """The fenced block that follows ``<!-- example:marker -->``."""
    text = DOC.read_text()
    m = re.search(rf"<!-- example:{marker} -->\s*```\n(.*?)```", text, re.S)
    assert m, f"no example block {marker!r} in {DOC}"
    return m.group(1)


def test_digest_example_bytes_and_value():
    by_hand = b"enfo-columns-v1\n"
    for name, values in (("a", [1.0, -2.5]), ("y", [0.0, 3.25])):
        by_hand += name.encode() + b"\0float64\0" + struct.pack("<Q", 2) + struct.pack("<2d", *values)
    shown = bytes.fromhex(block("digest-bytes").replace("\n", " "))
    assert shown == by_hand and len(shown) == 84
    text = block("digest")
    digest = "sha256:" + hashlib.sha256(by_hand).hexdigest()
    assert f"content_digest = {digest}" in text
    cols = {"a": np.array([1.0, -2.5]), "y": np.array([0.0, 3.25])}
    assert content_digest(cols) == digest
    for name, d in column_digests(cols).items():
        assert f'"{name}": "{d}"' in text


def test_pae_example():
    text = block("pae")
    expected = pae(MANIFEST_PAYLOAD_TYPE, b'{"format_version":1}').decode()
    assert f"= '{expected}'" in text


def test_key_example():
    text = block("key")
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    pk = sk.public_key()
    assert f"raw public key = {pk.public_bytes_raw().hex()}" in text
    assert f"OpenSSH line   = {public_key_line(pk, 'rfc8032-test1')}" in text
    assert f"fingerprint    = {fingerprint(pk)}" in text
    sig = sk.sign(pae(MANIFEST_PAYLOAD_TYPE, b'{"format_version":1}')).hex()
    assert sig[:64] in text and sig[64:] in text


def test_doc_lists_every_manifest_field():
    from enfo_sdk.bundle import Manifest

    text = DOC.read_text()
    for name in Manifest.model_fields:
        assert f"| `{name}` |" in text, name


def test_seal_example():
    """Section 5c's vectors, recomputed with cryptography's primitives; the library unwraps them."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from enfo_sdk.sealing import unwrap_file_key

    text = block("seal")
    shown = {k.strip(): v.replace("\n", "").replace(" ", "") for k, v in
             re.findall(r"^(\w+)\s*= ([0-9a-f\n ]+?)(?=^\w|\Z)", text, re.M | re.S)}
    r = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    e = X25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
    R, E = r.public_key().public_bytes_raw(), e.public_key().public_bytes_raw()
    shared = e.exchange(r.public_key())
    wrap_key = HKDF(hashes.SHA256(), 32, salt=E + R, info=b"enfo-sealed-v1/x25519").derive(shared)
    wrapped = ChaCha20Poly1305(wrap_key).encrypt(bytes(12), bytes(range(64, 96)), None)
    assert shown == {"R": R.hex(), "E": E.hex(), "shared": shared.hex(), "wrap_key": wrap_key.hex(),
                     "wrapped_key": wrapped.hex()}
    assert unwrap_file_key(r, E, wrapped) == bytes(range(64, 96))
