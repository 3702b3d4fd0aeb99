"""The partner's trust store file format, over the Ed25519 keys of :mod:`enfo_sdk.keyfiles`.

A trust store is a text file of ``name ssh-ed25519 AAAA... [comment]`` lines; ``#`` starts a
comment line; blank lines are ignored. A comment word ``expires=2027-01-31`` (ISO date, or
date and time; a bare date or naive time is UTC) ends the key's trust at that instant, and a
line ``@revoked SHA256:... [note]`` (as in OpenSSH's ``known_hosts``) distrusts that
fingerprint even where a key line lists it. :mod:`enfo_sdk.trust` manages such a file;
:class:`TrustStore` is what verification asks "who holds this keyid?".

The key functions (generate, load, save, fingerprint, keygen; formats in
:mod:`enfo_sdk.keyfiles`) are re-exported here, so ``enfo_sdk.signing`` stays the one import
for keys and trust.

>>> key = generate_private_key()
>>> fingerprint(key.public_key()).startswith("SHA256:")
True
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import SigningError
from .keyfiles import (
    _SSH_TYPE, ALLOW_OPEN_KEY_ENV, DEFAULT_KEY_PATH, DEFAULT_PASSPHRASE_ENV, OWNER_KEY_ENV, SignerInfo,
    _read_key_file, _read_public_key_file, _require_ed25519_public, _split_public_key_line,
    check_private_key_mode, create_signing_key, default_key_path, fingerprint, generate_private_key, keygen,
    load_private_key, load_public_key, load_public_key_with_comment, parse_public_key_line, public_key_line,
    save_private_key, save_public_key,
)


__all__ = [
    "DEFAULT_PASSPHRASE_ENV", "REVOKED_MARKER", "TrustLine", "TrustStore", "fingerprint",
    "generate_private_key", "is_fingerprint", "keygen", "load_private_key", "load_public_key",
    "load_public_key_with_comment", "load_trust", "parse_expiry", "parse_public_key_line",
    "parse_trust_line", "read_trust_lines", "public_key_line", "save_private_key",
    "save_public_key", "OWNER_KEY_ENV", "DEFAULT_KEY_PATH", "default_key_path", "SignerInfo",
    "create_signing_key", "ALLOW_OPEN_KEY_ENV", "check_private_key_mode",
]

REVOKED_MARKER = "@revoked"
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


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


# -- helpers -------------------------------------------------------------------------------------
def _as_paths(paths) -> list:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    return list(paths)
