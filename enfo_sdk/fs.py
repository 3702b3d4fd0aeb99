"""The library's one door to the filesystem: atomic writes, bounded reads, regular files only.

:func:`write_bytes_atomic` -- a temporary file in the target's directory, then a rename.
Readers never see a half-written bundle, model or key: the bytes go to a hidden temporary
file next to the target (same filesystem, so the rename is atomic), are flushed to disk,
and only then take the target's name. On any error -- including ``KeyboardInterrupt`` --
the temporary file is removed and the target is untouched. A target that exists and is not a
regular file (a symbolic link, a device, a FIFO, a directory) is refused, and every failure is
an :class:`~enfo_sdk.errors.OutputError` naming the target, never the temporary file.

:func:`write_files_atomic` -- several files written together: every temporary file first, then
every rename, so a failure before the renames leaves none of them written.

:func:`read_bounded` -- a whole file, refused before reading when it is not a regular file or
its size is over a limit, with one error type (the caller's) for every way the read can fail.
:func:`require_regular_file` -- the same refusal for readers that open the file themselves
(pandas, pyarrow): a FIFO would block them forever, a device would stream without end.

The policy of *which* output paths a run may write (not an input, not another output, not an
existing file without ``--force``) lives in :mod:`enfo_sdk.outputs`.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import EnfoError, InputFileError, OutputError

__all__ = ["write_bytes_atomic", "write_files_atomic", "read_bounded", "require_regular_file",
           "file_kind"]


def file_kind(mode: int) -> str:
    """A short name for the type of file ``mode`` describes ("a FIFO", "a directory", ...)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _refuse_odd_target(target: Path) -> None:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{target} is {file_kind(st.st_mode)}; refusing to write over it "
                          "(outputs must be regular files)")


def _write_temp(target: Path, data: bytes, mode: int) -> Path:
    """``data`` in a flushed hidden temporary file beside ``target``; its path."""
    directory = target.parent if str(target.parent) else Path(".")
    tmp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror or e} (in folder {directory})") from e
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as e:
        _unlink_quietly(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {target}: {e.strerror or e}") from e
        raise
    return tmp


def _commit(tmp: Path, target: Path, overwrite: bool) -> None:
    """Give ``tmp`` the name ``target`` (refusing an existing target unless ``overwrite``)."""
    if overwrite:
        os.replace(tmp, target)
        return
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


def _unlink_quietly(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Target file; its directory must exist. An existing target must be a regular file.
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

    Raises
    ------
    OutputError
        The target is a link, device, FIFO or directory, or the write fails (names ``path``).
    """
    target = Path(path)
    _refuse_odd_target(target)
    tmp = _write_temp(target, data, mode)
    try:
        _commit(tmp, target, overwrite)
    except BaseException as e:
        _unlink_quietly(tmp)
        if isinstance(e, OSError) and not isinstance(e, FileExistsError):
            raise OutputError(f"cannot write {target}: {e.strerror or e}") from e
        raise
    _fsync_directory(target.parent if str(target.parent) else Path("."))
    return target


def write_files_atomic(files: Mapping[Path, bytes], *, overwrite: bool = True, mode: int = 0o644) -> list[Path]:
    """Write several files together: all temporary files first, then all renames.

    An error (or Ctrl-C) while the bytes are written leaves no target touched; the renames come
    last and, without ``overwrite``, a name taken meanwhile undoes the ones already made.

    Parameters
    ----------
    files : mapping of Path to bytes
        Targets (their folders are created) and their contents.
    overwrite : bool
        As in :func:`write_bytes_atomic`.

    Returns
    -------
    list of Path
    """
    targets = [Path(p) for p in files]
    for t in targets:
        _refuse_odd_target(t)
    temps: dict[Path, Path] = {}
    done: list[Path] = []
    try:
        for t, data in zip(targets, files.values()):
            try:
                t.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"cannot create the folder of {t}: {e.strerror or e}") from e
            temps[t] = _write_temp(t, data, mode)
        for t in targets:
            try:
                _commit(temps[t], t, overwrite)
            except FileExistsError:
                raise OutputError(f"{t} appeared while the run was writing; nothing was written") from None
            except OSError as e:
                raise OutputError(f"cannot write {t}: {e.strerror or e}") from e
            done.append(t)
            del temps[t]
    except BaseException:
        for tmp in temps.values():
            _unlink_quietly(tmp)
        if not overwrite:  # the files we created are ours to take back
            for t in done:
                _unlink_quietly(t)
        raise
    for d in {t.parent for t in targets}:
        _fsync_directory(d)
    return targets


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


def require_regular_file(path: str | os.PathLike, *, what: str = "file",
                         error: type[EnfoError] = InputFileError, allow_dir: bool = False) -> os.stat_result:
    """``os.stat`` of ``path``, refusing anything but a regular file (or, with ``allow_dir``, a
    directory) without opening it.

    Raises
    ------
    error
        Naming ``what``, the path and what it is instead (missing, a FIFO, a device, ...).
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError as e:
        raise error(f"{what} {p} does not exist (no such file)") from e
    except OSError as e:
        raise error(f"cannot read {what} {p} ({e.strerror or e})") from e
    if stat.S_ISREG(st.st_mode) or (allow_dir and stat.S_ISDIR(st.st_mode)):
        return st
    raise error(f"{what} {p} is {file_kind(st.st_mode)}, not a regular file; refusing to open it")


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
        Raised when the file is missing, not a regular file (a directory, FIFO or device: the
        file is opened without blocking and checked before a byte is read) or unreadable.
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
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block us
    except FileNotFoundError as e:
        raise error(f"{what} {p} does not exist (no such file)") from e
    except IsADirectoryError as e:
        raise error(f"{what} {p} is a directory, not a file") from e
    except OSError as e:
        raise error(f"cannot read {what} {p} ({e.strerror or e})") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {p} is {file_kind(st.st_mode)}, not a regular file; refusing to read it")
        if st.st_size > max_bytes:
            raise too_large(
                f"{what} {p} is {st.st_size:,} bytes, over the limit of {max_bytes:,} bytes (raise "
                "the limit only for files you expect to be this large)"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"cannot read {what} {p} ({e.strerror or e})") from e
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > max_bytes:  # grew while we read it
        raise too_large(f"{what} {p} is over the limit of {max_bytes:,} bytes")
    return raw
