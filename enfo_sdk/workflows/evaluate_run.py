"""``enfo-owner evaluate``: a bundle (or a fresh forge) measured on the contract's data.

The owner's table is read and split exactly as :func:`enfo_sdk.workflows.forge_run.run_forge`
splits it (:mod:`.owner_data`), so the held-out rows were never used to forge. The figures are
those of :func:`enfo_sdk.evaluate.evaluate` (docs/metrics.md); the report is ``metrics.json``,
``report.html`` and PNG figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .common import Progress, context, data_inputs, encapsulate_contract, notify, report_meta, run_rows_curve
from .owner_data import load_owner_split

__all__ = ["EVALUATE_PHASES", "EvaluateRun", "run_evaluate"]

#: Phases reported to ``progress(phase, fraction)`` by :func:`run_evaluate`, in order
#: ("encapsulate" and "forge" only when no bundle is given).
EVALUATE_PHASES = ("encapsulate", "forge", "full", "bundle", "attackers", "baselines", "curve", "report")


@dataclass
class EvaluateRun:
    """What ``enfo-owner evaluate`` reports: the files written and the headline figures.

    Attributes
    ----------
    out, metrics_path, report_path : Path
        The folder, ``metrics.json`` and ``report.html``.
    figures : list of Path
        The PNG figures.
    rows : int
        Rows of the bundle evaluated.
    key_rmse : dict of str to float
        Key test RMSE trained on the full training rows, the bundle and each baseline.
    bundle_vs_full : float
        Relative change of the bundle's key RMSE against the full data's.
    best_attacker : str
        The attacker family with the lowest RMSE on the bundle.
    best_attacker_ratio : float
        Its RMSE over the key's (above 1: the key wins).
    external_change : float
        Relative change of the key's RMSE when outside rows are mixed into the bundle.
    mc_attack_accuracy : float
        Membership-inference (MCAA) accuracy.
    divergence : dict of str to float
        KL, JS and Wasserstein-1 between the bundle and the training rows.
    seconds : float
    warnings : list of str
    """

    out: Path
    metrics_path: Path
    report_path: Path
    figures: list[Path]
    rows: int
    key_rmse: dict[str, float]
    bundle_vs_full: float
    best_attacker: str
    best_attacker_ratio: float
    external_change: float
    mc_attack_accuracy: float
    divergence: dict[str, float]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The headline figures and files, JSON-ready (what ``--json`` prints)."""
        return {
            "out": str(self.out), "metrics": str(self.metrics_path), "report": str(self.report_path),
            "rows": self.rows, "key_rmse": dict(self.key_rmse), "bundle_vs_full": self.bundle_vs_full,
            "best_attacker": self.best_attacker, "best_attacker_ratio": self.best_attacker_ratio,
            "external_change": self.external_change, "mc_attack_accuracy": self.mc_attack_accuracy,
            "divergence": dict(self.divergence), "seconds": self.seconds,
        }

    @property
    def summary(self) -> dict[str, Any]:
        """:meth:`to_json` (the name of earlier versions)."""
        return self.to_json()


def run_evaluate(
    contract,
    *,
    out: str | Path,
    bundle: str | Path | None = None,
    sizes: Sequence[int] = (100, 500, 1000),
    seeds: int = 3,
    external_rows: int = 1000,
    baselines: Sequence[str] | None = None,
    attackers: Sequence[str] | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> EvaluateRun:
    """Evaluate a bundle (or a fresh forge) on the contract's data; write a report to ``out``.

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
    attackers : sequence of str, optional
        Attacker families to run on the bundle (default the whole zoo: :data:`enfo_sdk.evaluate.
        ZOO` for regression, :data:`enfo_sdk.evaluate.classification.CLASS_ZOO` for
        classification).
    progress : callable, optional
        ``progress(phase, fraction)`` with phase in :data:`EVALUATE_PHASES`.
    force : bool
        Replace report files that exist in ``out``; without it they stop the run before any
        work (as does a report file that is an input, a link or not a regular file).

    Returns
    -------
    EvaluateRun, or ClassificationEvaluateRun for a classification task
        (:mod:`enfo_sdk.workflows.evaluate_classify`: accuracy, balanced accuracy, log-loss,
        Brier and ROC AUC where a regression task reports RMSE).
    """
    from ..evaluate.report import REPORT_FILES
    from ..outputs import check_folder_outputs

    check_folder_outputs(out, REPORT_FILES, {**data_inputs(contract), "--bundle": bundle}, overwrite=force)
    t_start = time.perf_counter()
    caught: list[str] = []
    split = load_owner_split(contract, check_rows=bundle is None)  # streamed as forge streams it
    try:
        return _evaluate_split(contract, split, out=out, bundle=bundle, sizes=sizes, seeds=seeds,
                               external_rows=external_rows, baselines=baselines, attackers=attackers,
                               progress=progress, force=force, t_start=t_start, caught=caught)
    finally:
        split.close()


def _evaluate_split(contract, split, *, out, bundle, sizes, seeds, external_rows, baselines, attackers,
                    progress, force, t_start, caught):
    """:func:`run_evaluate` on the owner's rows as read and split (``split``)."""
    from ..bundle.rows import owner_bundle_rows
    from ..evaluate import BASELINES, evaluate, rows_curve
    from .forge_run import owner_signing_key
    from ..evaluate.baselines import baselines_note
    from ..evaluate.report import write_report
    from ..forge import forge

    notes = [f"Owner rows {split.how_split}; members = the training rows, non-members and test rows "
             f"= the held-out rows."]
    if split.task == "classification":  # accuracy and friends (workflows/evaluate_classify.py)
        from .evaluate_classify import evaluate_classification_task

        return evaluate_classification_task(
            contract, split, out=out, bundle=bundle, sizes=sizes, seeds=seeds, external_rows=external_rows,
            baselines=baselines, attackers=attackers, notes=notes, progress=progress, force=force,
            t_start=t_start)
    Xa_train, ya_train = split.train_arrays
    features, target = split.features, split.target
    history = None
    if bundle is not None:
        bundle = Path(bundle)
        with context(f"--bundle {bundle}"):
            manifest, rows = owner_bundle_rows(bundle, features, target,
                                               owner_key=lambda: owner_signing_key(contract))
        spec = manifest.key
        notes.append("Bundle manifest read without signature verification (the owner's own file); "
                     "rows checked against its content digest. No training curve (not stored in bundles).")
    else:
        notify(progress, "encapsulate", 0.0)
        spec = encapsulate_contract(contract, split.X_train, split.y_train, progress, caught,
                                    columns=split.columns)
        notify(progress, "forge", 0.0)
        with context(contract.where("forge")):
            settings = split.forge_settings(contract)  # as enfo-owner forge forges (a source: streamed)
            result = forge(*split.forge_rows(), spec, settings,
                           callback=lambda p: notify(progress, "forge", p.step / p.steps))
        from .forge_run import apply_dial  # forge's dial too (docs/metrics.md, "One protocol")

        result, dial = apply_dial(contract, split, result, settings)
        if dial is not None:
            notes.append(dial.message())
        notify(progress, "forge", 1.0)
        rows, history = result.data[[*features, target]], result.history
        notes.append("Bundle forged in this run from the contract (not signed, not written).")

    seed = contract.data.seed
    evaluation = evaluate(
        spec, Xa_train, ya_train, split.X_test, split.y_test, rows.to_numpy(np.float64),
        feature_names=features, target_name=target, external_rows=external_rows,
        baselines=BASELINES if baselines is None else tuple(baselines), seed=seed,
        **({} if attackers is None else {"attackers": tuple(attackers)}), progress=progress,
    )
    curve = run_rows_curve(rows_curve, contract, spec, split, Xa_train, ya_train, sizes=sizes, seeds=seeds,
                           external_rows=external_rows, progress=progress, notes=notes)
    notes.append(baselines_note(evaluation["baselines"]))
    notify(progress, "report", 0.0)
    body = {
        "meta": report_meta(contract, spec, notes, caught,
                            bundle=str(bundle) if bundle is not None else None),
        "evaluation": evaluation,
        "curve": curve,
        "history": history,
    }
    metrics_path, report_path, pngs = write_report(body, out, overwrite=force)
    notify(progress, "report", 1.0)
    b = evaluation["bundle"]
    return EvaluateRun(
        out=Path(out), metrics_path=metrics_path, report_path=report_path, figures=pngs,
        rows=b["rows"],
        key_rmse={"full": evaluation["full"]["key_rmse"], "bundle": b["key_rmse"],
                  **{n: m["key_rmse"] for n, m in evaluation["baselines"].items()}},
        bundle_vs_full=b["vs_full"], best_attacker=b["attackers"]["best"],
        best_attacker_ratio=b["attackers"]["best_ratio"], external_change=b["external"]["change"],
        mc_attack_accuracy=b["privacy"]["mc_attack"]["accuracy"],
        divergence={k: b["divergence"][k] for k in ("kl", "js", "wasserstein")},
        seconds=time.perf_counter() - t_start, warnings=caught,
    )
