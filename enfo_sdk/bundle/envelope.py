"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1).

The signature covers the *pre-authentication encoding* of the payload type and payload:

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with SP one space (0x20) and LEN the byte length in ASCII decimal without leading zeros.
Signing exact bytes this way means there is no canonical-JSON step to get wrong: the
verifier checks the signature over the bytes it received, and only then parses them.

Envelope JSON: ``{"payload": b64(body), "payloadType": type, "signatures": [{"keyid": ...,
"sig": b64(signature)}]}`` with standard, padded base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import MalformedEnvelopeError
from ..signing import fingerprint
from .manifest import strict_json

__all__ = ["Envelope", "Signature", "pae", "parse_envelope", "sign_envelope"]

MAX_SIGNATURES = 16


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [
                    {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in self.signatures
                ],
            },
            separators=(",", ":"),
        ).encode("ascii")

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.payload)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``payload``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign_envelope(payload: bytes, payload_type: str, key: Ed25519PrivateKey) -> Envelope:
    """An envelope with one Ed25519 signature over PAE(payload_type, payload)."""
    sig = key.sign(pae(payload_type, payload))
    return Envelope(payload_type, bytes(payload), (Signature(fingerprint(key.public_key()), sig),))


def _b64(value, what: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedEnvelopeError(f"{name}: envelope {what} must be a base64 string, got {type(value).__name__}")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise MalformedEnvelopeError(f"{name}: envelope {what} is not valid base64 ({e})") from e


def parse_envelope(data: bytes, name: str = "bundle") -> Envelope:
    """Parse envelope JSON strictly (no signature check here).

    Raises
    ------
    MalformedEnvelopeError
        Not JSON, not an object, missing or extra fields, bad base64, no signatures.
    """
    try:
        obj = strict_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MalformedEnvelopeError(f"{name}: the enfo.envelope entry is not valid JSON ({e})") from e
    if not isinstance(obj, dict):
        raise MalformedEnvelopeError(f"{name}: the envelope must be a JSON object, got {type(obj).__name__}")
    expected = {"payload", "payloadType", "signatures"}
    if set(obj) != expected:
        missing, extra = sorted(expected - set(obj)), sorted(set(obj) - expected)
        what = "; ".join(
            p for p in (f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(extra)}" if extra else "") if p
        )
        raise MalformedEnvelopeError(f"{name}: the envelope must have exactly payload, payloadType, signatures ({what})")
    payload = _b64(obj["payload"], "payload", name)
    payload_type = obj["payloadType"]
    if not isinstance(payload_type, str):
        raise MalformedEnvelopeError(f"{name}: envelope payloadType must be a string")
    sigs = obj["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise MalformedEnvelopeError(f"{name}: the envelope has no signatures")
    if len(sigs) > MAX_SIGNATURES:
        raise MalformedEnvelopeError(f"{name}: the envelope has {len(sigs)} signatures (at most {MAX_SIGNATURES})")
    out = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict) or set(s) != {"keyid", "sig"} or not isinstance(s["keyid"], str):
            raise MalformedEnvelopeError(
                f"{name}: envelope signature {i} must be an object with exactly a string 'keyid' and a 'sig'"
            )
        out.append(Signature(s["keyid"], _b64(s["sig"], f"signature {i}", name)))
    return Envelope(payload_type, payload, tuple(out))
