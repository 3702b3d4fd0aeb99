"""``enfo-owner forge``: a contract end to end -- read, split, encapsulate, forge, evaluate, sign.

:func:`run_forge`
    1. check the signing key and the partner's public key (fail before the slow part);
    2. read the owner's table and hold out the seeded test split (:mod:`.owner_data`);
    3. *encapsulate*: choose the key's hyperparameters by CV on the training rows (or keep a
       previous bundle's key, ``--from``);
    4. *forge*: ``forge.rows`` synthetic rows for that key; with ``forge.rivalry.max_key_cost``
       the rival dial then moves their targets (:mod:`enfo_sdk.forging.dial`, scored on
       forging's validation split, never the test rows);
    5. *evaluate*: test RMSE of the key trained on all training rows, on the forged rows and
       on the same number of real training rows sampled at random (seeded), on the test rows of
       the one protocol (docs/metrics.md: the held-out rows less the outside rows, as
       ``evaluate`` scores them); then the rivalry check (:func:`enfo_sdk.evaluate.rivalry.
       rivalry_check`: a time-bounded attacker zoo tuned on the forged rows, bootstrap
       intervals, the outside-rows test);
    6. *write*: create the signing key at the default location if none was named and none
       exists, then the signed bundle and the optional JSON report, together (an interruption
       leaves neither).

Before step 1 the outputs are checked (:func:`check_forge_outputs`): a path that is an input
or another output, a link, not a regular file, or an existing file without ``force`` stops the
run before any work.

Progress is reported through ``progress(phase, fraction)`` with phase one of :data:`PHASES`.
"""

from __future__ import annotations

import getpass
import json
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._random import rng as make_rng
from ..errors import ConfigError, SigningError
from ..fs import write_files_atomic
from ..outputs import check_outputs
from .common import (
    Progress, collect_warnings, context, data_inputs, encapsulate_contract, key_summary, notify,
)
from .owner_data import OwnerSplit, load_owner_split

__all__ = ["PHASES", "ForgeRun", "FullReference", "apply_dial", "run_forge", "check_forge_outputs", "key_predictions"]

#: Most training rows the ``full`` reference trains the key on (a kernel key's fit holds an
#: n x n float64 matrix: 10,000 rows take 0.8 GB); above it a seeded sample, with a warning.
FULL_REFERENCE_MAX_ROWS = 10_000

#: Phases reported to ``progress(phase, fraction)`` by :func:`run_forge`, in order.
PHASES = ("encapsulate", "forge", "evaluate", "write")


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
        Owner rows used for encapsulation and forging, and held out (outside + test rows).
    rivalry : RivalryCheck or None
        The rivalry check (None when ``forge.rivalry.seconds`` is 0).
    dial : DialRecord or None
        What the rival dial chose (:mod:`enfo_sdk.forging.dial`; None when
        ``forge.rivalry.max_key_cost`` is not set).
    n_outside : int
        Held-out rows used as outside rows; the other ``n_test - n_outside`` are the test rows.
    seconds : dict
        Wall-clock seconds per phase and ``total``.
    signer : SignerInfo
    warnings : list of str
        Warnings raised on the way (e.g. a hyperparameter on the edge of its grid).
    report : Path or None
        The JSON report written, when the contract asks for one.
    """

    contract: Any
    bundle: Path
    manifest: Any
    result: Any
    spec: Any
    test_rmse: dict[str, float]
    n_train: int
    n_test: int
    seconds: dict[str, float]
    signer: Any
    warnings: list[str] = field(default_factory=list)
    report: Path | None = None
    classification: dict[str, Any] | None = None  # a classification run's summary (classify_run)
    rivalry: Any = None
    n_outside: int = 0
    dial: Any = None

    @property
    def rows(self) -> int:
        return len(self.result.data)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``enfo-owner forge --json`` prints)."""
        full, forged = self.test_rmse.get("full", 0.0), self.test_rmse.get("forged", 0.0)
        bundle_id = getattr(self.manifest, "bundle_id", None)
        return {
            "bundle": str(self.bundle),
            "bundle_id": str(bundle_id) if bundle_id is not None else None,
            "contract": str(self.contract.file) if self.contract.file else None,
            "rows": self.rows,
            "owner_rows": {"train": self.n_train, "held_out": self.n_test, "outside": self.n_outside,
                           "test": self.n_test - self.n_outside},
            "test_rmse": dict(self.test_rmse),
            "forged_vs_full": (forged / full - 1.0) if full > 0 else None,
            "key": key_summary(self.spec),
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
            "rivalry": self.rivalry.to_json() if self.rivalry is not None else None,
            "dial": self.dial.to_json() if self.dial is not None else None,
            "warnings": list(self.warnings),
            **(self.classification or {}),  # a classification run: its figures and the bundle's key
        }

    summary = to_json  # the name of earlier versions


class _Phases:
    """Times each phase and reports its start and end to ``progress``."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress, self.seconds, self.start = progress, {}, time.perf_counter()

    @contextmanager
    def phase(self, name: str):
        t = time.perf_counter()
        notify(self.progress, name, 0.0)
        yield lambda fraction: notify(self.progress, name, fraction)
        notify(self.progress, name, 1.0)
        self.seconds[name] = time.perf_counter() - t

    def total(self) -> dict[str, float]:
        self.seconds["total"] = time.perf_counter() - self.start
        return self.seconds


@dataclass
class _SigningPlan:
    path: Path
    key: Any  # loaded private key, or None when it must be created
    named: bool


def _plan_signing(contract) -> _SigningPlan:
    from .. import signing

    named = contract.signing.key is not None
    path = Path(contract.signing.key) if named else signing.default_key_path()
    where = contract.where("signing.key") if named else (
        f"signing key {path} (the default; set signing.key in "
        f"{contract.file or 'the contract'} or ${signing.OWNER_KEY_ENV})"
    )
    if not path.exists():
        if named:
            raise SigningError(f"{where}: no such file: {path}")
        return _SigningPlan(path=path, key=None, named=False)
    with context(where):
        key = signing.load_private_key(path, passphrase_env=contract.signing.passphrase_env)
    return _SigningPlan(path=path, key=key, named=named)


def owner_name(contract) -> str:
    """The contract's ``signing.owner``, else the login name (``owner`` where there is none)."""
    if contract.signing.owner:
        return contract.signing.owner
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "owner"


def run_forge(
    contract,
    *,
    progress: Progress | None = None,
    resume: bool = False,
    from_bundle: str | Path | None = None,
    trust: Sequence[str | Path] = (),
    spec=None,
    force: bool = False,
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
    spec : KeySpec, optional
        Forge for this key (a consortium's agreed key, docs/consortium.md): encapsulation is
        skipped and the owner's table is encoded with ``spec.columns``; ``key.algorithm`` must
        match. Not with ``from_bundle``.
    force : bool
        Replace outputs that exist (as ``output.overwrite: true`` does). Without it an existing
        bundle, report or checkpoint (the last except with ``resume``) stops the run at once.

    Returns
    -------
    ForgeRun

    Raises
    ------
    EnfoError
        ConfigError, DataError, SigningError, HyperparameterError, ForgeError, OutputError, ...;
        each message names the contract file and key path, or the data file and column.
    """
    from .. import signing
    from ..forge import forge

    overwrite = bool(force or contract.output.overwrite)
    checkpoint = contract.output.checkpoint
    if checkpoint is None and resume:
        checkpoint = str(contract.output.bundle) + ".checkpoint.npz"
    outputs = check_forge_outputs(contract, checkpoint=checkpoint, resume=resume,
                                  from_bundle=from_bundle, trust=trust, overwrite=overwrite)
    phases = _Phases(progress)
    caught: list[str] = []
    plan = _plan_signing(contract)
    partner = contract.partner
    partner_key = None
    if partner is not None and partner.public_key is not None:
        with context(contract.where("partner.public_key")):
            partner_key = signing.load_public_key(partner.public_key)
    previous = None if from_bundle is None else _previous_bundle(contract, plan, Path(from_bundle), trust)
    if spec is not None and previous is not None:
        raise ConfigError("forge for an agreed key spec or update a previous bundle, not both")
    if spec is not None and spec.algorithm != contract.key.algorithm:
        raise ConfigError(f"{contract.where('key.algorithm')}: {contract.key.algorithm!r} but the agreed "
                          f"key spec is {spec.algorithm!r}")

    split = load_owner_split(contract, columns=None if spec is None else spec.columns)

    with phases.phase("encapsulate"):
        init_rows = None
        if previous is not None:  # an update keeps the previous bundle's key
            spec, init_rows = _check_previous(contract, previous, split)
        elif spec is None:
            spec = encapsulate_contract(contract, split.X_train, split.y_train, progress, caught,
                                    columns=split.columns)
        extra: dict[str, Any] = {}
        if checkpoint is not None:
            extra.update(checkpoint=Path(checkpoint), resume=bool(resume))

    classification, rivalry, outside, reference = None, None, (), None
    if split.task != "classification":
        outside, test = split.holdout_roles(contract.data.seed)
        with collect_warnings(caught):  # the key on all training rows, fitted while forging runs
            reference = FullReference.start(spec, split, contract.data.seed, test)
    try:
        with phases.phase("forge") as report:
            settings = split.forge_settings(contract, **extra)
            with collect_warnings(caught), context(contract.where("forge")):
                result = forge(*split.forge_rows(), spec, settings,
                               callback=lambda p: report(p.step / p.steps), init_rows=init_rows)
            result, dial = apply_dial(contract, split, result, settings)

        with phases.phase("evaluate") as report:
            if split.task == "classification":  # accuracy and friends (workflows/classify_run.py)
                from .classify_run import evaluate_classification, summary_fields

                result, test = evaluate_classification(contract, spec, split, result, report)
                classification, test_rmse = summary_fields(test, result, split.task_note), {}
            else:
                result, hardened = _harden(contract, spec, result, split, test)
                test_rmse, preds = _test_rmse(spec, split, result, contract.data.seed, test, report,
                                              reference)
                if hardened is not None:
                    test_rmse["forged_soft"] = hardened
                rivalry = _rivalry(contract, spec, split, result, outside, test, preds)
    finally:
        if reference is not None:
            reference.close(wait=False)  # done by now unless the run failed
    split.close()

    with phases.phase("write"):
        signer, key = _signer(contract, plan)
        bundle = Path(contract.output.bundle)
        manifest, data = _bundle_bytes(contract, bundle, result, key, partner_key, test_rmse, classification)
    run = ForgeRun(
        contract=contract, bundle=bundle, manifest=manifest, result=result, spec=spec,
        test_rmse=test_rmse, n_train=split.n_train, n_test=split.n_test,
        seconds=phases.total(), signer=signer, warnings=caught, classification=classification,
        rivalry=rivalry, n_outside=len(outside), dial=dial,
    )
    files = {outputs[contract.where("output.bundle")]: data}
    if contract.output.report is not None:
        run.report = Path(contract.output.report)
        files[outputs[contract.where("output.report")]] = _report_bytes(run)
    write_files_atomic(files, overwrite=overwrite)  # together, at the end, or not at all
    return run


def check_forge_outputs(contract, *, checkpoint: str | Path | None = None, resume: bool = False,
                        from_bundle: str | Path | None = None, trust: Sequence[str | Path] = (),
                        overwrite: bool = False) -> dict[str, Path]:
    """Refuse the contract's outputs (bundle, report, checkpoint) before any work when one is an
    input (data source, contract, keys, ``--from``, ``--trust``) or another output, a link or
    not a regular file, or exists without ``overwrite`` (:func:`enfo_sdk.outputs.check_outputs`).
    An existing checkpoint is expected with ``resume``. Returns the outputs by label."""
    from ..signing import default_key_path

    key = Path(contract.signing.key) if contract.signing.key else default_key_path()
    inputs: dict[str, Any] = {
        **data_inputs(contract),
        contract.where("signing.key"): key,
        f"{contract.where('signing.key')} (public half)": Path(str(key) + ".pub"),
        contract.where("partner.public_key"): contract.partner.public_key if contract.partner else None,
        "--from": from_bundle,
    }
    inputs.update({f"--trust #{i + 1}": p for i, p in enumerate(trust)})
    where_ckpt = contract.where("output.checkpoint")
    outputs = {
        contract.where("output.bundle"): contract.output.bundle,
        contract.where("output.report"): contract.output.report,
        where_ckpt: checkpoint,
    }
    return check_outputs(outputs, inputs, overwrite=overwrite, replaceable=(where_ckpt,) if resume else (),
                         hint=f"pass --force (or set output.overwrite: true in "
                              f"{contract.file or 'the contract'}) to replace it")


def _harden(contract, spec, result, split: OwnerSplit, test):
    """The rows made into records where the contract asks (``hard`` categoricals, ``forge.
    round_integers``), and the key's RMSE on the held-out rows ``test`` (the protocol's test
    rows) of the rows before (None when nothing changed)."""
    import dataclasses

    from ..evaluate.utility import key_rmse
    from ..forging.params import harden

    cols = spec.columns
    if cols is None or not (cols.hard_groups() or contract.forge.round_integers):
        return result, None
    data, changed = harden(result.data, cols, integers=contract.forge.round_integers)
    if not changed:
        return result, None
    before = key_rmse(spec, result.X, result.y, split.X_test[test], split.y_test[test])
    settings = {**result.settings, "hardened": ",".join(changed)}
    return dataclasses.replace(result, data=data, settings=settings), before


class FullReference:
    """The key trained on all the owner's training rows (at most :data:`FULL_REFERENCE_MAX_ROWS`,
    a seeded sample above, with a warning) and its predictions on the protocol's test rows:
    the ``full`` figure, the slowest single fit of a forge run.

    :meth:`start` fits it on a background thread, so it runs on a core the forging loop leaves
    idle (forging small bundles uses one torch thread, :meth:`ForgeSettings.torch_threads`);
    :meth:`predictions` waits for it. From :meth:`start` until :meth:`close` numpy's BLAS is
    held to one thread in the whole process, so the two threads do not compete and every
    numpy product in that window (the fit, forging's) has the same thread count whenever the
    fit ends. The fit is the same float64 computation as in the foreground. An exception in
    the fit is raised by :meth:`predictions`; an interrupted run leaves the daemon thread to
    die with the process.
    """

    def __init__(self, spec, X, y, X_test) -> None:
        self._args = (spec, X, y, X_test)
        self._pred = self._error = None
        self._thread = self._limits = None

    @property
    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The training rows the reference is fitted on (a seeded sample on large tables)."""
        return self._args[1], self._args[2]

    @classmethod
    def start(cls, spec, split: OwnerSplit, seed: int, test) -> FullReference:
        import threading

        from threadpoolctl import threadpool_limits

        Xa, ya = split.train_arrays
        if len(ya) > FULL_REFERENCE_MAX_ROWS:  # a kernel key's fit holds an n x n matrix
            keep = np.sort(make_rng(seed).choice(len(ya), FULL_REFERENCE_MAX_ROWS, replace=False))
            warnings.warn(
                f"the 'full' reference is the key trained on {FULL_REFERENCE_MAX_ROWS:,} of the "
                f"{len(ya):,} training rows (seeded sample): all of them would need "
                f"{8 * len(ya) ** 2 / 2**30:,.0f} GiB for a kernel key", stacklevel=2)
            Xa, ya = Xa[keep], ya[keep]
        ref = cls(spec, Xa, ya, split.X_test[test])
        ref._limits = threadpool_limits(limits=1, user_api="blas")
        ref._thread = threading.Thread(target=ref._run, name="enfo-full-reference", daemon=True)
        ref._thread.start()
        return ref

    def _run(self) -> None:
        try:
            self._pred = key_predictions(*self._args)
        except BaseException as e:  # re-raised in the caller's thread by predictions()
            self._error = e

    def predictions(self) -> np.ndarray:
        """The key's predictions on the test rows (waits for the fit to finish)."""
        self.close()
        if self._error is not None:
            raise self._error
        if self._pred is None:  # never started: fit here
            self._pred = key_predictions(*self._args)
        return self._pred

    def close(self, wait: bool = True) -> None:
        """Wait for the fit (unless not ``wait``: a run that failed or was interrupted leaves
        it to die with the process) and give numpy's BLAS its threads back (idempotent)."""
        if self._thread is not None and wait:
            self._thread.join()
        self._thread = None
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


def key_predictions(spec, X_train, y_train, X_test) -> np.ndarray:
    """The key ``spec`` trained on (X_train, y_train), predicting ``X_test`` (float64)."""
    from ..evaluate.utility import predict_blocks

    model = spec.build().fit(np.asarray(X_train, np.float64), np.asarray(y_train, np.float64))
    return predict_blocks(model, X_test)


def _rmse(pred, y) -> float:
    r = np.asarray(pred, np.float64) - np.asarray(y, np.float64)
    return float(np.sqrt(np.mean(r * r)))


def _test_rmse(spec, split: OwnerSplit, result, seed: int, test, report, reference: FullReference):
    """Test RMSE of the key on all training rows (``reference``), on the forged rows, and on as
    many sampled rows, on the held-out rows ``test`` (the protocol's test rows); and the first
    two's predictions, which the rivalry check reuses."""
    Xa, ya = reference.rows
    Xt, yt = split.X_test[test], split.y_test[test]
    preds = {"full": reference.predictions()}
    report(1 / 4)
    preds["forged"] = key_predictions(spec, result.X, result.y, Xt)
    report(2 / 4)
    sample = make_rng(seed).choice(len(ya), len(result.data), replace=False)
    preds["sampled"] = key_predictions(spec, Xa[sample], ya[sample], Xt)
    report(3 / 4)
    return {k: _rmse(p, yt) for k, p in preds.items()}, preds


def apply_dial(contract, split: OwnerSplit, result, settings):
    """The rival dial on the forged rows (:func:`enfo_sdk.forging.dial.calibrate`), scored on
    forging's own validation split; ``(result, None)`` when ``forge.rivalry.max_key_cost`` is
    not set."""
    from ..forging.dial import calibrate

    r = contract.forge.rivalry
    if r.max_key_cost is None:
        return result, None
    X, y = split.forge_rows()
    with context(contract.where("forge.rivalry.max_key_cost")):
        return calibrate(result, X, y, target=r.target, max_key_cost=r.max_key_cost,
                         validation=settings.validation, seed=settings.seed, seconds=r.seconds)


def _rivalry(contract, spec, split: OwnerSplit, result, outside, test, preds):
    """The rivalry check on the forged rows (None when ``forge.rivalry.seconds`` is 0)."""
    from ..evaluate.rivalry import rivalry_check

    r = contract.forge.rivalry
    if r.seconds <= 0:
        return None
    return rivalry_check(
        spec, result.X, result.y, split.X_test[test], split.y_test[test],
        X_outside=split.X_test[outside], y_outside=split.y_test[outside], seconds=r.seconds,
        target=r.target, seed=contract.data.seed, pred_key=preds["forged"], pred_full=preds["full"],
    )


def _signer(contract, plan: _SigningPlan):
    """The signer and its private key: the named or default key, created when there is none."""
    from .. import signing

    env = contract.signing.passphrase_env
    if plan.key is None:
        signer = signing.create_signing_key(plan.path, comment=owner_name(contract), passphrase_env=env)
        return signer, signing.load_private_key(signer.key_path, passphrase_env=env)
    return signing.SignerInfo.of(plan.key, plan.path), plan.key


def _bundle_bytes(contract, bundle: Path, result, key, partner_key, test_rmse: dict[str, float],
                  classification: dict[str, Any] | None = None):
    from ..bundle.write import signed_bundle_bytes

    partner = contract.partner
    if classification is not None:
        from .classify_run import bundle_metrics

        metrics = bundle_metrics(classification["test"], result)
    else:
        metrics = {
            "test_rmse_full": test_rmse["full"],
            "test_rmse_forged": test_rmse["forged"],
            "test_rmse_sampled": test_rmse["sampled"],
            "best_val_rmse": float(result.metrics["best_val_rmse"]),
        }
    with context(contract.where("output.bundle")):
        return signed_bundle_bytes(
            result, where=str(bundle), signing_key=key, owner_name=owner_name(contract),
            partner_name=partner.name if partner else None,
            partner_public_key=partner_key,
            expires_in_days=partner.expires_in_days if partner else None,
            metrics=metrics,
        )


def _previous_bundle(contract, plan: _SigningPlan, path: Path, trust: Sequence[str | Path]):
    """Verify the bundle an update starts from: against ``trust`` or the owner's own key."""
    from ..bundle import verify
    from ..signing import TrustStore
    from .partner_steps import load_trust_files

    if trust:
        store = load_trust_files(trust)
    elif plan.key is not None:
        store = TrustStore()
        store.add(owner_name(contract), plan.key.public_key())
    else:
        raise ConfigError(
            f"--from {path}: no key to verify it with; name the owner's public key with --trust "
            f"or set signing.key ({contract.where('signing.key')})"
        )
    return verify(path, store)


def _check_previous(contract, previous, split: OwnerSplit):
    """The previous bundle's KeySpec and rows, after checking they fit this contract."""
    spec = previous.manifest.key
    features, target = split.features, split.target
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


def _report_bytes(run: ForgeRun) -> bytes:
    body = run.to_json()
    body["history"] = run.result.history.replace({np.nan: None}).to_dict(orient="records")
    body["settings"] = run.result.settings
    return (json.dumps(body, indent=2) + "\n").encode()
