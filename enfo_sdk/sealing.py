"""Sealing a bundle's key to its partner: X25519 key pairs and the sealing primitives.

A partner makes an X25519 key pair (``enfo-partner keygen``) and gives the public file to the
owner; the owner seals the key's secret parts (hyperparameters, preprocessing, probe points) to
it, so a thief holding the bundle can check its signature but cannot rebuild the key
(docs/bundle-format.md, "Sealed key"). The construction follows age's X25519 recipient
(c2sp.org/age) and HPKE's base mode:

* a fresh random 32-byte *file key* encrypts the sealed content once with ChaCha20-Poly1305
  (RFC 8439), nonce twelve zero bytes (the key is used for one message only), associated data
  the manifest's unsealed part, so the sealed block cannot be moved to another manifest;
* for the partner, an ephemeral X25519 key pair e; shared = X25519(e, R) with R the partner's
  public key; wrap_key = HKDF-SHA256(ikm=shared, salt=E || R, info="enfo-sealed-v1/x25519",
  32 bytes), E the ephemeral public key; the file key is ChaCha20-Poly1305-encrypted under
  wrap_key (zero nonce, no associated data: wrap_key is single-use). An all-zero shared secret
  (a low-order R) is refused by ``cryptography``;
* for the owner (so ``enfo-owner evaluate`` and ``forge --from`` can open its own bundle), the
  file key is also wrapped under HKDF-SHA256(ikm = the raw 32-byte Ed25519 signing key, salt =
  16 random bytes, info = "enfo-sealed-v1/owner") -- a key only the signer can derive, separated
  from the signature scheme by HKDF's label.

Key files: the private key is PKCS8 PEM (``-----BEGIN PRIVATE KEY-----``), mode 0600, refused
when group or others may read it (as for signing keys); the public key is one line
``enfo-x25519 <base64 of the raw 32 bytes> [comment]``; the fingerprint is ``SHA256:`` + unpadded
base64 of SHA-256 of the raw 32 bytes (the scheme of :func:`enfo_sdk.signing.fingerprint`).
Default location (:func:`default_partner_key_path`): ``$ENFO_PARTNER_KEY``, else
``$XDG_CONFIG_HOME/enfo/partner.x25519``, else ``~/.config/enfo/partner.x25519``.

>>> key = generate_sealing_key()
>>> fk = new_file_key()
>>> eph, wrapped = wrap_file_key(fk, key.public_key())
>>> unwrap_file_key(key, eph, wrapped) == fk
True
>>> open_content(fk, seal_content(fk, b"secret", b"aad"), b"aad")
b'secret'
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import SealedKeyError, SigningError

__all__ = [
    "PARTNER_KEY_ENV", "PUBLIC_TYPE", "SCHEME", "default_partner_key_path", "generate_sealing_key",
    "load_sealing_private_key", "load_sealing_public_key", "new_file_key", "open_content",
    "partner_keygen", "sealing_fingerprint", "sealing_public_line", "parse_sealing_public_line",
    "seal_content", "unwrap_file_key", "unwrap_for_owner", "wrap_file_key", "wrap_for_owner",
]

#: the sealed block's ``scheme``: what this module implements
SCHEME = "x25519-hkdf-sha256-chacha20poly1305"
#: first word of a partner's public key line
PUBLIC_TYPE = "enfo-x25519"
#: environment variable naming the partner's private sealing key
PARTNER_KEY_ENV = "ENFO_PARTNER_KEY"
_WRAP_INFO = b"enfo-sealed-v1/x25519"
_OWNER_INFO = b"enfo-sealed-v1/owner"
_ZERO_NONCE = bytes(12)
_FILE_KEY_BYTES = 32
_MAX_KEY_FILE_BYTES = 1 << 16


# -- keys ----------------------------------------------------------------------------------------
def generate_sealing_key() -> X25519PrivateKey:
    """A fresh X25519 private key."""
    return X25519PrivateKey.generate()


def _raw(public_key: X25519PublicKey) -> bytes:
    if isinstance(public_key, X25519PrivateKey):
        public_key = public_key.public_key()
    if not isinstance(public_key, X25519PublicKey):
        raise SigningError(f"expected an X25519 public key, got {type(public_key).__name__}")
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sealing_fingerprint(public_key: X25519PublicKey) -> str:
    """``SHA256:`` + unpadded base64 of SHA-256 of the raw 32-byte X25519 public key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(_raw(public_key)).digest()).decode("ascii").rstrip("=")


def sealing_public_line(public_key: X25519PublicKey, comment: str = "") -> str:
    """``enfo-x25519 <base64> [comment]`` (no trailing newline)."""
    if "\n" in comment or "\r" in comment:
        raise SigningError("a public key comment cannot contain a line break")
    line = f"{PUBLIC_TYPE} {base64.b64encode(_raw(public_key)).decode('ascii')}"
    return f"{line} {comment.strip()}" if comment.strip() else line


def parse_sealing_public_line(line: str) -> X25519PublicKey:
    """Parse ``enfo-x25519 <base64> [comment]``; SigningError says what is wrong."""
    parts = line.strip().split(None, 2)
    if not parts or parts[0] != PUBLIC_TYPE:
        found = parts[0][:40] if parts else ""
        hint = (" (an ssh-ed25519 line is a signing key; the partner's sealing key comes from "
                "enfo-partner keygen)" if found.startswith("ssh-") else "")
        raise SigningError(f"expected a line starting with '{PUBLIC_TYPE} ', found {found!r}{hint}")
    try:
        raw = base64.b64decode(parts[1] if len(parts) > 1 else "", validate=True)
    except ValueError as e:
        raise SigningError(f"the {PUBLIC_TYPE} key is not valid base64 ({e})") from e
    if len(raw) != 32:
        raise SigningError(f"the {PUBLIC_TYPE} key has {len(raw)} bytes, expected 32")
    return X25519PublicKey.from_public_bytes(raw)


def load_sealing_public_key(path: str | os.PathLike) -> X25519PublicKey:
    """Read a partner's public sealing key file (one ``enfo-x25519`` line); errors name the file."""
    text = _read(path, "public key").decode("utf-8-sig", "replace")
    if "PRIVATE KEY-----" in text.lstrip().split("\n", 1)[0]:
        raise SigningError(f"{path} holds a private key; give the partner's public key (.pub) instead")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise SigningError(f"{path} holds {len(lines)} key lines; a public sealing key file holds one "
                           f"'{PUBLIC_TYPE} ...' line")
    try:
        return parse_sealing_public_line(lines[0])
    except SigningError as e:
        raise SigningError(f"{path}: {e}") from e


def load_sealing_private_key(path: str | os.PathLike) -> X25519PrivateKey:
    """Read a partner's private sealing key (PKCS8 PEM, readable by its owner only).

    Raises
    ------
    SealedKeyError
        Naming the file: missing, not a PEM private key, not X25519, or readable by group or
        others (unless ``$ENFO_ALLOW_OPEN_KEY`` is 1).
    """
    from .keyfiles import check_private_key_mode

    try:
        data = _read(path, "private key")
        if data.lstrip().startswith(PUBLIC_TYPE.encode()):
            raise SigningError(f"{path} holds a public key; opening a sealed key needs the private key file")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise SigningError(f"{path} is not an unencrypted PEM private key ({str(e).splitlines()[0]})") from e
        if not isinstance(key, X25519PrivateKey):
            raise SigningError(f"{path} holds a {type(key).__name__.removesuffix('PrivateKey')} key, not the "
                               "X25519 key enfo-partner keygen makes")
        check_private_key_mode(path)
    except SigningError as e:
        raise SealedKeyError(str(e)) from e
    return key


def default_partner_key_path(environ: dict | None = None) -> Path:
    """``$ENFO_PARTNER_KEY``, else ``$XDG_CONFIG_HOME/enfo/partner.x25519``, else
    ``~/.config/enfo/partner.x25519`` (the trust store's rule, :mod:`enfo_sdk.trust`)."""
    from .trust import config_dir

    env = os.environ if environ is None else environ
    value = env.get(PARTNER_KEY_ENV, "").strip()
    return Path(value).expanduser() if value else config_dir(env) / "partner.x25519"


def partner_keygen(path: str | os.PathLike | None = None, *, force: bool = False,
                   comment: str | None = None) -> tuple[Path, Path, str]:
    """Create a partner's X25519 key pair: private at ``path`` (mode 0600), public at ``path.pub``.

    Parameters
    ----------
    path : path-like, optional
        Default :func:`default_partner_key_path`; missing folders are made (mode 0700).
    force : bool
        Replace existing files (else an existing private or public file is an error).
    comment : str, optional
        The public line's comment (default the file name).

    Returns
    -------
    (private_path, public_path, fingerprint)
    """
    from .fs import write_bytes_atomic

    private_path = Path(path).expanduser() if path is not None else default_partner_key_path()
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if not force and os.path.lexists(p):
            raise SigningError(f"{p} already exists; refusing to overwrite a key (pass --force to replace "
                               "it: bundles sealed to the old key can then no longer be opened)")
        if os.path.islink(p) or (os.path.lexists(p) and not os.path.isfile(p)):
            raise SigningError(f"{p} is a link or not a regular file; refusing to write a key there")
    try:
        private_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise SigningError(f"cannot create the folder of key {private_path}: {e.strerror or e}") from e
    key = generate_sealing_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    line = sealing_public_line(key.public_key(), private_path.name if comment is None else comment)
    try:
        write_bytes_atomic(private_path, pem, mode=0o600, overwrite=force)
        try:
            write_bytes_atomic(public_path, (line + "\n").encode("utf-8"), mode=0o644, overwrite=force)
        except BaseException:
            private_path.unlink(missing_ok=True)  # never a private key without its public half
            raise
    except OSError as e:
        raise SigningError(f"cannot write key {private_path}: {e.strerror or e}") from e
    return private_path, public_path, sealing_fingerprint(key.public_key())


# -- the primitives ------------------------------------------------------------------------------
def new_file_key() -> bytes:
    """A fresh random 32-byte file key."""
    return os.urandom(_FILE_KEY_BYTES)


def _wrap_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_WRAP_INFO).derive(shared)


def wrap_file_key(file_key: bytes, recipient: X25519PublicKey) -> tuple[bytes, bytes]:
    """(ephemeral public key, wrapped file key) for ``recipient`` (both raw bytes)."""
    ephemeral = X25519PrivateKey.generate()
    try:
        shared = ephemeral.exchange(recipient)
    except ValueError as e:  # a low-order point: the shared secret would be all zeros
        raise SigningError("the partner's public sealing key is not a valid X25519 key (low order)") from e
    e_raw, r_raw = _raw(ephemeral.public_key()), _raw(recipient)
    return e_raw, ChaCha20Poly1305(_wrap_key(shared, e_raw, r_raw)).encrypt(_ZERO_NONCE, file_key, None)


def unwrap_file_key(private_key: X25519PrivateKey, ephemeral: bytes, wrapped: bytes) -> bytes | None:
    """The file key, or None when ``private_key`` is not the one it was wrapped for."""
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        key = _wrap_key(shared, ephemeral, _raw(private_key.public_key()))
        file_key = ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, wrapped, None)
    except (ValueError, InvalidTag):
        return None
    return file_key if len(file_key) == _FILE_KEY_BYTES else None


def _owner_wrap_key(signing_key, salt: bytes) -> bytes:
    raw = signing_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_OWNER_INFO).derive(raw)


def wrap_for_owner(file_key: bytes, signing_key) -> tuple[bytes, bytes]:
    """(salt, wrapped file key) that the owner's Ed25519 signing key opens again."""
    salt = os.urandom(16)
    return salt, ChaCha20Poly1305(_owner_wrap_key(signing_key, salt)).encrypt(_ZERO_NONCE, file_key, None)


def unwrap_for_owner(signing_key, salt: bytes, wrapped: bytes) -> bytes | None:
    """The file key :func:`wrap_for_owner` wrapped, or None for another signing key."""
    try:
        file_key = ChaCha20Poly1305(_owner_wrap_key(signing_key, salt)).decrypt(_ZERO_NONCE, wrapped, None)
    except (ValueError, InvalidTag):
        return None
    return file_key if len(file_key) == _FILE_KEY_BYTES else None


def seal_content(file_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 of ``plaintext`` under the (single-use) file key, bound to ``aad``."""
    return ChaCha20Poly1305(file_key).encrypt(_ZERO_NONCE, plaintext, aad)


def open_content(file_key: bytes, ciphertext: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or None when the ciphertext or ``aad`` differ from what was sealed."""
    try:
        return ChaCha20Poly1305(file_key).decrypt(_ZERO_NONCE, ciphertext, aad)
    except (InvalidTag, ValueError):
        return None


def _read(path, what: str) -> bytes:
    from .fs import read_bounded

    return read_bounded(path, _MAX_KEY_FILE_BYTES, what=f"{what} file", error=SigningError)
