"""``enfo-owner evaluate`` for a classification task: the bundle (or a fresh forge) measured.

:func:`enfo_sdk.workflows.evaluate_run.run_evaluate` hands a classification task here after
reading and splitting the owner's table. The figures are those of
:func:`enfo_sdk.evaluate.classify_core.evaluate_classification` (docs/metrics.md,
"Classification"), on the test rows of the one protocol, so the key's accuracy and log-loss on
all training rows, on the bundle and on sampled rows equal the ones ``enfo-owner forge``
published in the bundle's manifest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .common import Progress, context, encapsulate_contract, notify, report_meta, run_rows_curve

__all__ = ["ClassificationEvaluateRun", "evaluate_classification_task"]


@dataclass
class ClassificationEvaluateRun:
    """What ``enfo-owner evaluate`` reports for a classification task.

    Attributes
    ----------
    out, metrics_path, report_path : Path
    figures : list of Path
    rows : int
    classes : list of str
    key : dict of str to dict
        The key's test accuracy and log-loss trained on ``full`` (all training rows),
        ``bundle`` and each baseline.
    bundle_vs_full : float
        Bundle accuracy minus full-data accuracy (fraction; -0.01 is one point lower).
    best_attacker : str or None
    best_attacker_accuracy, best_attacker_log_loss : float or None
    external_accuracy_change : float or None
        Key accuracy on bundle + outside rows minus on the bundle alone.
    mc_attack_accuracy : float
    divergence : dict of str to float
    seconds : float
    warnings : list of str
    """

    out: Path
    metrics_path: Path
    report_path: Path
    figures: list[Path]
    rows: int
    classes: list[str]
    key: dict[str, dict[str, float]]
    bundle_vs_full: float
    best_attacker: str | None
    best_attacker_accuracy: float | None
    best_attacker_log_loss: float | None
    external_accuracy_change: float | None
    mc_attack_accuracy: float
    divergence: dict[str, float]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The headline figures and files, JSON-ready (what ``--json`` prints)."""
        return {
            "out": str(self.out), "metrics": str(self.metrics_path), "report": str(self.report_path),
            "task": "classification", "rows": self.rows, "classes": list(self.classes),
            "key": {k: dict(v) for k, v in self.key.items()}, "bundle_vs_full": self.bundle_vs_full,
            "best_attacker": self.best_attacker, "best_attacker_accuracy": self.best_attacker_accuracy,
            "best_attacker_log_loss": self.best_attacker_log_loss,
            "external_accuracy_change": self.external_accuracy_change,
            "mc_attack_accuracy": self.mc_attack_accuracy, "divergence": dict(self.divergence),
            "seconds": self.seconds,
        }

    summary = to_json


def _bundle_keys(manifest, notes: list[str]):
    """The bundle's key and the reference key (the encapsulated temperature the forge run used
    for the full and sampled figures, which the manifest records)."""
    spec = manifest.key
    tau = (manifest.metrics or {}).get("temperature_encapsulated")
    if tau is None:
        notes.append("The manifest does not record the encapsulated temperature (a bundle forged before it "
                     "was published): all training rows and the baselines are scored with the bundle's.")
        return spec, spec
    return spec, spec.with_temperature(float(tau))


def evaluate_classification_task(contract, split, *, out, bundle, sizes: Sequence[int], seeds: int,
                                 external_rows: int, baselines: Sequence[str] | None,
                                 attackers: Sequence[str] | None, notes: list[str],
                                 progress: Progress | None, force: bool, t_start: float) -> ClassificationEvaluateRun:
    """The body of :func:`~enfo_sdk.workflows.evaluate_run.run_evaluate` for a classification task."""
    from ..bundle.rows import owner_bundle_rows
    from .forge_run import owner_signing_key
    from ..evaluate import BASELINES
    from ..evaluate.baselines import baselines_note
    from ..evaluate.classification import CLASS_ZOO
    from ..evaluate.classify_core import evaluate_classification, rows_curve_classification
    from ..evaluate.report import write_report
    from ..forge import forge
    from .classify_run import harden_labels
    from .common import collect_warnings

    caught: list[str] = []
    Xa, ya = split.train_arrays
    features, target = split.features, split.target
    classes = list(split.columns.target.classes)
    label_columns = [f"{target}={c}" for c in classes]
    history = None
    notes.append(split.task_note)
    if bundle is not None:
        bundle = Path(bundle)
        with context(f"--bundle {bundle}"):
            manifest, rows = owner_bundle_rows(bundle, features, target,
                                               owner_key=lambda: owner_signing_key(contract))
        spec, reference = _bundle_keys(manifest, notes)
        Xb, Yb = rows[features].to_numpy(np.float64), rows[label_columns].to_numpy(np.float64)
        notes.append("Bundle manifest read without signature verification (the owner's own file); "
                     "rows checked against its content digest. No training curve (not stored in bundles).")
    else:
        notify(progress, "encapsulate", 0.0)
        reference = encapsulate_contract(contract, split.X_train, split.y_train, progress, caught,
                                         columns=split.columns)
        notify(progress, "forge", 0.0)
        with collect_warnings(caught), context(contract.where("forge")):
            result = forge(*split.forge_rows(), reference, split.forge_settings(contract),
                           callback=lambda p: notify(progress, "forge", p.step / p.steps))
        if contract.forge.hard_labels:
            result = harden_labels(result)
        notify(progress, "forge", 1.0)
        spec, Xb, Yb, history = result.spec, result.X, np.asarray(result.y, np.float64), result.history
        notes.append("Bundle forged in this run from the contract (not signed, not written).")
    notes.append("The bundle is scored with its own key; all training rows and the baselines with the "
                 "encapsulated key (the temperature the manifest records), as enfo-owner forge scores them.")
    seed = contract.data.seed
    evaluation = evaluate_classification(
        spec, Xa, ya, split.X_test, split.y_test, Xb, Yb, reference=reference, feature_names=features,
        label_names=classes, external_rows=external_rows,
        baselines=BASELINES if baselines is None else tuple(baselines),
        attackers=CLASS_ZOO if attackers is None else tuple(attackers), seed=seed, progress=progress,
    )
    curve = run_rows_curve(rows_curve_classification, contract, reference, split, Xa, ya, sizes=sizes, seeds=seeds,
                           external_rows=external_rows, progress=progress, notes=notes)
    notes.append(baselines_note(evaluation["baselines"]))
    notify(progress, "report", 0.0)
    body = {
        "meta": report_meta(contract, spec, notes, caught, bundle=str(bundle) if bundle is not None else None),
        "evaluation": evaluation, "curve": curve, "history": history,
    }
    metrics_path, report_path, pngs = write_report(body, out, overwrite=force)
    notify(progress, "report", 1.0)
    b = evaluation["bundle"]
    zoo = b.get("attackers")

    def brief(m):
        return {"accuracy": m["accuracy"], "log_loss": m["log_loss"]}

    return ClassificationEvaluateRun(
        out=Path(out), metrics_path=metrics_path, report_path=report_path, figures=pngs, rows=b["rows"],
        classes=classes,
        key={"full": brief(evaluation["full"]["key"]), "bundle": brief(b["key"]),
             **{n: brief(m["key"]) for n, m in evaluation["baselines"].items()}},
        bundle_vs_full=b["vs_full"]["accuracy"],
        best_attacker=zoo["best"] if zoo else None,
        best_attacker_accuracy=zoo["best_accuracy"] if zoo else None,
        best_attacker_log_loss=zoo["best_log_loss"] if zoo else None,
        external_accuracy_change=b["external"]["accuracy_change"] if "external" in b else None,
        mc_attack_accuracy=b["privacy"]["mc_attack"]["accuracy"],
        divergence={k: b["divergence"][k] for k in ("kl", "js", "wasserstein")},
        seconds=time.perf_counter() - t_start, warnings=caught,
    )
