"""Atomic file writes: a temporary file in the target's directory, then a rename.

Readers never see a half-written bundle, model or key: the bytes go to a hidden temporary
file next to the target (same filesystem, so the rename is atomic), are flushed to disk,
and only then take the target's name. On any error -- including ``KeyboardInterrupt`` --
the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


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
