"""The workflows behind the command-line tools, one function per command.

Each CLI command parses its options, calls exactly one function here and prints what it
returns; everything else (reading tables, splitting, encapsulating, forging, evaluating,
signing, verifying) happens in the library, so the Python API can do all the CLIs do.

:func:`run_forge` (``enfo-owner forge``)
    1. check the signing key and the partner's public key (fail before the slow part);
    2. read the owner's table and select the columns (numeric, no NaN);
    3. hold out a seeded test split (``data.test_fraction``);
    4. *encapsulate*: choose the key's hyperparameters by CV on the training rows;
    5. *forge*: ``forge.rows`` synthetic rows for that key;
    6. *evaluate*: test RMSE of the key trained on all training rows, on the forged rows
       and on the same number of real training rows sampled at random (seeded);
    7. *write*: create the signing key at the default location if none was named and none
       exists, then the signed bundle (atomic: an interruption leaves no partial file) and the
       optional JSON report.

Progress is reported through ``progress(phase, fraction)`` with phase one of
:data:`PHASES`; the library prints nothing.

:func:`verify_bundle`, :func:`train_bundle`, :func:`predict_file` (``enfo-partner``) and
:func:`create_signing_key` (``enfo-owner keygen``) are the partner's and key-holder's steps.
"""

from __future__ import annotations

import getpass
import inspect
import io
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._random import rng as make_rng
from .contract import OWNER_KEY_ENV, Contract, default_key_path
from .data.builtin import load_builtin
from .data.tables import BUILTIN_PREFIX, read_table, select_columns
from .encapsulate import encapsulate
from .errors import ConfigError, DataError, EnfoError, SigningError
from .forge import ForgeProgress, ForgeResult, forge
from .spec import KeySpec

__all__ = [
    "PHASES", "ForgeRun", "SignerInfo", "TrainRun", "PredictRun", "run_forge",
    "create_signing_key", "verify_bundle", "train_bundle", "predict_file",
]

#: Phases reported to ``progress(phase, fraction)`` by :func:`run_forge`, in order.
PHASES = ("encapsulate", "forge", "evaluate", "write")

Progress = Callable[[str, float], None]


@dataclass
class SignerInfo:
    """The key a bundle was signed with."""

    key_path: Path
    public_key_path: Path | None
    fingerprint: str
    created: bool = False


@dataclass
class ForgeRun:
    """Everything ``enfo-owner forge`` reports.

    Attributes
    ----------
    bundle : Path
        The signed bundle written.
    manifest : enfo_sdk.bundle.Manifest
        Its signed manifest.
    result : ForgeResult
        The forged rows, history and forging metrics.
    test_rmse : dict
        Test RMSE (original units) of the key trained on ``full`` (all owner training rows),
        ``forged`` (the forged rows) and ``sampled`` (as many real training rows as forged
        rows, sampled at random).
    n_train, n_test : int
        Owner rows used for encapsulation and forging, and held out for the test.
    seconds : dict
        Wall-clock seconds per phase and ``total``.
    signer : SignerInfo
    warnings : list of str
        Warnings raised on the way (e.g. a hyperparameter on the edge of its grid).
    report : Path or None
        The JSON report written, when the contract asks for one.
    """

    contract: Contract
    bundle: Path
    manifest: Any
    result: ForgeResult
    spec: KeySpec
    test_rmse: dict[str, float]
    n_train: int
    n_test: int
    seconds: dict[str, float]
    signer: SignerInfo
    warnings: list[str] = field(default_factory=list)
    report: Path | None = None

    @property
    def rows(self) -> int:
        return len(self.result.data)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``enfo-owner forge --json`` prints)."""
        full, forged = self.test_rmse["full"], self.test_rmse["forged"]
        return {
            "bundle": str(self.bundle),
            "bundle_id": _get(self.manifest, "bundle_id"),
            "contract": str(self.contract.file) if self.contract.file else None,
            "rows": self.rows,
            "owner_rows": {"train": self.n_train, "test": self.n_test},
            "test_rmse": dict(self.test_rmse),
            "forged_vs_full": (forged / full - 1.0) if full > 0 else None,
            "key": {
                "algorithm": self.spec.algorithm,
                "version": self.spec.version,
                "hyperparameters": dict(self.spec.hyperparameters),
            },
            "forge": {
                k: self.result.metrics.get(k)
                for k in ("best_val_rmse", "best_step", "steps_run", "stopped_early")
            },
            "seconds": dict(self.seconds),
            "signer": {
                "fingerprint": self.signer.fingerprint,
                "key": str(self.signer.key_path),
                "public_key": str(self.signer.public_key_path) if self.signer.public_key_path else None,
                "created": self.signer.created,
            },
            "report": str(self.report) if self.report else None,
            "warnings": list(self.warnings),
        }


def _get(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None)
    return str(value) if value is not None else None


# -- helpers -------------------------------------------------------------------------------------
@contextmanager
def _context(where: str) -> Iterator[None]:
    """Re-raise an EnfoError with ``where`` (file and key path) in front, same type."""
    try:
        yield
    except EnfoError as e:
        raise type(e)(f"{where}: {e}") from e


def _notify(progress: Progress | None, phase: str, fraction: float) -> None:
    if progress is not None:
        progress(phase, min(1.0, max(0.0, float(fraction))))


def _forge_default(name: str) -> Any:
    return inspect.signature(forge).parameters[name].default


def _encapsulate(contract: Contract, X_train, y_train, progress, caught: list[str]):
    """The contract's key chosen on the training rows; warnings are appended to ``caught``."""
    k = contract.key
    search = None if k.search is None else dict(k.search)
    extra = {} if k.cv is None else {"cv": k.cv}
    with warnings.catch_warnings(record=True) as seen, _context(contract.where("key")):
        warnings.simplefilter("always")
        spec = encapsulate(
            X_train, y_train, algorithm=k.algorithm, version=k.version, search=search,
            seed=contract.data.seed, progress=lambda f: _notify(progress, "encapsulate", f),
            **extra,
        )
    caught.extend(str(w.message) for w in seen if not issubclass(w.category, DeprecationWarning))
    return spec


def _check_finite(X: pd.DataFrame, y: pd.Series, source: str, contract: Contract) -> None:
    """Name the first column holding NaN or infinity, with its count and first row."""
    for name, col in [*X.items(), (y.name, y)]:
        values = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            role = "target" if name == y.name else "feature"
            key = "data.target" if role == "target" else "data.features"
            raise DataError(
                f"{source}: {role} column {name!r} has {int(bad.sum())} missing or infinite "
                f"value(s) (first in data row {first + 1}); clean the table"
                + (" or leave the column out" if role == "feature" else "")
                + f" ({contract.where(key)})"
            )


def _read_owner_table(contract: Contract) -> tuple[pd.DataFrame, pd.Series, str]:
    d = contract.data
    source = d.source
    with _context(contract.where("data.source")):
        if source.startswith(BUILTIN_PREFIX):
            df, _ = load_builtin(source[len(BUILTIN_PREFIX):], **(d.options or {}))
        else:
            if d.options:
                raise ConfigError("options apply to builtin: sources only")
            df = read_table(source)
    columns = [str(c) for c in df.columns]
    if d.target not in columns:
        raise DataError(
            f"{contract.where('data.target')}: column {d.target!r} not found in {source}; "
            f"available: {', '.join(columns)}"
        )
    with _context(contract.where("data.features")):
        X, y = select_columns(df, d.target, d.features, source_name=source)
    _check_finite(X, y, source, contract)
    return X.reset_index(drop=True), y.reset_index(drop=True), source


def _split(n: int, contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    fraction = contract.data.test_fraction
    n_test = int(round(fraction * n))
    if n_test < 1 or n - n_test < 3:
        raise ConfigError(
            f"{contract.where('data.test_fraction')}: {fraction} leaves {n_test} test and "
            f"{n - n_test} training rows of {n}; both sides need rows"
        )
    perm = make_rng(contract.data.seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _check_rows(contract: Contract, n_train: int, n: int) -> None:
    """Fail before encapsulation (the slow part) when ``forge.rows`` cannot work."""
    rows = contract.forge.rows
    validation = contract.forge.validation or _forge_default("validation")
    n_val = max(1, int(round(validation * n_train)))
    usable = n_train - n_val
    if rows >= usable:
        raise ConfigError(
            f"{contract.where('forge.rows')}: {rows} is too large; it must be smaller than the "
            f"{usable} owner rows forging learns from ({n} rows, less {n - n_train} held out "
            f"for the test by data.test_fraction, less {n_val} for validation)"
        )


# -- signing key ----------------------------------------------------------------------------------
@dataclass
class _SigningPlan:
    path: Path
    key: Any  # loaded private key, or None when it must be created
    named: bool


def _plan_signing(contract: Contract) -> _SigningPlan:
    from . import signing

    named = contract.signing.key is not None
    path = Path(contract.signing.key) if named else default_key_path()
    where = contract.where("signing.key") if named else (
        f"signing key {path} (the default; set signing.key in "
        f"{contract.file or 'the contract'} or ${OWNER_KEY_ENV})"
    )
    if not path.exists():
        if named:
            raise SigningError(f"{where}: no such file: {path}")
        return _SigningPlan(path=path, key=None, named=False)
    with _context(where):
        key = signing.load_private_key(path, passphrase_env=contract.signing.passphrase_env)
    return _SigningPlan(path=path, key=key, named=named)


def _public_key_path(path: Path) -> Path | None:
    pub = path.with_name(path.name + ".pub")
    return pub if pub.exists() else None


def create_signing_key(
    path: str | Path | None = None,
    *,
    comment: str | None = None,
    passphrase_env: str = "ENFO_KEY_PASSPHRASE",
) -> SignerInfo:
    """Create an Ed25519 key pair: the private key at ``path``, the public key at ``path.pub``.

    Parameters
    ----------
    path : str or Path, optional
        Default: ``$ENFO_OWNER_KEY`` or ``~/.config/enfo/owner.key``. Parent folders are
        created. An existing file is never overwritten (SigningError).
    comment : str, optional
        Public key comment (the name a partner's trust store shows); default the file name.
    passphrase_env : str
        When this environment variable is set, the private key is encrypted with its value.

    Returns
    -------
    SignerInfo
        Paths and fingerprint, ``created=True``.
    """
    from . import signing

    path = Path(path).expanduser() if path is not None else default_key_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SigningError(f"cannot create the folder of key {path}: {e.strerror or e}") from e
    passphrase = os.environ.get(passphrase_env) or None
    private_path, public_path = signing.keygen(
        path, passphrase=passphrase.encode("utf-8") if passphrase else None, comment=comment
    )
    public = signing.load_public_key(public_path)
    return SignerInfo(
        key_path=Path(private_path), public_key_path=Path(public_path),
        fingerprint=signing.fingerprint(public), created=True,
    )


def _owner_name(contract: Contract) -> str:
    if contract.signing.owner:
        return contract.signing.owner
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "owner"


# -- the owner's run -------------------------------------------------------------------------------
def run_forge(
    contract: Contract,
    *,
    progress: Progress | None = None,
    resume: bool = False,
    from_bundle: str | Path | None = None,
    trust: Sequence[str | Path] = (),
) -> ForgeRun:
    """Run a contract end to end: read, split, encapsulate, forge, evaluate, sign, write.

    Parameters
    ----------
    contract : Contract
        Usually from :func:`enfo_sdk.contract.load_contract` (paths already absolute).
    progress : callable, optional
        ``progress(phase, fraction)`` with phase in :data:`PHASES` and fraction in [0, 1].
    resume : bool
        Continue forging from the checkpoint (``output.checkpoint``, default the bundle path
        followed by ``.checkpoint.npz``) when it exists; checkpoints are written either way.
    from_bundle : str or Path, optional
        Update a previous bundle (``enfo-owner forge --from``): verify it, keep its key
        (encapsulation is skipped; ``key.algorithm`` must match) and start forging from its
        rows (``forge.rows`` must equal its row count).
    trust : sequence of paths
        Public keys or trust-store files ``from_bundle`` must verify against; default the
        owner's own signing key.

    Returns
    -------
    ForgeRun

    Raises
    ------
    EnfoError
        ConfigError, DataError, SigningError, HyperparameterError, ForgeError, ...; each
        message names the contract file and key path, or the data file and column.
    """
    from . import signing

    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    caught: list[str] = []

    plan = _plan_signing(contract)
    partner = contract.partner
    partner_key = None
    if partner is not None and partner.public_key is not None:
        with _context(contract.where("partner.public_key")):
            partner_key = signing.load_public_key(partner.public_key)

    previous = None
    if from_bundle is not None:
        previous = _previous_bundle(contract, plan, Path(from_bundle), trust)

    source = None
    if contract.data.stream:  # X, y: a subsample of the training rows (encapsulate, evaluate)
        source, X, y, Xa_test, ya_test = _stream_owner_data(contract)
        train_idx = np.arange(len(y))
        X_train, y_train = X, y
        n_train, n_test = source.n_train, len(ya_test)
    else:
        X, y, _ = _read_owner_table(contract)
        train_idx, test_idx = _split(len(y), contract)
        X_train, y_train = X.iloc[train_idx], y.iloc[train_idx]
        Xa_test, ya_test = X.to_numpy(np.float64)[test_idx], y.to_numpy(np.float64)[test_idx]
        n_train, n_test = len(train_idx), len(test_idx)
        _check_rows(contract, len(train_idx), len(y))
    # the evaluation fits and predicts on plain arrays
    Xa_train, ya_train = X_train.to_numpy(np.float64), y_train.to_numpy(np.float64)

    # 1. encapsulate
    t = time.perf_counter()
    _notify(progress, "encapsulate", 0.0)
    forge_extra: dict[str, Any] = {}
    if previous is not None:  # an update keeps the previous bundle's key
        spec, forge_extra["init_rows"] = _check_previous(contract, previous, list(X.columns), y.name)
    else:
        spec = _encapsulate(contract, X_train, y_train, progress, caught)
    checkpoint = contract.output.checkpoint
    if checkpoint is None and resume:
        checkpoint = str(contract.output.bundle) + ".checkpoint.npz"
    if checkpoint is not None:
        forge_extra.update(checkpoint=Path(checkpoint), resume=bool(resume))
    _notify(progress, "encapsulate", 1.0)
    seconds["encapsulate"] = time.perf_counter() - t

    # 2. forge
    t = time.perf_counter()
    _notify(progress, "forge", 0.0)

    def on_step(p: ForgeProgress) -> None:
        _notify(progress, "forge", p.step / p.steps)

    with warnings.catch_warnings(record=True) as seen, _context(contract.where("forge")):
        warnings.simplefilter("always")
        owner_rows = (X_train, y_train) if source is None else (source, None)
        kwargs = contract.forge.forge_kwargs()
        if source is not None:
            kwargs.pop("validation", None)  # the source holds the validation split
        result = forge(*owner_rows, spec, callback=on_step, **kwargs, **forge_extra)
    caught += [str(w.message) for w in seen if not issubclass(w.category, DeprecationWarning)]
    _notify(progress, "forge", 1.0)
    seconds["forge"] = time.perf_counter() - t

    # 3. evaluate
    t = time.perf_counter()
    _notify(progress, "evaluate", 0.0)
    from .evaluate.utility import key_rmse

    test_rmse = {"full": key_rmse(spec, Xa_train, ya_train, Xa_test, ya_test)}
    _notify(progress, "evaluate", 1 / 3)
    test_rmse["forged"] = key_rmse(spec, result.X, result.y, Xa_test, ya_test)
    _notify(progress, "evaluate", 2 / 3)
    sample = make_rng(contract.data.seed).choice(len(train_idx), len(result.data), replace=False)
    test_rmse["sampled"] = key_rmse(spec, Xa_train[sample], ya_train[sample], Xa_test, ya_test)
    _notify(progress, "evaluate", 1.0)
    seconds["evaluate"] = time.perf_counter() - t

    # 4. write
    from .bundle import write_bundle

    t = time.perf_counter()
    _notify(progress, "write", 0.0)
    if plan.key is None:
        signer = create_signing_key(
            plan.path, comment=_owner_name(contract), passphrase_env=contract.signing.passphrase_env
        )
        key = signing.load_private_key(signer.key_path, passphrase_env=contract.signing.passphrase_env)
    else:
        key = plan.key
        signer = SignerInfo(
            key_path=plan.path, public_key_path=_public_key_path(plan.path),
            fingerprint=signing.fingerprint(key.public_key()),
        )
    bundle = Path(contract.output.bundle)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    metrics = {
        "test_rmse_full": test_rmse["full"],
        "test_rmse_forged": test_rmse["forged"],
        "test_rmse_sampled": test_rmse["sampled"],
        "best_val_rmse": float(result.metrics["best_val_rmse"]),
    }
    with _context(contract.where("output.bundle")):
        manifest = write_bundle(
            bundle, result, signing_key=key, owner_name=_owner_name(contract),
            partner_name=partner.name if partner else None,
            partner_public_key=partner_key,
            expires_in_days=partner.expires_in_days if partner else None,
            metrics=metrics,
        )
    _notify(progress, "write", 1.0)
    seconds["write"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_start

    run = ForgeRun(
        contract=contract, bundle=bundle, manifest=manifest, result=result, spec=spec,
        test_rmse=test_rmse, n_train=n_train, n_test=n_test, seconds=seconds,
        signer=signer, warnings=caught,
    )
    if contract.output.report is not None:
        run.report = Path(contract.output.report)
        _write_report(run)
    return run


#: Training rows read for encapsulation and the evaluation baselines when ``data.stream`` is set.
STREAM_SAMPLE_ROWS = 5000  # the full-data baseline fits the key on them: O(n^2) memory


def _stream_owner_data(contract: Contract):
    """``data.stream``: a ParquetSource, a training subsample, and the (capped) test rows."""
    from .stream import ParquetSource

    d = contract.data
    if d.source.startswith(BUILTIN_PREFIX):
        raise ConfigError(f"{contract.where('data.stream')}: streaming reads a Parquet file or "
                          f"directory, not {d.source}")
    with _context(contract.where("data.source")):
        source = ParquetSource(
            d.source, d.target, d.features, test_fraction=d.test_fraction, split_seed=d.seed,
            validation=contract.forge.validation,
        )
        X, y = source.sample(STREAM_SAMPLE_ROWS, d.seed)
        Xt, yt = source.test_rows()
    if len(yt) == 0:
        raise ConfigError(f"{contract.where('data.test_fraction')}: no test rows in {d.source}")
    if contract.forge.rows >= source.n_train:
        raise ConfigError(
            f"{contract.where('forge.rows')}: {contract.forge.rows} is too large; it must be "
            f"smaller than the {source.n_train} training rows of {d.source}"
        )
    return source, X, y, Xt, yt


def _previous_bundle(contract: Contract, plan: _SigningPlan, path: Path, trust: Sequence[str | Path]):
    """Verify the bundle an update starts from: against ``trust`` or the owner's own key."""
    from .bundle import verify
    from .signing import TrustStore

    if trust:
        store = _trust(trust)
    elif plan.key is not None:
        store = TrustStore()
        store.add(_owner_name(contract), plan.key.public_key())
    else:
        raise ConfigError(
            f"--from {path}: no key to verify it with; name the owner's public key with --trust "
            f"or set signing.key ({contract.where('signing.key')})"
        )
    return verify(path, store)


def _check_previous(contract: Contract, previous, features: list[str], target: str):
    """The previous bundle's KeySpec and rows, after checking they fit this contract."""
    spec = previous.manifest.key
    if spec.algorithm != contract.key.algorithm:
        raise ConfigError(
            f"{contract.where('key.algorithm')}: {contract.key.algorithm!r} but the bundle "
            f"{previous.path} was forged for {spec.algorithm!r}"
        )
    if previous.feature_names != features or previous.target_name != target:
        raise ConfigError(
            f"{contract.where('data')}: the bundle {previous.path} has columns "
            f"{previous.feature_names} -> {previous.target_name}, the owner's table "
            f"{features} -> {target}"
        )
    if len(previous.data) != contract.forge.rows:
        raise ConfigError(
            f"{contract.where('forge.rows')}: {contract.forge.rows} but the bundle "
            f"{previous.path} holds {len(previous.data)} rows; an update keeps the row count"
        )
    return spec, previous.data


def _write_report(run: ForgeRun) -> None:
    from .bundle._atomic import write_bytes_atomic

    body = run.summary()
    body["history"] = run.result.history.replace({np.nan: None}).to_dict(orient="records")
    body["settings"] = run.result.settings
    run.report.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(run.report, (json.dumps(body, indent=2) + "\n").encode())


# -- the partner's steps ---------------------------------------------------------------------------
@dataclass
class TrainRun:
    """What ``enfo-partner train`` reports."""

    verified: Any
    model_path: Path


@dataclass
class PredictRun:
    """What ``enfo-partner predict`` reports."""

    output: Path
    rows: int
    column: str


def _trust(trust: Sequence[str | Path]):
    from .signing import load_trust

    if not trust:
        raise ConfigError(
            "no trusted owner keys: pass --trust FILE (a public key or a trust-store file) "
            "or set ENFO_TRUST_STORE"
        )
    return load_trust([Path(p).expanduser() for p in trust])


def verify_bundle(bundle: str | Path, trust: Sequence[str | Path], partner: str | None = None):
    """Verify a bundle against trusted owner keys; returns the VerifiedBundle or raises."""
    from .bundle import verify

    return verify(Path(bundle), _trust(trust), partner=partner)


def train_bundle(
    bundle: str | Path, trust: Sequence[str | Path], out: str | Path, partner: str | None = None
) -> TrainRun:
    """Verify a bundle, rebuild its key model, train it on the bundle and save it to ``out``."""
    from . import partner as partner_api

    verified = verify_bundle(bundle, trust, partner)
    model = partner_api.train(verified)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partner_api.save_model(model, out, verified)
    return TrainRun(verified=verified, model_path=out)


def predict_file(model_path: str | Path, input: str | Path, out: str | Path) -> PredictRun:
    """Predict with a saved partner model on a CSV or Parquet table; write CSV or Parquet.

    The output holds the input's columns and the predictions in a column named after the
    target with ``_pred`` appended (the input may hold other columns, e.g. ids or the true
    target; they are passed through, not used).

    Raises
    ------
    DataError
        Naming the input file and its missing feature columns, or the column with missing
        values. ModelFileError for a file that is not a saved model.
    """
    from . import partner as partner_api
    from .bundle._atomic import write_bytes_atomic

    out = Path(out)
    kind = _table_kind(out)
    model = partner_api.load_model(Path(model_path))
    df = read_table(Path(input))
    columns = [str(c) for c in df.columns]
    missing = [c for c in model.feature_names if c not in columns]
    if missing:
        raise DataError(
            f"{input}: missing feature column(s) {', '.join(map(repr, missing))} that model "
            f"{model_path} needs; the input has: {', '.join(columns)}"
        )
    with _context(str(input)):
        pred = partner_api.predict(model, df.rename(columns=str)[model.feature_names])
    name = f"{model.target_name}_pred"
    result = df.copy()
    result[name] = pred.to_numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        data = result.to_csv(index=False).encode("utf-8")
    else:
        buf = io.BytesIO()
        result.to_parquet(buf, index=False)
        data = buf.getvalue()
    write_bytes_atomic(out, data)
    return PredictRun(output=out, rows=len(result), column=name)


def _table_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ConfigError(f"--out {path}: expected a .csv, .parquet or .pq file name")


# -- the owner's evaluation (enfo-owner evaluate) ---------------------------------------------------
#: Phases reported to ``progress(phase, fraction)`` by :func:`run_evaluate`, in order
#: ("encapsulate" and "forge" only when no bundle is given).
EVALUATE_PHASES = ("encapsulate", "forge", "full", "bundle", "attackers", "baselines", "curve", "report")


@dataclass
class EvaluateRun:
    """What ``enfo-owner evaluate`` reports: the files written and the headline figures."""

    out: Path
    metrics_path: Path
    report_path: Path
    figures: list[Path]
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _read_bundle_rows(path: Path, features: list[str], target: str):
    """The bundle's KeySpec and rows, checked against its (unverified) manifest's digest."""
    from .bundle import content_digest, read_envelope_unverified

    manifest, _keyid = read_envelope_unverified(path)
    names = [*manifest.task.features, manifest.task.target]
    if list(manifest.task.features) != list(features) or manifest.task.target != target:
        raise DataError(
            f"{path}: bundle columns {names} do not match the contract's "
            f"{[*features, target]}"
        )
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for bad files
        raise DataError(f"{path}: cannot read the bundle's rows: {e}") from e
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataError(f"{path}: bundle lacks column(s) {missing}")
    df = df[names].astype(np.float64)
    if content_digest(df, names) != str(manifest.content_digest):
        from .errors import DigestMismatchError

        raise DigestMismatchError(f"{path}: the rows do not match the manifest's content digest")
    return manifest.key, df


def _report_meta(contract, spec, notes: list, caught: list, **extra) -> dict:
    """The ``meta`` block of an evaluation or sweep report: where it came from and the key."""
    from datetime import datetime, timezone

    return {
        "contract": str(contract.file) if contract.file else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
        "key": {"algorithm": spec.algorithm, "version": spec.version,
                "hyperparameters": dict(spec.hyperparameters)},
        "notes": notes, "warnings": caught,
    }


def run_evaluate(
    contract: Contract,
    *,
    out: str | Path,
    bundle: str | Path | None = None,
    sizes: Sequence[int] = (100, 500, 1000),
    seeds: int = 3,
    external_rows: int = 1000,
    baselines: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> EvaluateRun:
    """Evaluate a bundle (or a fresh forge) on the contract's data; write a report to ``out``.

    The owner's table is read and split exactly as :func:`run_forge` splits it (same
    ``data.test_fraction`` and ``data.seed``), so the held-out rows were never used to forge.

    Parameters
    ----------
    contract : Contract
    out : str or Path
        Folder for ``metrics.json``, ``report.html`` and the PNG figures.
    bundle : str or Path, optional
        A bundle forged from this contract's data. Its manifest is read **without signature
        verification** (it is the owner's own file); the rows must match its content digest.
        Without it, the contract's key is encapsulated and forged in memory (nothing signed),
        which also gives the training curve.
    sizes, seeds : sequence of int, int
        Row counts and number of seeds of the RMSE-versus-rows curve; ``sizes=()`` skips it.
    external_rows : int
        Outside rows mixed into the bundle for the external-rivalry test (paper: 1,000).
    baselines : sequence of str, optional
        Baselines to run (default all of :data:`enfo_sdk.evaluate.BASELINES`).
    progress : callable, optional
        ``progress(phase, fraction)`` with phase in :data:`EVALUATE_PHASES`.

    Returns
    -------
    EvaluateRun
    """
    from .evaluate import BASELINES, evaluate, rows_curve, split_holdout
    from .evaluate.report import write_report

    t_start = time.perf_counter()
    caught: list[str] = []
    X, y, _ = _read_owner_table(contract)
    train_idx, test_idx = _split(len(y), contract)
    X_train, y_train = X.iloc[train_idx], y.iloc[train_idx]
    Xa_train, ya_train = X_train.to_numpy(np.float64), y_train.to_numpy(np.float64)
    Xa_hold, ya_hold = X.to_numpy(np.float64)[test_idx], y.to_numpy(np.float64)[test_idx]
    features, target = [str(c) for c in X.columns], str(y.name)
    notes = [
        "Owner rows split as by enfo-owner forge (data.test_fraction, data.seed); members = "
        "the training rows, non-members and test rows = the held-out rows.",
    ]
    history = None
    if bundle is not None:
        bundle = Path(bundle)
        with _context(f"--bundle {bundle}"):
            spec, rows = _read_bundle_rows(bundle, features, target)
        notes.append("Bundle manifest read without signature verification (the owner's own file); "
                     "rows checked against its content digest. No training curve (not stored in bundles).")
    else:
        _check_rows(contract, len(train_idx), len(y))
        _notify(progress, "encapsulate", 0.0)
        spec = _encapsulate(contract, X_train, y_train, progress, caught)
        _notify(progress, "forge", 0.0)
        with _context(contract.where("forge")):
            result = forge(X_train, y_train, spec,
                           callback=lambda p: _notify(progress, "forge", p.step / p.steps),
                           **contract.forge.forge_kwargs())
        _notify(progress, "forge", 1.0)
        rows, history = result.data[[*features, target]], result.history
        notes.append("Bundle forged in this run from the contract (not signed, not written).")

    seed = contract.data.seed
    evaluation = evaluate(
        spec, Xa_train, ya_train, Xa_hold, ya_hold, rows.to_numpy(np.float64),
        feature_names=features, target_name=target, external_rows=external_rows,
        baselines=BASELINES if baselines is None else tuple(baselines), seed=seed,
        progress=progress,
    )
    curve = None
    if sizes:
        _, test_sub = split_holdout(len(ya_hold), external_rows, seed)
        kw = {k: v for k, v in contract.forge.forge_kwargs().items() if k not in ("rows", "seed")}
        _notify(progress, "curve", 0.0)
        with _context(contract.where("forge")):
            curve = rows_curve(spec, Xa_train, ya_train, Xa_hold[test_sub], ya_hold[test_sub],
                               sizes=tuple(sizes), seeds=tuple(range(seeds)), forge_kwargs=kw,
                               progress=lambda f: _notify(progress, "curve", f))
        if curve["skipped"]:
            notes.append(f"Row counts {curve['skipped']} skipped: not fewer than the owner rows forging learns from.")
    from .evaluate.baselines import baselines_note
    notes.append(baselines_note(evaluation["baselines"]))
    _notify(progress, "report", 0.0)
    body = {
        "meta": _report_meta(contract, spec, notes, caught,
                             bundle=str(bundle) if bundle is not None else None),
        "evaluation": evaluation,
        "curve": curve,
        "history": history,
    }
    metrics_path, report_path, pngs = write_report(body, out)
    _notify(progress, "report", 1.0)
    b = evaluation["bundle"]
    summary = {
        "out": str(out), "metrics": str(metrics_path), "report": str(report_path),
        "rows": b["rows"],
        "key_rmse": {"full": evaluation["full"]["key_rmse"], "bundle": b["key_rmse"],
                     **{n: m["key_rmse"] for n, m in evaluation["baselines"].items()}},
        "bundle_vs_full": b["vs_full"],
        "best_attacker": b["attackers"]["best"],
        "best_attacker_ratio": b["attackers"]["best_ratio"],
        "external_change": b["external"]["change"],
        "mc_attack_accuracy": b["privacy"]["mc_attack"]["accuracy"],
        "divergence": {k: b["divergence"][k] for k in ("kl", "js", "wasserstein")},
        "seconds": time.perf_counter() - t_start,
    }
    return EvaluateRun(out=Path(out), metrics_path=metrics_path, report_path=report_path,
                       figures=pngs, summary=summary, warnings=caught)


# -- a forging-weight sweep (enfo-owner evaluate --sweep) ------------------------------------------
#: Phases reported to ``progress(phase, fraction)`` by :func:`run_sweep`, in order.
SWEEP_PHASES = ("encapsulate", "sweep", "report")


@dataclass
class SweepRun:
    """What ``enfo-owner evaluate --sweep`` reports: the files written and the figures per value."""

    out: Path
    json_path: Path
    png_path: Path
    html_path: Path
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def run_sweep(
    contract: Contract,
    *,
    out: str | Path,
    param: str,
    values: Sequence[float],
    own_rows: int = 1000,
    attackers: bool = False,
    progress: Progress | None = None,
) -> SweepRun:
    """Forge one bundle per value of a forging weight; write ``sweep.json``, ``.png``, ``.html``.

    The owner's table is read and split as :func:`run_evaluate` does, the key is encapsulated
    once, then :func:`enfo_sdk.evaluate.sweep.sweep` forges with the contract's ``forge``
    settings, ``param`` set to each value in turn and ``forge.mode`` replaced by the mode
    ``param`` weights (a note in ``sweep.json`` says so when the contract named another).

    Parameters
    ----------
    contract : Contract
    out : str or Path
        Folder for ``sweep.json``, ``sweep.png`` and ``sweep.html`` (written atomically).
    param : str
        One of :func:`enfo_sdk.evaluate.sweepable_params`.
    values : sequence of float
        At least two weights (>= 0).
    own_rows : int
        Held-out rows playing the partner's own data (the rest are the test rows); with the
        same number, they are the outside rows of :func:`run_evaluate`'s external-rivalry test.
    attackers : bool
        Also run the attacker zoo on every bundle (slow).
    progress : callable, optional
        ``progress(phase, fraction)`` with phase in :data:`SWEEP_PHASES`.

    Returns
    -------
    SweepRun
    """
    from .evaluate.sweep import MODE_OF, check_sweep, sweep, write_sweep

    t_start = time.perf_counter()
    vals = check_sweep(param, values, min_values=2)
    caught: list[str] = []
    X, y, _ = _read_owner_table(contract)
    train_idx, test_idx = _split(len(y), contract)
    _check_rows(contract, len(train_idx), len(y))
    X_train, y_train = X.iloc[train_idx], y.iloc[train_idx]
    features, target = [str(c) for c in X.columns], str(y.name)
    mode = MODE_OF[param]
    kw = contract.forge.forge_kwargs()
    kw.setdefault("seed", _forge_default("seed"))
    notes = [
        "Owner rows split as by enfo-owner forge (data.test_fraction, data.seed); divergences "
        "against the training rows; own rows and test rows from the held-out rows.",
    ]
    given = kw.pop("mode", None)
    if given is not None and given != mode:
        notes.append(f"{contract.where('forge.mode')}: {given!r} replaced by {mode!r}, the mode "
                     f"whose term {param} weights.")
    if param in kw:
        notes.append(f"{contract.where('forge.' + param)}: {kw.pop(param)} replaced by the swept values.")
    _notify(progress, "encapsulate", 0.0)
    spec = _encapsulate(contract, X_train, y_train, progress, caught)
    _notify(progress, "sweep", 0.0)
    with _context(contract.where("forge")):
        result = sweep(
            spec, X_train.to_numpy(np.float64), y_train.to_numpy(np.float64),
            X.to_numpy(np.float64)[test_idx], y.to_numpy(np.float64)[test_idx],
            param=param, values=vals, forge_kwargs=kw, own_rows=own_rows,
            seed=contract.data.seed, attackers=attackers,
            progress=lambda f: _notify(progress, "sweep", f),
        )
    _notify(progress, "report", 0.0)
    body = {
        "meta": _report_meta(contract, spec, notes, caught, columns=[*features, target]),
        "sweep": result,
    }
    json_path, png_path, html_path = write_sweep(body, out)
    _notify(progress, "report", 1.0)
    summary = {
        "out": str(out), "json": str(json_path), "figure": str(png_path), "report": str(html_path),
        "param": param, "mode": mode, "rows": result["forge"]["rows"], "split": result["split"],
        "key_rmse": {"full": result["reference"]["full_key_rmse"],
                     "own": result["reference"]["own_key_rmse"]},
        "results": [
            {"value": r["value"], "key_rmse": r["key_rmse"], "gain": r["augmentation"]["gain"],
             **{k: r["divergence"][k] for k in ("kl", "js", "wasserstein")},
             **({"best_attacker_ratio": r["attackers"]["best_ratio"]} if "attackers" in r else {})}
            for r in result["results"]
        ],
        "notes": notes[1:],
        "seconds": time.perf_counter() - t_start,
    }
    return SweepRun(out=Path(out), json_path=json_path, png_path=png_path, html_path=html_path,
                    summary=summary, warnings=caught)
