"""Which paths a run may write: the output-path policy, checked before any work is done.

Every command that writes files (``enfo-owner forge`` and ``evaluate``, ``enfo-partner train``
and ``predict``, and the workflows behind them) names its outputs and its inputs and calls
:func:`check_outputs` first, so a mistaken path fails in a second, not after an hour of forging,
and no user file is ever lost. An output is refused when

1. it is, or resolves to (through symbolic links, ``..`` or a hard link), one of the run's
   inputs or another of its outputs, or lies inside an input directory;
2. it is a symbolic link (the run would write through it onto its target) or exists and is
   not a regular file (a device, a FIFO, a directory);
3. it exists and the user did not ask to replace it (``--force``, or ``output.overwrite: true``
   in a contract) -- this includes a bundle or model that enfo itself wrote on an earlier run;
4. its folder cannot be created or written.

Every message names the user's own label for the path (``key.yaml: output.bundle``, ``--out``)
and the path as given. The writing itself is :mod:`enfo_sdk.fs`'s (atomic, and
:func:`enfo_sdk.fs.write_files_atomic` for several files written together).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path

from .errors import OutputError
from .fs import file_kind

__all__ = ["check_outputs", "check_folder_outputs", "output_path", "FORCE_HINT"]

#: How to say "you may replace it" on the command line.
FORCE_HINT = "pass --force to replace it"

PathLike = str | os.PathLike


def output_path(path: PathLike) -> Path:
    """``path`` made absolute *without* resolving symbolic links (so a link stays visible)."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _identity(p: Path) -> tuple:
    """What makes two paths the same file: (device, inode) when it exists, else the real path."""
    try:
        st = os.stat(p)
    except OSError:
        return ("path", os.path.realpath(p))
    return ("inode", st.st_dev, st.st_ino)


def _inside(p: Path, folder: Path) -> bool:
    real, base = os.path.realpath(p), os.path.realpath(folder)
    return real != base and real.startswith(base.rstrip(os.sep) + os.sep)


def _writable_folder(label: str, p: Path) -> None:
    """The nearest existing ancestor of ``p``'s folder is a folder we may write in."""
    folder = p.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not os.path.isdir(folder):
        raise OutputError(f"{label} {p}: {folder} is not a folder, so the output cannot be created")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{label} {p}: the folder {folder} is not writable")


def _kind_of_target(label: str, p: Path) -> os.stat_result | None:
    """``lstat`` of an output; a link or anything but a regular file is refused."""
    try:
        st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):  # the folder check says what is wrong
        return None
    except OSError as e:
        raise OutputError(f"{label} {p}: cannot check it ({e.strerror or e})") from e
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(f"{label} {p} is a symbolic link (to {os.readlink(p)}); refusing to "
                          "write through it -- name the real file instead")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{label} {p} is {file_kind(st.st_mode)}; outputs must be regular files")
    return st


def check_outputs(outputs: Mapping[str, PathLike | None], inputs: Mapping[str, PathLike | None] = {},
                  *, overwrite: bool = False, replaceable: Collection[str] = (),
                  hint: str = FORCE_HINT) -> dict[str, Path]:
    """Refuse unsafe outputs before any work (the rules in the module docstring).

    Parameters
    ----------
    outputs : mapping of label to path
        What the run will write, by the user's name for it (``"key.yaml: output.bundle"``,
        ``"--out"``). ``None`` values are skipped.
    inputs : mapping of label to path
        What the run reads (files or folders); ``None`` values and ``builtin:`` names are
        skipped.
    overwrite : bool
        Existing regular files may be replaced.
    replaceable : collection of str
        Labels of outputs that may exist regardless (a checkpoint a resumed run continues from).
    hint : str
        How the user asks for ``overwrite`` (named in the "already exists" message).

    Returns
    -------
    dict of label to Path
        The outputs, absolute (symbolic links not resolved).

    Raises
    ------
    OutputError
        The first output refused, naming its label and path and, for a clash, the other's.
    """
    outs = {k: output_path(v) for k, v in outputs.items() if v is not None}
    ins = {k: output_path(v) for k, v in inputs.items()
           if v is not None and not str(v).startswith("builtin:")}
    seen: dict[tuple, str] = {}
    for label, p in outs.items():
        exists = _kind_of_target(label, p) is not None
        ident = _identity(p)
        for in_label, q in ins.items():
            if _identity(q) == ident:
                raise OutputError(f"{label} {p} is the same file as {in_label} {q}; "
                                  "refusing to overwrite an input")
            if os.path.isdir(q) and _inside(p, q):
                raise OutputError(f"{label} {p} lies inside {in_label} {q}; refusing to write "
                                  "into an input folder")
        if ident in seen:
            raise OutputError(f"{label} {p} is the same file as {seen[ident]}; every output "
                              "needs its own path")
        seen[ident] = f"{label} {p}"
        if exists and not (overwrite or label in replaceable):
            raise OutputError(f"{label} {p} already exists; {hint}")
        _writable_folder(label, p)
    return outs


def check_folder_outputs(folder: PathLike, names: Collection[str], inputs: Mapping[str, PathLike | None] = {},
                         *, overwrite: bool = False, label: str = "--out") -> dict[str, Path]:
    """:func:`check_outputs` for the files ``names`` a run writes into ``folder`` (a report's
    ``metrics.json``, ``report.html``, figures); the folder itself must be a folder, not a link."""
    base = output_path(folder)
    if os.path.islink(base):
        raise OutputError(f"{label} {base} is a symbolic link (to {os.readlink(base)}); name the "
                          "real folder instead")
    if os.path.lexists(base) and not os.path.isdir(base):
        raise OutputError(f"{label} {base} exists and is not a folder")
    return check_outputs({f"{label} {name}:": base / name for name in names}, inputs, overwrite=overwrite)
