"""``enfo-owner forge``: a contract end to end -- read, split, encapsulate, forge, evaluate, sign.

:func:`run_forge`
    1. check the signing key and the partner's public key (fail before the slow part);
    2. read the owner's table and hold out the seeded test split (:mod:`.owner_data`);
    3. *encapsulate*: choose the key's hyperparameters by CV on the training rows (or keep a
       previous bundle's key, ``--from``);
    4. *forge*: ``forge.rows`` synthetic rows for that key; with ``forge.rivalry.max_key_cost``
       the rival dial then keeps the most rival candidate rows within the key-cost budget
       (:mod:`enfo_sdk.forging.calibration`, scored on forging's validation split, never the
       test rows; its own phase ``dial`` in the time line, present only when it runs);
    5. *evaluate* by the one protocol (:mod:`.protocol`, docs/metrics.md): test RMSE of the key
       trained on all training rows, on the
       forged rows and on the same number of real training rows sampled at random (seeded), on
       the held-out rows less the outside rows, as ``evaluate`` scores them; the rivalry check
       (a time-bounded attacker zoo tuned on the forged rows, bootstrap intervals, the
       outside-rows test) and the membership attack; all of it goes into the manifest as the
       signed rivalry record;
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
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, SigningError
from ..fs import write_files_atomic
from ..outputs import check_outputs
from ..report_table import FORGE_PHASES
from .common import (
    Progress, collect_warnings, context, data_inputs, encapsulate_contract, key_summary, notify,
)
from .owner_data import OwnerSplit, load_owner_split
from .protocol import classification_record, measure_forged, protocol_rows

__all__ = ["PHASES", "ForgeRun", "apply_dial", "dial_runs", "run_forge", "check_forge_outputs"]

#: Phases reported to ``progress(phase, fraction)`` by :func:`run_forge`, in order (``dial`` only
#: when the rival dial runs); the forge table's time line lists them in the same order.
PHASES = FORGE_PHASES


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
    record : RivalryRecord
        The figures signed into the manifest (``manifest.rivalry``).
    dial : DialRecord or None
        What the rival dial chose (:mod:`enfo_sdk.forging.calibration`; None when it did not
        run, ``forge.rivalry.dial``).
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
    record: Any = None  # the signed RivalryRecord (enfo_sdk.bundle.record)
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
            } | {  # what the polish did, when it ran (docs/keys.md, "The targets' polish"): either kind
                k: v for k, v in self.result.metrics.items() if k.startswith("polish_")
            },
            "seconds": dict(self.seconds),
            "signer": {
                "fingerprint": self.signer.fingerprint,
                "key": str(self.signer.key_path),
                "public_key": str(self.signer.public_key_path) if self.signer.public_key_path else None,
                "created": self.signer.created,
            },
            "report": str(self.report) if self.report else None,
            "sealed_to": self.manifest.sealed.partners if getattr(self.manifest, "sealed", None) else [],
            "rivalry": self.rivalry.to_json() if self.rivalry is not None else None,
            "record": self.record.model_dump(mode="json") if self.record is not None else None,  # as signed
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


def owner_signing_key(contract):
    """The contract's signing key (``signing.key`` or the default), loaded; None when there is none."""
    return _plan_signing(contract).key


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
    seal_to = None
    if contract.output.seal_to is not None:  # read before any work: a bad file stops the run at once
        from ..sealing import load_sealing_public_key

        with context(contract.where("output.seal_to")):
            seal_to = load_sealing_public_key(contract.output.seal_to)
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

    classification, rivalry, outside = None, None, ()
    if split.task != "classification":
        with collect_warnings(caught):  # the held-out roles and the full reference's rows (a warning above the cap)
            rows = protocol_rows(contract, split)
        outside = rows.outside
    with phases.phase("forge") as report:
        settings = split.forge_settings(contract, **extra)
        with collect_warnings(caught), context(contract.where("forge")):
            result = forge(*split.forge_rows(), spec, settings,
                           callback=lambda p: report(p.step / p.steps), init_rows=init_rows)
    dial = None
    if dial_runs(contract, split, settings):  # its own phase: a few attacker runs (docs/keys.md)
        with phases.phase("dial"):
            result, dial = apply_dial(contract, split, result, settings)

    with phases.phase("evaluate") as report:
        if split.task == "classification":  # accuracy and friends (workflows/classify_run.py)
            from .classify_run import evaluate_classification, summary_fields

            outside, test_rows = split.holdout_roles(contract.data.seed)  # the one protocol's test rows
            result, test = evaluate_classification(contract, spec, split, result, report, test_rows)
            classification, test_rmse = summary_fields(test, result, split.task_note), {}
            record = classification_record(contract, split, test, len(result.data),
                                           outside_rows=len(outside), test_rows=len(test_rows))
        else:
            measured = measure_forged(contract, spec, split, rows, result, report)
            result, test_rmse, record = measured.result, measured.test_rmse, measured.record
            if contract.forge.rivalry.seconds > 0:
                rivalry = measured.rivalry
    split.close()

    with phases.phase("write"):
        signer, key = _signer(contract, plan)
        bundle = Path(contract.output.bundle)
        manifest, data = _bundle_bytes(contract, bundle, result, key, partner_key, test_rmse, classification,
                                       record, seal_to=seal_to)
    run = ForgeRun(
        contract=contract, bundle=bundle, manifest=manifest, result=result, spec=spec,
        test_rmse=test_rmse, n_train=split.n_train, n_test=split.n_test,
        seconds=phases.total(), signer=signer, warnings=caught, classification=classification,
        rivalry=rivalry, n_outside=len(outside), record=record, dial=dial,
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
        contract.where("output.seal_to"): contract.output.seal_to,
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


def dial_runs(contract, split: OwnerSplit, settings) -> bool:
    """Whether the rival dial runs on this contract's forged rows
    (:func:`enfo_sdk.forging.calibration.dial_applies`, ``forge.rivalry.dial``)."""
    from ..forging.calibration import dial_applies

    r = contract.forge.rivalry
    return dial_applies("on" if r.explicit_dial else r.dial, settings, split.task, split.forge_rows()[1],
                        seconds=r.seconds)


def apply_dial(contract, split: OwnerSplit, result, settings):
    """The rival dial on the forged rows (:func:`enfo_sdk.forging.calibration.calibrate`), scored on
    forging's own validation split; ``(result, None)`` when it does not run (:func:`dial_runs`)."""
    from ..forging.calibration import DEFAULT_MAX_KEY_COST, calibrate

    r = contract.forge.rivalry
    X, y = split.forge_rows()
    if not dial_runs(contract, split, settings):
        return result, None
    where = "forge.rivalry.max_key_cost" if r.max_key_cost is not None else "forge.rivalry.dial"
    with context(contract.where(where)):
        return calibrate(result, X, y, target=r.target, max_key_cost=r.max_key_cost or DEFAULT_MAX_KEY_COST,
                         validation=settings.validation, seed=settings.seed, seconds=r.seconds,
                         stop_at_target=not r.explicit_dial)


def _signer(contract, plan: _SigningPlan):
    """The signer and its private key: the named or default key, created when there is none."""
    from .. import signing

    env = contract.signing.passphrase_env
    if plan.key is None:
        signer = signing.create_signing_key(plan.path, comment=owner_name(contract), passphrase_env=env)
        return signer, signing.load_private_key(signer.key_path, passphrase_env=env)
    return signing.SignerInfo.of(plan.key, plan.path), plan.key


def _bundle_bytes(contract, bundle: Path, result, key, partner_key, test_rmse: dict[str, float],
                  classification: dict[str, Any] | None = None, record=None, seal_to=None):
    from ..bundle.write import signed_bundle_bytes
    from ..signing import parse_expiry

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
            expires_at=parse_expiry(partner.expires_at) if partner and partner.expires_at else None,
            metrics=metrics, rivalry=record, seal_to=seal_to,
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
    return verify(path, store, sealing_key=plan.key)  # a key sealed to a partner opens with the owner's copy


def _check_previous(contract, previous, split: OwnerSplit):
    """The previous bundle's KeySpec and rows, after checking they fit this contract."""
    if not previous.opened:
        raise ConfigError(f"--from {previous.path}: its key is sealed to partner {', '.join(previous.sealed_to)}; "
                          f"the owner opens it with the signing key that signed it ({contract.where('signing.key')})")
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
