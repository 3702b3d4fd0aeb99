"""Ed25519 key files: the owner's signing keys, their public lines and fingerprints.

Formats (docs/bundle-format.md, "Keys"):

* private keys: PKCS8 PEM (``-----BEGIN PRIVATE KEY-----``), optionally encrypted
  (``-----BEGIN ENCRYPTED PRIVATE KEY-----``) with a passphrase read from an environment
  variable, never from the command line; files are created with mode 0600 and refused when
  group or others may read them (as ssh does). Unencrypted OpenSSH private keys
  (``ssh-keygen -t ed25519``) are read too.
* public keys: the OpenSSH one-line form ``ssh-ed25519 AAAA... comment``.
* fingerprint (the DSSE ``keyid``): ``SHA256:`` + unpadded standard base64 of SHA-256 of
  the raw 32-byte public key. Note: ``ssh-keygen -l`` hashes the SSH wire encoding instead,
  so its fingerprint of the same key differs.

:mod:`enfo_sdk.signing` re-exports every public name here beside the trust store, so
``enfo_sdk.signing.load_private_key`` and friends keep working.

>>> key = generate_private_key()
>>> fingerprint(key.public_key()).startswith("SHA256:")
True
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import SigningError

__all__ = [
    "ALLOW_OPEN_KEY_ENV", "DEFAULT_KEY_PATH", "DEFAULT_PASSPHRASE_ENV", "OWNER_KEY_ENV", "SignerInfo",
    "check_private_key_mode", "create_signing_key", "default_key_path", "fingerprint", "generate_private_key",
    "keygen", "load_private_key", "load_public_key", "load_public_key_with_comment", "parse_public_key_line",
    "public_key_line", "save_private_key", "save_public_key",
]

DEFAULT_PASSPHRASE_ENV = "ENFO_KEY_PASSPHRASE"
#: Set to 1 to use a private key that group or others may read (refused otherwise, as ssh does).
ALLOW_OPEN_KEY_ENV = "ENFO_ALLOW_OPEN_KEY"
_SSH_TYPE = "ssh-ed25519"
_MAX_KEY_FILE_BYTES = 1 << 20  # key and trust files are tiny; refuse to slurp anything huge


# -- private keys ---------------------------------------------------------------------------
def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: str | os.PathLike, passphrase: bytes | None = None) -> Path:
    """Write ``key`` as PKCS8 PEM, encrypted when ``passphrase`` is given.

    The file is created with mode 0600 and written atomically (temporary file, then rename);
    an existing file at ``path`` is replaced.

    Parameters
    ----------
    key : Ed25519PrivateKey
    path : path-like
    passphrase : bytes, optional
        Non-empty passphrase; the PEM is then ``ENCRYPTED PRIVATE KEY`` (best available
        PKCS8 encryption of the installed ``cryptography``).

    Returns
    -------
    Path
    """
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return _write(path, _private_pem(key, passphrase), mode=0o600, overwrite=True)


def _private_pem(key: Ed25519PrivateKey, passphrase: bytes | None) -> bytes:
    if passphrase is None:
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    else:
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        if not passphrase:
            raise SigningError("the passphrase is empty; give a non-empty one or None for no encryption")
        encryption = serialization.BestAvailableEncryption(passphrase)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def check_private_key_mode(path: str | os.PathLike) -> None:
    """Refuse a private key file that group or others may read or write (as ssh does), unless
    ``$ENFO_ALLOW_OPEN_KEY`` is 1. POSIX only: elsewhere permission bits mean little."""
    if os.name != "posix" or os.environ.get(ALLOW_OPEN_KEY_ENV) == "1":
        return
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError as e:
        raise SigningError(f"cannot check private key {path} ({e.strerror or e})") from e
    if mode & 0o077:
        raise SigningError(
            f"private key {path} is readable by group or others (mode {mode:04o}); run "
            f"chmod 600 {path}, or set {ALLOW_OPEN_KEY_ENV}=1 to use it anyway"
        )


def _private_and_kept_private(key, path) -> Ed25519PrivateKey:
    """The Ed25519 key, once its file is known to be readable by its owner only."""
    key = _require_ed25519_private(key, path)
    check_private_key_mode(path)
    return key


def load_private_key(path: str | os.PathLike, passphrase_env: str = DEFAULT_PASSPHRASE_ENV) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PKCS8 PEM (or unencrypted OpenSSH) file.

    Parameters
    ----------
    path : path-like
    passphrase_env : str
        Environment variable holding the passphrase of an encrypted PEM.

    Raises
    ------
    SigningError
        Naming the file: missing, not a private key, a public key, readable by group or others
        (unless ``$ENFO_ALLOW_OPEN_KEY`` is 1), encrypted but the variable is unset, wrong
        passphrase, or not an Ed25519 key.
    """
    data = _read_key_file(path, "private key")
    text = data.lstrip()
    if text.startswith(b"ssh-") or text.startswith(b"-----BEGIN PUBLIC KEY-----"):
        raise SigningError(f"{path} holds a public key; signing needs the private key file")
    if text.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
        try:
            key = serialization.load_ssh_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise SigningError(
                f"cannot read OpenSSH private key {path} ({e}); encrypted OpenSSH keys are not "
                "supported: convert it to PKCS8 PEM or generate one with enfo_sdk.signing.keygen"
            ) from e
        return _private_and_kept_private(key, path)
    encrypted = text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if not (encrypted or text.startswith(b"-----BEGIN PRIVATE KEY-----")):
        first = text.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        if text.startswith(b"-----BEGIN ") and b"PRIVATE KEY-----" in text.split(b"\n", 1)[0]:
            raise SigningError(
                f"{path} is a traditional-format private key ({first}); EnFo needs an Ed25519 "
                "key in PKCS8 PEM ('-----BEGIN PRIVATE KEY-----')"
            )
        raise SigningError(
            f"{path} is not a PEM private key (expected '-----BEGIN PRIVATE KEY-----' or "
            f"'-----BEGIN ENCRYPTED PRIVATE KEY-----', found {first!r})"
        )
    password = None
    if encrypted:
        value = os.environ.get(passphrase_env)
        if not value:
            raise SigningError(
                f"{path} is encrypted: set the environment variable {passphrase_env} to its passphrase"
            )
        password = value.encode("utf-8")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as e:
        if encrypted:
            raise SigningError(
                f"cannot decrypt {path}: the passphrase in {passphrase_env} is wrong"
            ) from e
        raise SigningError(f"{path} is not a readable PEM private key ({e})") from e
    except UnsupportedAlgorithm as e:
        raise SigningError(f"{path} uses an unsupported key algorithm or encryption ({e})") from e
    return _private_and_kept_private(key, path)


def _require_ed25519_private(key, path) -> Ed25519PrivateKey:
    if not isinstance(key, Ed25519PrivateKey):
        kind = type(key).__name__.replace("PrivateKey", "") or type(key).__name__
        raise SigningError(f"{path} holds a key of type {kind}, not Ed25519; EnFo signs with Ed25519 keys only")
    return key


# -- public keys ------------------------------------------------------------------------------
def _require_ed25519_public(public_key) -> Ed25519PublicKey:
    if isinstance(public_key, Ed25519PrivateKey):
        return public_key.public_key()
    if not isinstance(public_key, Ed25519PublicKey):
        raise SigningError(f"expected an Ed25519 public key, got {type(public_key).__name__}")
    return public_key


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``SHA256:`` + unpadded base64 of SHA-256 of the raw 32-byte public key.

    This is the DSSE ``keyid`` of the key's signatures. (A private key is accepted and
    stands for its public half.)
    """
    digest = hashlib.sha256(_raw(_require_ed25519_public(public_key))).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_line(public_key: Ed25519PublicKey, comment: str = "") -> str:
    """The OpenSSH one-line form ``ssh-ed25519 AAAA... comment`` (no trailing newline)."""
    public_key = _require_ed25519_public(public_key)
    if "\n" in comment or "\r" in comment:
        raise SigningError("a public key comment cannot contain a line break")
    raw = _raw(public_key)
    blob = _ssh_string(_SSH_TYPE.encode("ascii")) + _ssh_string(raw)
    line = f"{_SSH_TYPE} {base64.b64encode(blob).decode('ascii')}"
    return f"{line} {comment.strip()}" if comment.strip() else line


def _ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _split_public_key_line(line: str) -> tuple[Ed25519PublicKey, str]:
    parts = line.strip().split(None, 2)
    if not parts:
        raise SigningError("empty public key line")
    if parts[0] != _SSH_TYPE:
        if parts[0].startswith("ssh-") or parts[0].startswith("ecdsa-"):
            raise SigningError(f"{parts[0]} keys are not supported; EnFo uses {_SSH_TYPE} keys only")
        raise SigningError(f"expected a line starting with '{_SSH_TYPE} ', found {parts[0][:40]!r}")
    if len(parts) < 2:
        raise SigningError(f"the {_SSH_TYPE} line has no key after the type")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError as e:
        raise SigningError(f"the key is not valid base64 ({e})") from e
    # SSH wire format: string "ssh-ed25519", string key (32 bytes), nothing else
    expected_head = _ssh_string(_SSH_TYPE.encode("ascii")) + struct.pack(">I", 32)
    if len(blob) != len(expected_head) + 32 or not blob.startswith(expected_head):
        raise SigningError(f"the base64 part is not an encoded {_SSH_TYPE} public key")
    key = Ed25519PublicKey.from_public_bytes(blob[len(expected_head):])
    comment = parts[2].strip() if len(parts) > 2 else ""
    return key, comment


def parse_public_key_line(line: str) -> Ed25519PublicKey:
    """Parse ``ssh-ed25519 AAAA... [comment]``; raises SigningError saying what is wrong."""
    return _split_public_key_line(line)[0]


def save_public_key(public_key: Ed25519PublicKey, path: str | os.PathLike, comment: str = "") -> Path:
    """Write the OpenSSH one-line public key (atomic, mode 0644)."""
    return _write(path, (public_key_line(public_key, comment) + "\n").encode("utf-8"), mode=0o644, overwrite=True)


def _read_public_key_file(path) -> tuple[Ed25519PublicKey, str]:
    text = _read_key_file(path, "public key").decode("utf-8-sig", "replace")
    stripped = text.lstrip()
    if stripped.startswith("-----BEGIN PUBLIC KEY-----"):
        try:
            key = serialization.load_pem_public_key(stripped.encode("utf-8"))
        except (ValueError, UnsupportedAlgorithm) as e:
            raise SigningError(f"{path} is not a readable PEM public key ({e})") from e
        if not isinstance(key, Ed25519PublicKey):
            raise SigningError(f"{path} holds a key of type {type(key).__name__}, not Ed25519; EnFo uses Ed25519 keys only")
        return key, ""
    if "PRIVATE KEY-----" in stripped.split("\n", 1)[0]:
        raise SigningError(f"{path} holds a private key; give the public key (.pub) instead")
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise SigningError(f"{path} holds no public key")
    if len(lines) > 1:
        raise SigningError(
            f"{path} holds {len(lines)} lines; a public key file holds one 'ssh-ed25519 ...' line "
            "(for several keys use a trust-store file of 'name key' lines)"
        )
    lineno, line = lines[0]
    try:
        return _split_public_key_line(line)
    except SigningError as e:
        raise SigningError(f"{path}:{lineno}: {e}") from e


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """Read a public key file (OpenSSH one-line form; a PEM ``PUBLIC KEY`` is accepted too)."""
    return _read_public_key_file(path)[0]


def keygen(path: str | os.PathLike, *, passphrase: bytes | None = None, comment: str | None = None) -> tuple[Path, Path]:
    """Create a key pair like ``ssh-keygen``: the private key at PATH, the public at PATH.pub.

    Parameters
    ----------
    path : path-like
    passphrase : bytes, optional
        Encrypt the private key with it.
    comment : str, optional
        Public key comment; default the file name (it becomes the signer's name when a
        partner trusts the .pub file).

    Returns
    -------
    (private_path, public_path)

    Raises
    ------
    SigningError
        If either file exists already (nothing is overwritten).
    """
    private_path = Path(path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if os.path.lexists(p):
            raise SigningError(f"{p} already exists; refusing to overwrite a key (remove it or choose another path)")
    if not private_path.parent.is_dir():
        raise SigningError(f"directory {private_path.parent} does not exist")
    key = generate_private_key()
    pem = _private_pem(key, passphrase)
    line = public_key_line(key.public_key(), private_path.name if comment is None else comment)
    _write(private_path, pem, mode=0o600, overwrite=False)
    try:
        _write(public_path, (line + "\n").encode("utf-8"), mode=0o644, overwrite=False)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def load_public_key_with_comment(path: str | os.PathLike) -> tuple[Ed25519PublicKey, str]:
    """Like :func:`load_public_key`, also returning the key line's comment ("" if none)."""
    return _read_public_key_file(path)



# -- the owner's key pair on disk ---------------------------------------------------------------
#: Environment variable naming the owner's signing key (default ``~/.config/enfo/owner.key``).
OWNER_KEY_ENV = "ENFO_OWNER_KEY"
DEFAULT_KEY_PATH = "~/.config/enfo/owner.key"


def default_key_path() -> Path:
    """``$ENFO_OWNER_KEY``, else ``~/.config/enfo/owner.key`` (expanded)."""
    return Path(os.environ.get(OWNER_KEY_ENV) or DEFAULT_KEY_PATH).expanduser()


@dataclass
class SignerInfo:
    """The key a bundle was signed with: its files and fingerprint, and whether it was just made."""

    key_path: Path
    public_key_path: Path | None
    fingerprint: str
    created: bool = False

    @classmethod
    def of(cls, key: Ed25519PrivateKey, path: str | os.PathLike) -> SignerInfo:
        """The signer of an existing private ``key`` stored at ``path`` (``path.pub`` if present)."""
        path = Path(path)
        pub = path.with_name(path.name + ".pub")
        return cls(key_path=path, public_key_path=pub if pub.exists() else None,
                   fingerprint=fingerprint(key.public_key()))


def create_signing_key(
    path: str | os.PathLike | None = None,
    *,
    comment: str | None = None,
    passphrase_env: str = DEFAULT_PASSPHRASE_ENV,
) -> SignerInfo:
    """Create an Ed25519 key pair: the private key at ``path``, the public key at ``path.pub``.

    Parameters
    ----------
    path : str or Path, optional
        Default: :func:`default_key_path`. Parent folders are created. An existing file is never
        overwritten (SigningError).
    comment : str, optional
        Public key comment (the name a partner's trust store shows); default the file name.
    passphrase_env : str
        When this environment variable is set, the private key is encrypted with its value.

    Returns
    -------
    SignerInfo
        Paths and fingerprint, ``created=True``.
    """
    path = Path(path).expanduser() if path is not None else default_key_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SigningError(f"cannot create the folder of key {path}: {e.strerror or e}") from e
    passphrase = os.environ.get(passphrase_env) or None
    private_path, public_path = keygen(
        path, passphrase=passphrase.encode("utf-8") if passphrase else None, comment=comment
    )
    public = load_public_key(public_path)
    return SignerInfo(key_path=Path(private_path), public_key_path=Path(public_path),
                      fingerprint=fingerprint(public), created=True)


def _read_key_file(path, what: str) -> bytes:
    from .fs import read_bounded

    return read_bounded(path, _MAX_KEY_FILE_BYTES, what=f"{what} file", error=SigningError)


def _write(path, data: bytes, *, mode: int, overwrite: bool) -> Path:
    from .fs import write_bytes_atomic

    try:
        return write_bytes_atomic(path, data, mode=mode, overwrite=overwrite)
    except FileExistsError as e:
        raise SigningError(f"{path} already exists; refusing to overwrite it") from e
    except OSError as e:
        raise SigningError(f"cannot write {path}: {e.strerror or e}") from e
