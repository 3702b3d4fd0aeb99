"""The library's one door to the filesystem: atomic writes and bounded reads.

:func:`write_bytes_atomic` -- a temporary file in the target's directory, then a rename.
Readers never see a half-written bundle, model or key: the bytes go to a hidden temporary
file next to the target (same filesystem, so the rename is atomic), are flushed to disk,
and only then take the target's name. On any error -- including ``KeyboardInterrupt`` --
the temporary file is removed and the target is untouched.

:func:`read_bounded` -- a whole file, refused before reading when its size is over a limit, with
one error type (the caller's) for every way the read can fail.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import EnfoError

__all__ = ["write_bytes_atomic", "read_bounded"]


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Target file; its directory must exist.
    data : bytes
    mode : int
        Permission bits of the new file (the umask still applies). Use 0o600 for secrets: the
        file is created with these bits, so it is never readable by others, not even briefly.
    overwrite : bool
        When False an existing target raises ``FileExistsError`` (checked atomically with a
        hard link, so two writers cannot both win).

    Returns
    -------
    Path
        The target path.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    tmp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails with FileExistsError if the target exists
            except FileExistsError:
                raise
            except OSError:  # filesystems without hard links: check, then rename
                if os.path.lexists(target):
                    raise FileExistsError(f"{target} already exists") from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return target


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_bounded(path: str | os.PathLike, max_bytes: int, *, what: str = "file",
                 error: type[EnfoError] = EnfoError, too_large: type[EnfoError] | None = None) -> bytes:
    """The whole file at ``path``, refusing anything over ``max_bytes`` before reading it.

    Parameters
    ----------
    path : path-like
    max_bytes : int
        Largest size accepted (checked from ``fstat`` first, then again on the bytes read, in
        case the file grew).
    what : str
        What the file is, for messages ("bundle", "public key file", ...).
    error : EnfoError subclass
        Raised when the file is missing, a directory or unreadable.
    too_large : EnfoError subclass, optional
        Raised when it is over the limit (default ``error``).

    Raises
    ------
    error, too_large
        Each message names ``what`` and the path.
    """
    p = Path(path)
    too_large = too_large or error
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise too_large(
                    f"{what} {p} is {size:,} bytes, over the limit of {max_bytes:,} bytes (raise "
                    "the limit only for files you expect to be this large)"
                )
            raw = f.read(max_bytes + 1)
    except FileNotFoundError as e:
        raise error(f"{what} {p} does not exist (no such file)") from e
    except IsADirectoryError as e:
        raise error(f"{what} {p} is a directory, not a file") from e
    except OSError as e:
        raise error(f"cannot read {what} {p} ({e.strerror or e})") from e
    if len(raw) > max_bytes:  # grew while we read it
        raise too_large(f"{what} {p} is over the limit of {max_bytes:,} bytes")
    return raw
