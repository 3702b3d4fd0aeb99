"""Forging checkpoints: one ``.npz`` file, written atomically, read without pickle.

A checkpoint holds everything :func:`enfo_sdk.forge` needs to continue a run so that the
resumed run produces exactly the rows an uninterrupted run would have produced:

arrays (float64 unless noted)
    ``rows`` (m, d+1) the current synthetic rows (standardized space), ``best_rows`` (m, d+1),
    ``adam_exp_avg``, ``adam_exp_avg_sq`` (m, d+1) Adam's moments, ``generator`` (uint8) the
    state of forging's torch generator (minibatch draws of in-memory data).
``meta`` (a UTF-8 JSON document stored as a uint8 array)
    ``format`` (``enfo-forge-checkpoint-v1``), ``fingerprint`` (SHA-256 of the settings, the
    key and the owner's data; a checkpoint of another run is refused), ``step``,
    ``adam_step``, ``best``, ``best_step``, ``stale``, ``loss_acc``, ``loss_n``, ``history``,
    ``elapsed``, ``finished``, ``stopped_early``.

Files are written with :func:`enfo_sdk.fs.write_bytes_atomic` (temporary file,
fsync, rename), so an interruption leaves the previous checkpoint intact, and read with
``numpy.load(allow_pickle=False)``: a checkpoint can carry no code.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .fs import write_bytes_atomic
from .errors import ForgeError

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint"]

FORMAT = "enfo-forge-checkpoint-v1"
_META = "meta"


def _clean(value: Any) -> Any:
    """NaN/inf floats become None so the JSON is strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def save_checkpoint(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` and the JSON ``meta`` to ``path`` atomically (a ``.npz`` file).

    Parameters
    ----------
    path : str or Path
        Target file; its folder is created.
    arrays : dict of str to ndarray
        Numeric arrays only (no object dtype).
    meta : dict
        JSON-ready values; NaN and infinity are stored as null.
    """
    path = Path(path)
    if _META in arrays:
        raise ForgeError(f"array name {_META!r} is reserved")
    body = json.dumps({"format": FORMAT, **_clean(meta)}, allow_nan=False)
    payload = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise ForgeError(f"checkpoint array {k!r} has object dtype")
    payload[_META] = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    arrays : dict of str to ndarray
    meta : dict

    Raises
    ------
    ForgeError
        When the file cannot be read, is not a checkpoint, or has another format version.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ForgeError(f"{path}: not a readable forging checkpoint: {e}") from e
    raw = arrays.pop(_META, None)
    if raw is None or raw.dtype != np.uint8:
        raise ForgeError(f"{path}: not a forging checkpoint (no metadata)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ForgeError(f"{path}: checkpoint metadata is not JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ForgeError(f"{path}: unsupported checkpoint format {meta.get('format') if isinstance(meta, dict) else None!r}")
    return arrays, meta
