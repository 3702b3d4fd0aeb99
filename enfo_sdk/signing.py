"""Ed25519 keys, fingerprints and the partner's trust store.

Key formats (docs/bundle-format.md, "Keys"):

* private keys: PKCS8 PEM (``-----BEGIN PRIVATE KEY-----``), optionally encrypted
  (``-----BEGIN ENCRYPTED PRIVATE KEY-----``) with a passphrase read from an environment
  variable, never from the command line; files are created with mode 0600. Unencrypted
  OpenSSH private keys (``ssh-keygen -t ed25519``) are read too.
* public keys: the OpenSSH one-line form ``ssh-ed25519 AAAA... comment``.
* fingerprint (the DSSE ``keyid``): ``SHA256:`` + unpadded standard base64 of SHA-256 of
  the raw 32-byte public key. Note: ``ssh-keygen -l`` hashes the SSH wire encoding instead,
  so its fingerprint of the same key differs.
* trust store: a text file of ``name ssh-ed25519 AAAA... [comment]`` lines; ``#`` starts a
  comment line; blank lines are ignored. A comment word ``expires=2027-01-31`` (ISO date, or
  date and time; a bare date or naive time is UTC) ends the key's trust at that instant, and
  a line ``@revoked SHA256:... [note]`` (as in OpenSSH's ``known_hosts``) distrusts that
  fingerprint even where a key line lists it. :mod:`enfo_sdk.trust` manages such a file.

>>> key = generate_private_key()
>>> fingerprint(key.public_key()).startswith("SHA256:")
True
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timezone
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import SigningError

__all__ = [
    "DEFAULT_PASSPHRASE_ENV", "REVOKED_MARKER", "TrustLine", "TrustStore", "fingerprint",
    "generate_private_key", "is_fingerprint", "keygen", "load_private_key", "load_public_key",
    "load_public_key_with_comment", "load_trust", "parse_expiry", "parse_public_key_line",
    "parse_trust_line", "read_trust_lines", "public_key_line", "save_private_key",
    "save_public_key", "OWNER_KEY_ENV", "DEFAULT_KEY_PATH", "default_key_path", "SignerInfo",
    "create_signing_key", "ALLOW_OPEN_KEY_ENV", "check_private_key_mode",
]

DEFAULT_PASSPHRASE_ENV = "ENFO_KEY_PASSPHRASE"
#: Set to 1 to use a private key that group or others may read (refused otherwise, as ssh does).
ALLOW_OPEN_KEY_ENV = "ENFO_ALLOW_OPEN_KEY"
_SSH_TYPE = "ssh-ed25519"
_MAX_KEY_FILE_BYTES = 1 << 20  # key and trust files are tiny; refuse to slurp anything huge
REVOKED_MARKER = "@revoked"
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


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


# -- trust store --------------------------------------------------------------------------------
def parse_expiry(text: str) -> datetime:
    """An expiry instant from ISO text: a date (its 00:00 UTC) or a date and time (naive = UTC).

    Raises
    ------
    SigningError
        If ``text`` is not an ISO date or date-time.
    """
    value = text.strip()
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value or " " in value \
            else datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time())
    except ValueError as e:
        raise SigningError(f"expiry {text!r} is not an ISO date (2027-01-31) or date-time (2027-01-31T12:00:00Z)") from e
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


@dataclass(frozen=True)
class TrustLine:
    """One line of a trust-store file, parsed.

    Attributes
    ----------
    kind : {"key", "revoked", "other"}
        A trusted key, a revocation, or a comment / blank line (kept verbatim in ``text``).
    text : str
        The line as written (without its line break).
    name, key, fingerprint, expires, note
        ``name``/``key``/``expires`` for key lines; ``fingerprint`` for key and revoked lines;
        ``note`` is the rest of the line (the key's comment, or the revocation's note).
    """

    kind: str
    text: str
    name: str | None = None
    key: Ed25519PublicKey | None = None
    fingerprint: str | None = None
    expires: datetime | None = None
    note: str = ""


def parse_trust_line(line: str) -> TrustLine:
    """Parse one trust-store line (format in the module doc); errors say what is wrong, not where."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return TrustLine("other", line)
    parts = stripped.split(None, 1)
    if parts[0] == REVOKED_MARKER:
        rest = parts[1].split(None, 1) if len(parts) > 1 else []
        if not rest or not is_fingerprint(rest[0]):
            raise SigningError(f"expected '{REVOKED_MARKER} SHA256:<43 base64 characters> [note]'")
        return TrustLine("revoked", line, fingerprint=rest[0], note=rest[1].strip() if len(rest) > 1 else "")
    if parts[0].startswith("ssh-"):
        raise SigningError(f"missing the name before the key (expected 'name {_SSH_TYPE} AAAA...')")
    if len(parts) < 2:
        raise SigningError(f"expected 'name {_SSH_TYPE} AAAA...', found only {parts[0][:40]!r}")
    key, comment = _split_public_key_line(parts[1])
    words = comment.split()
    stamps = [w for w in words if w.startswith("expires=")]
    if len(stamps) > 1:
        raise SigningError(f"the key line carries {len(stamps)} 'expires=' words; give one")
    expires = parse_expiry(stamps[0].removeprefix("expires=")) if stamps else None
    note = " ".join(w for w in words if not w.startswith("expires="))
    return TrustLine("key", line, name=parts[0], key=key, fingerprint=fingerprint(key), expires=expires, note=note)


def read_trust_lines(path: str | os.PathLike) -> list[TrustLine]:
    """Every line of a trust-store file, parsed; errors name ``path:line``."""
    text = _read_key_file(path, "trust store").decode("utf-8-sig", "replace")
    lines = []
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            lines.append(parse_trust_line(line))
        except SigningError as e:
            raise SigningError(f"{path}:{lineno}: {e}") from e
    return lines


def is_fingerprint(text: str) -> bool:
    """Whether ``text`` has the form of a key fingerprint (``SHA256:`` + 43 base64 characters)."""
    return isinstance(text, str) and _FINGERPRINT.fullmatch(text) is not None


def load_public_key_with_comment(path: str | os.PathLike) -> tuple[Ed25519PublicKey, str]:
    """Like :func:`load_public_key`, also returning the key line's comment ("" if none)."""
    return _read_public_key_file(path)


class TrustStore:
    """The owners a partner trusts: named Ed25519 public keys, looked up by fingerprint.

    Build one with :meth:`from_public_key_files`, :meth:`from_file` or :func:`load_trust`;
    :meth:`get` answers "who holds this keyid?" during verification, and
    :meth:`why_untrusted` says whether an unknown keyid was revoked or its trust expired.
    """

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
        self._revoked: dict[str, str] = {}
        self._expired: dict[str, tuple[str, datetime]] = {}

    def add(self, name: str, public_key: Ed25519PublicKey, *, expires: datetime | None = None,
            now: datetime | None = None) -> str:
        """Trust ``public_key`` under ``name``; returns its fingerprint (keyid).

        Adding the same key twice under one name is a no-op; under two names is an error. A
        key whose ``expires`` has passed (at ``now``, default the current time) is remembered
        as expired, not trusted; a revoked key cannot be added.
        """
        if not isinstance(name, str) or not name.strip():
            raise SigningError("a trusted key needs a non-empty name")
        public_key = _require_ed25519_public(public_key)
        keyid = fingerprint(public_key)
        if keyid in self._revoked:
            raise SigningError(f"key {keyid} ({name!r}) is revoked; it cannot be trusted again")
        known = self._keys.get(keyid) or self._expired.get(keyid)
        if known is not None and known[0] != name:
            raise SigningError(f"key {keyid} is listed twice, as {known[0]!r} and as {name!r}")
        if expires is not None and expires <= (now or datetime.now(timezone.utc)):
            self._expired[keyid] = (name, expires)
        else:
            self._keys[keyid] = (name, public_key)
        return keyid

    def revoke(self, keyid: str, note: str = "") -> None:
        """Distrust ``keyid`` from now on, whether or not it was trusted."""
        self._keys.pop(keyid, None)
        self._revoked[keyid] = note

    @property
    def revoked(self) -> frozenset[str]:
        """The revoked fingerprints."""
        return frozenset(self._revoked)

    def get(self, keyid: str) -> tuple[str, Ed25519PublicKey] | None:
        """(name, public key) for a fingerprint, or None when the key is not trusted."""
        return self._keys.get(keyid)

    def why_untrusted(self, keyid: str) -> str | None:
        """Why a listed key is not trusted (revoked, or its trust expired), else None."""
        if keyid in self._revoked:
            note = self._revoked[keyid]
            return "it was revoked" + (f" ({note})" if note else "")
        if keyid in self._expired:
            name, when = self._expired[keyid]
            return f"your trust in it (as {name!r}) expired at {when.isoformat().replace('+00:00', 'Z')}"
        return None

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, keyid: object) -> bool:
        return keyid in self._keys

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(keyid, name) pairs."""
        return ((k, v[0]) for k, v in self._keys.items())

    def __repr__(self) -> str:
        names = ", ".join(f"{n}={k}" for k, n in self)
        return f"TrustStore({names})"

    def merge(self, other: "TrustStore") -> "TrustStore":
        """Add every key of ``other`` (in place) and apply its revocations; returns self."""
        for keyid, note in other._revoked.items():
            self.revoke(keyid, note)
        for keyid, (name, key) in other._keys.items():
            if keyid not in self._revoked:
                self.add(name, key)
        for keyid, entry in other._expired.items():
            self._expired.setdefault(keyid, entry)
        return self

    @classmethod
    def from_public_key_files(cls, paths: Iterable[str | os.PathLike]) -> "TrustStore":
        """Trust each one-line public key file; the name is its comment, else the file name."""
        store = cls()
        for p in _as_paths(paths):
            key, comment = _read_public_key_file(p)
            store.add(comment or Path(p).name.removesuffix(".pub"), key)
        return store

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, now: datetime | None = None) -> "TrustStore":
        """Read a trust-store file of ``name ssh-ed25519 AAAA... [comment]`` lines (and revocations)."""
        lines = read_trust_lines(path)
        store = cls()
        for entry in lines:
            if entry.kind == "revoked":
                store.revoke(entry.fingerprint, entry.note)
        for lineno, entry in enumerate(lines, 1):
            if entry.kind == "key" and entry.fingerprint not in store._revoked:
                try:
                    store.add(entry.name, entry.key, expires=entry.expires, now=now)
                except SigningError as e:
                    raise SigningError(f"{path}:{lineno}: {e}") from e
        if not any(entry.kind != "other" for entry in lines):
            raise SigningError(f"{path} lists no keys (add one with: enfo-partner trust add OWNER.pub --name NAME)")
        return store


def load_trust(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> TrustStore:
    """One trust store from any mix of public-key files and trust-store files.

    A file whose first non-comment line starts with ``ssh-`` (or is a PEM public key) is a
    public-key file; anything else is read as a trust-store file.
    """
    store = TrustStore()
    paths = _as_paths(paths)
    if not paths:
        raise SigningError("no trusted keys given: pass at least one public-key or trust-store file")
    for p in paths:
        text = _read_key_file(p, "trust").decode("utf-8-sig", "replace")
        first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
        if first.startswith("ssh-") or first.startswith("-----BEGIN"):
            store.merge(TrustStore.from_public_key_files([p]))
        else:
            store.merge(TrustStore.from_file(p))
    return store


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


# -- helpers -------------------------------------------------------------------------------------
def _as_paths(paths) -> list:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    return list(paths)


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
