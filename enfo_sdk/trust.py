"""The partner's default trust store, managed like OpenSSH's ``known_hosts``.

One text file lists the owners a partner trusts, in the format :func:`enfo_sdk.signing.load_trust`
(and so ``enfo-partner --trust``) reads: ``name ssh-ed25519 AAAA... [expires=DATE] [comment]``
lines, ``@revoked SHA256:... [note]`` lines and ``#`` comments. This module finds the file,
and adds, lists, removes and revokes entries in it:

* location (:func:`default_store_path`): ``$ENFO_TRUST_STORE`` when set (one path), else
  ``$XDG_CONFIG_HOME/enfo/trusted_owners``, else ``~/.config/enfo/trusted_owners``;
* safety: directories this module creates get mode 0700, the file 0600; every change rewrites
  the whole file atomically (temporary file, then rename), keeping comments and unknown lines
  as written, so a crash leaves either the old or the new store; a change holds an exclusive
  ``flock`` on the store's directory from its read to its rename, so two concurrent changes
  cannot lose one another (where ``fcntl`` exists: POSIX);
* policy: one key per name and one name per key (a second key under a taken name is refused:
  the partner must ``remove`` the old one first, on purpose); a revoked fingerprint stays
  listed as revoked and cannot be added again; an expiry in the past is refused.

>>> import tempfile, pathlib
>>> from enfo_sdk.signing import generate_private_key, save_public_key
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pub = save_public_key(generate_private_key().public_key(), d / "acme.pub", "acme")
>>> add(d / "trusted_owners", pub).name
'acme'
>>> [e.name for e in entries(d / "trusted_owners")]
['acme']
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .fs import write_bytes_atomic
from .errors import SigningError
from .signing import (
    REVOKED_MARKER, TrustLine, TrustStore, fingerprint, is_fingerprint, load_public_key_with_comment,
    parse_trust_line, public_key_line, read_trust_lines,
)

__all__ = ["TRUST_ENV", "TrustEntry", "add", "config_dir", "default_store_path", "entries", "load", "remove", "revocations", "revoke"]

TRUST_ENV = "ENFO_TRUST_STORE"
_HEADER = (
    "# EnFo trusted owners: 'name ssh-ed25519 AAAA... [expires=DATE] [comment]' lines and\n"
    "# '@revoked SHA256:... [note]' lines. Managed by 'enfo-partner trust'; edits by hand are kept.\n"
)


@dataclass(frozen=True)
class TrustEntry:
    """One trusted owner key of a store file.

    Attributes
    ----------
    name : str
    fingerprint : str
        ``SHA256:...``, the keyid of the owner's signatures.
    expires : datetime or None
        When the trust ends (UTC); None for never.
    comment : str
        The public key's comment.
    """

    name: str
    fingerprint: str
    expires: datetime | None
    comment: str

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the trust has ended at ``now`` (default the current time)."""
        return self.expires is not None and self.expires <= (now or datetime.now(timezone.utc))


def default_store_path(environ: dict | None = None) -> Path:
    """Where the partner's trust store lives (see the module doc).

    Parameters
    ----------
    environ : mapping, optional
        Environment to read (default ``os.environ``).

    Raises
    ------
    SigningError
        If ``$ENFO_TRUST_STORE`` names several files (``:``-separated): which one to change
        would be a guess.
    """
    env = os.environ if environ is None else environ
    value = env.get(TRUST_ENV, "").strip()
    if value:
        paths = [p for p in value.split(os.pathsep) if p]
        if len(paths) > 1:
            raise SigningError(
                f"${TRUST_ENV} names {len(paths)} files ({value}); managing the store needs one: "
                "pass --store FILE"
            )
        return Path(paths[0]).expanduser()
    return config_dir(env) / "trusted_owners"


def config_dir(environ: dict | None = None) -> Path:
    """EnFo's folder of user files: ``$XDG_CONFIG_HOME/enfo`` (an absolute path), else
    ``~/.config/enfo``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(env.get("HOME") or Path.home()) / ".config"
    return base / "enfo"


def _read(path: Path) -> list[TrustLine]:
    return read_trust_lines(path) if path.exists() else []


def _write(path: Path, lines: list[TrustLine]) -> None:
    _make_parent(path)
    body = "".join(line.text + "\n" for line in lines)
    try:
        write_bytes_atomic(path, body.encode("utf-8"), mode=0o600)
    except OSError as e:
        raise SigningError(f"cannot write trust store {path}: {e.strerror or e}") from e


def _make_parent(path: Path) -> None:
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise SigningError(f"cannot create directory {d} for the trust store: {e.strerror or e}") from e


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the store's directory (made first) for one read-modify-write."""
    _make_parent(path)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: atomic, but unlocked
        yield
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _exclusive(change):
    """Run ``change(path, ...)`` holding the store's lock (see :func:`_locked`)."""
    @functools.wraps(change)
    def run(path, *args, **kwargs):
        with _locked(Path(path)):
            return change(path, *args, **kwargs)
    return run


def _entry(line: TrustLine) -> TrustEntry:
    return TrustEntry(name=line.name, fingerprint=line.fingerprint, expires=line.expires, comment=line.note)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def entries(path: str | os.PathLike) -> list[TrustEntry]:
    """The trusted keys listed in the store (expired ones included: see :meth:`TrustEntry.expired`).

    A missing store holds no entries.
    """
    return [_entry(line) for line in _read(Path(path)) if line.kind == "key"]


def revocations(path: str | os.PathLike) -> dict[str, str]:
    """Revoked fingerprints of the store, each with its note."""
    return {line.fingerprint: line.note for line in _read(Path(path)) if line.kind == "revoked"}


@_exclusive
def add(path: str | os.PathLike, public_key_file: str | os.PathLike, *, name: str | None = None,
        expires: datetime | None = None, now: datetime | None = None) -> TrustEntry:
    """Trust the owner key in ``public_key_file`` under ``name``.

    Parameters
    ----------
    path : path-like
        The store (created with mode 0600 if missing, its directories 0700).
    public_key_file : path-like
        The owner's one-line ``ssh-ed25519 AAAA... comment`` file (``OWNER.pub``).
    name : str, optional
        Default: the key's comment, else the file name without ``.pub``. No spaces.
    expires : datetime, optional
        When the trust ends (timezone-aware; a naive time is UTC).
    now : datetime, optional
        The current time (for tests).

    Returns
    -------
    TrustEntry
        The entry, also when the same key was already trusted under the same name (then
        only its expiry is updated, when one is given).

    Raises
    ------
    SigningError
        The name is taken by another key, the key is trusted under another name, the key is
        revoked, the expiry has passed, or a file cannot be read or written.
    """
    store = Path(path)
    key, comment = load_public_key_with_comment(public_key_file)
    name = name if name is not None else (comment.split()[0] if comment else Path(public_key_file).name.removesuffix(".pub"))
    if not name or any(c.isspace() for c in name) or name.startswith(("#", "@")):
        raise SigningError(f"trusted key name {name!r} must be one word, not starting with '#' or '@'")
    if expires is not None:
        expires = expires.replace(tzinfo=timezone.utc) if expires.tzinfo is None else expires.astimezone(timezone.utc)
        if expires <= (now or datetime.now(timezone.utc)):
            raise SigningError(f"the expiry {_iso(expires)} has already passed")
    keyid = fingerprint(key)
    lines = _read(store)
    revoked = {line.fingerprint: line.note for line in lines if line.kind == "revoked"}
    if keyid in revoked:
        raise SigningError(
            f"{keyid} is revoked in {store}{f' ({revoked[keyid]})' if revoked[keyid] else ''}; delete its "
            f"'{REVOKED_MARKER}' line by hand if you really mean to trust it again"
        )
    stamp = f"expires={_iso(expires)}" if expires is not None else None
    for i, line in enumerate(lines):
        if line.kind != "key" or (line.name != name and line.fingerprint != keyid):
            continue
        if line.name == name and line.fingerprint == keyid:
            if stamp is None:
                return _entry(line)
            note = " ".join(w for w in [stamp, line.note] if w)
            lines[i] = parse_trust_line(f"{name} {public_key_line(key)} {note}")
            _write(store, lines)
            return _entry(lines[i])
        if line.name == name:
            raise SigningError(
                f"{store} already trusts a different key as {name!r} ({line.fingerprint}); a second key under "
                f"one name is refused: run 'enfo-partner trust remove {name}' first, or choose another --name"
            )
        raise SigningError(f"{store} already trusts {keyid} as {line.name!r}; one key has one name")
    note = " ".join(w for w in [stamp, comment] if w)
    new = parse_trust_line(f"{name} {public_key_line(key)}" + (f" {note}" if note else ""))
    if not lines:
        lines = [TrustLine("other", text) for text in _HEADER.splitlines()]
    _write(store, lines + [new])
    return _entry(new)


@_exclusive
def remove(path: str | os.PathLike, name: str) -> TrustEntry:
    """Stop trusting the key named ``name`` (its line is deleted; no revocation is recorded).

    Raises
    ------
    SigningError
        If no key of the store has that name (the message lists the names it has).
    """
    store = Path(path)
    lines = _read(store)
    found = [line for line in lines if line.kind == "key" and line.name == name]
    if not found:
        names = [line.name for line in lines if line.kind == "key"]
        raise SigningError(f"{store} trusts no key named {name!r} (names: {', '.join(names) or 'none'})")
    _write(store, [line for line in lines if line not in found])
    return _entry(found[0])


@_exclusive
def revoke(path: str | os.PathLike, keyid: str, *, note: str = "", now: datetime | None = None) -> TrustEntry | None:
    """Distrust the fingerprint ``keyid`` for good: delete its key line and record ``@revoked``.

    A fingerprint the store never trusted can be revoked too (so a later ``add`` is refused).
    Revoking twice is a no-op.

    Returns
    -------
    TrustEntry or None
        The entry that was trusted under that fingerprint, if any.
    """
    if not is_fingerprint(keyid):
        raise SigningError(f"{keyid!r} is not a key fingerprint (expected SHA256: and 43 base64 characters)")
    if "\n" in note or "\r" in note:
        raise SigningError("a revocation note cannot contain a line break")
    store = Path(path)
    lines = _read(store)
    found = next((line for line in lines if line.kind == "key" and line.fingerprint == keyid), None)
    if any(line.kind == "revoked" and line.fingerprint == keyid for line in lines) and found is None:
        return None
    kept = [line for line in lines if not (line.kind == "key" and line.fingerprint == keyid)]
    when = (now or datetime.now(timezone.utc)).date().isoformat()
    text = " ".join(w for w in [REVOKED_MARKER, keyid, f"revoked={when}", f"was={found.name}" if found else "", note] if w)
    if not kept:
        kept = [TrustLine("other", text) for text in _HEADER.splitlines()]
    _write(store, kept + [parse_trust_line(text)])
    return _entry(found) if found is not None else None


def load(path: str | os.PathLike | None = None, *, now: datetime | None = None) -> TrustStore:
    """The store at ``path`` (default :func:`default_store_path`) as a :class:`TrustStore`."""
    return TrustStore.from_file(Path(path) if path is not None else default_store_path(), now=now)
