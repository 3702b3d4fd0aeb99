"""``enfo-partner``'s steps over files: verify a bundle, train its key and save it, predict.

Each takes paths (the bundle, the trusted owners' key files, the model, the tables) and calls
:mod:`enfo_sdk.bundle` and :mod:`enfo_sdk.partner`, which work on objects.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..errors import ConfigError, DataError
from ..outputs import check_outputs
from .common import context

__all__ = ["TrainRun", "PredictRun", "load_trust_files", "verify_bundle", "train_bundle", "train_bundles",
           "predict_file"]


@dataclass
class TrainRun:
    """What ``enfo-partner train`` reports."""

    verified: Any
    model_path: Path
    bundles: list = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        v = self.verified
        out = {"bundle": str(v.path), "bundle_id": str(v.manifest.bundle_id), "signer": v.signer,
               "fingerprint": v.fingerprint, "model": str(self.model_path)}
        if self.bundles:
            out["bundles"] = [{"bundle": str(b.path), "bundle_id": str(b.manifest.bundle_id),
                               "signer": b.signer, "fingerprint": b.fingerprint, "rows": len(b.data)}
                              for b in self.bundles]
        return out


@dataclass
class PredictRun:
    """What ``enfo-partner predict`` reports."""

    output: Path
    rows: int
    column: str

    def to_json(self) -> dict[str, Any]:
        return {"output": str(self.output), "rows": self.rows, "column": self.column}


def load_trust_files(trust: Sequence[str | Path]):
    """A TrustStore from public key or trust-store files; none given is an error."""
    from ..signing import load_trust

    if not trust:
        raise ConfigError(
            "no trusted owner keys: pass --trust FILE (a public key or a trust-store file) "
            "or set ENFO_TRUST_STORE"
        )
    return load_trust([Path(p).expanduser() for p in trust])


def verify_bundle(bundle: str | Path, trust: Sequence[str | Path], partner: str | None = None, *,
                  key: str | Path | None = None, need_key: bool = False, store=None):
    """Verify a bundle against trusted owner keys; returns the VerifiedBundle or raises.

    A sealed bundle (format v4) is opened, after it verified, with the partner's private sealing
    key: ``key``, else the default one (:func:`enfo_sdk.sealing.default_partner_key_path`) when
    that file exists. With ``need_key`` (train, augment, check) a sealed bundle that cannot be
    opened is an error (SealedKeyError naming whom it is sealed to and the key tried); without it
    (verify) the default key is used only when the bundle is sealed to it, and an unopened
    bundle is returned.
    """
    from ..bundle import verify
    from ..bundle.verify import open_sealed
    from ..errors import SealedKeyError
    from ..sealing import default_partner_key_path, load_sealing_private_key, sealing_fingerprint

    store = load_trust_files(trust) if store is None else store
    verified = verify(Path(bundle), store, partner=partner)
    if not verified.sealed_to:
        return verified
    path = Path(key).expanduser() if key is not None else default_partner_key_path()
    if key is not None or path.exists():
        private = load_sealing_private_key(path)
        if key is not None or need_key or sealing_fingerprint(private.public_key()) in verified.sealed_to:
            return open_sealed(verified, private, str(path))
    if need_key:
        raise SealedKeyError(
            f"{bundle}: the key is sealed to partner {', '.join(verified.sealed_to)}; only that partner can "
            f"rebuild it: pass --key PATH (their private sealing key), or keep it at {path} "
            "(where enfo-partner keygen puts it)"
        )
    return verified


def train_bundle(
    bundle: str | Path, trust: Sequence[str | Path], out: str | Path, partner: str | None = None,
    *, force: bool = False, out_label: str = "--out", key: str | Path | None = None,
) -> TrainRun:
    """Verify a bundle, rebuild its key model, train it on the bundle and save it to ``out``.

    ``out`` is checked first (:func:`enfo_sdk.outputs.check_outputs`): not the bundle, not a
    trust file, not a link or other non-regular file, and not an existing file unless ``force``;
    ``out_label`` names it in messages. A sealed bundle needs the partner's private sealing
    key (``key``, else the default one; :func:`verify_bundle`).
    """
    from .. import partner as partner_api
    from ..fs import write_files_atomic

    inputs = {"BUNDLE": bundle, **{f"--trust #{i + 1}": p for i, p in enumerate(trust)},
              **({"--key": key} if key is not None else {})}
    out = check_outputs({out_label: out}, inputs, overwrite=force)[out_label]
    verified = verify_bundle(bundle, trust, partner, key=key, need_key=True)
    model = partner_api.train(verified)
    write_files_atomic({out: partner_api.model_bytes(model, verified)}, overwrite=force)
    return TrainRun(verified=verified, model_path=out)


def train_bundles(
    bundles: Sequence[str | Path], trust: Sequence[str | Path], out: str | Path, partner: str | None = None,
    *, force: bool = False, out_label: str = "--out", key: str | Path | None = None,
) -> TrainRun:
    """Verify several bundles of one key spec, each against its own signer, and train on their union.

    A consortium's members each forge a bundle for the same agreed key (docs/consortium.md);
    the partner trains that key once on all their rows. Every bundle must verify against
    ``trust`` (each may be signed by a different owner there), and all must carry the same
    KeySpec -- algorithm, version, hyperparameters, preprocessing and, in format v2, the
    column encoding ``KeySpec.columns`` -- and the same features and target; otherwise
    :class:`ConfigError` names the first bundle and the one that differs, and what differs.
    The saved model's provenance (one ``bundle_id``, one signer, as the model format holds)
    is the first bundle's; ``TrainRun.bundles`` lists them all.
    """
    import numpy as np

    from .. import partner as partner_api

    if len(bundles) < 2:
        return train_bundle(bundles[0], trust, out, partner, force=force, out_label=out_label, key=key)
    from ..fs import write_files_atomic

    inputs = {**{f"BUNDLE #{i + 1}": b for i, b in enumerate(bundles)},
              **{f"--trust #{i + 1}": p for i, p in enumerate(trust)},
              **({"--key": key} if key is not None else {})}
    out = check_outputs({out_label: out}, inputs, overwrite=force)[out_label]
    store = load_trust_files(trust)
    runs = [verify_bundle(b, trust, partner, key=key, need_key=True, store=store) for b in bundles]
    first = runs[0]
    for other in runs[1:]:
        _same_key(first, other)
    X = np.concatenate([v.X for v in runs])
    y = np.concatenate([v.y for v in runs])
    model = partner_api.TrainedModel(**first.require_key().build().get_params()).fit(X, y)
    write_files_atomic({out: partner_api.model_bytes(model, first)}, overwrite=force)
    return TrainRun(verified=first, model_path=out, bundles=runs)


def _same_key(first, other) -> None:
    """Refuse to pool two bundles whose keys or columns differ (names both, and what differs)."""
    a, b = first.manifest.key.model_dump(), other.manifest.key.model_dump()
    differ = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if differ:
        raise ConfigError(
            f"{other.path}: its key spec differs from {first.path}'s in {', '.join(differ)}; "
            f"a union of bundles trains one key, so every bundle must be forged for the same "
            f"key spec (enfo-owner consortium forge shares it)"
        )
    if other.feature_names != first.feature_names or other.target_name != first.target_name:
        raise ConfigError(
            f"{other.path}: columns {other.feature_names} -> {other.target_name}, but "
            f"{first.path} has {first.feature_names} -> {first.target_name}"
        )


def predict_file(model_path: str | Path, input: str | Path, out: str | Path, *,
                 force: bool = False) -> PredictRun:
    """Predict with a saved partner model on a CSV or Parquet table; write CSV or Parquet.

    The output holds the input's columns and the predictions in a column named after the
    target with ``_pred`` appended (the input may hold other columns, e.g. ids or the true
    target; they are passed through, not used). A classification key writes the class there
    and each class's probability in ``target_prob=class``.

    Raises
    ------
    DataError
        Naming the input file and its missing feature columns, the column with missing
        values, or an input column already named like the prediction column. ModelFileError
        for a file that is not a saved model.
    OutputError
        ``out`` is the model or the input, a link or other non-regular file, or exists
        (without ``force``); checked before anything is read.
    """
    import pandas as pd

    from .. import partner as partner_api
    from ..data.tables import read_table
    from ..fs import write_files_atomic

    kind = _table_kind(Path(out))
    out = check_outputs({"--out": out}, {"MODEL": model_path, "--input": input}, overwrite=force)["--out"]
    model = partner_api.load_model(Path(model_path))
    df = read_table(Path(input))
    columns = [str(c) for c in df.columns]
    missing = [c for c in model.input_columns if c not in columns]
    if missing:
        raise DataError(
            f"{input}: missing feature column(s) {', '.join(map(repr, missing))} that model "
            f"{model_path} needs; the input has: {', '.join(columns)}"
        )
    with context(str(input)):
        pred = partner_api.predict(model, df.rename(columns=str)[model.input_columns])
    name = f"{model.target_name}_pred"
    if name in columns:
        raise DataError(f"{input}: already has a column {name!r}, where the predictions would go; "
                        "rename or drop it")
    result = df.copy()
    if isinstance(pred, pd.DataFrame):  # a classification key: the class, then its probabilities
        result[name] = pred[model.target_name].to_numpy()
        for col in pred.columns[1:]:
            result[f"{model.target_name}_prob{col[len(model.target_name):]}"] = pred[col].to_numpy()
    else:
        result[name] = pred.to_numpy()
    if kind == "csv":
        data = result.to_csv(index=False).encode("utf-8")
    else:
        buf = io.BytesIO()
        result.to_parquet(buf, index=False)
        data = buf.getvalue()
    write_files_atomic({out: data}, overwrite=force)
    return PredictRun(output=out, rows=len(result), column=name)


def _table_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ConfigError(f"--out {path}: expected a .csv, .parquet or .pq file name")
