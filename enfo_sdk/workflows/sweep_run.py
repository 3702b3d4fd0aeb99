"""``enfo-owner evaluate --sweep``: one bundle per value of a forging weight, measured.

The owner's table is read and split as the other workflows do (:mod:`.owner_data`), the key
is encapsulated once, then :func:`enfo_sdk.evaluate.sweep.sweep` forges with the contract's
``forge`` settings, the weight set to each value in turn and ``forge.mode`` replaced by the
mode the weight belongs to (a note in ``sweep.json`` says so when the contract named another).

Every bundle is made and measured as ``enfo-owner forge`` makes and measures its own (the one
protocol, :mod:`.protocol`): the same forging call and settings, the same hardening
(``round_integers``, hard categoricals), the same ``full`` reference rows, outside and test
rows, and with ``--attackers`` the same attackers (the fast zoo within
``forge.rivalry.seconds``). So the value equal to the contract's gives forge's figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import Progress, collect_warnings, context, data_inputs, encapsulate_contract, notify, report_meta
from .owner_data import load_owner_split
from .protocol import harden, protocol_rows

__all__ = ["SWEEP_PHASES", "SweepRun", "run_sweep"]

#: Phases reported to ``progress(phase, fraction)`` by :func:`run_sweep`, in order.
SWEEP_PHASES = ("encapsulate", "sweep", "report")


@dataclass
class SweepRun:
    """What ``enfo-owner evaluate --sweep`` reports: the files written and the figures per value.

    Attributes
    ----------
    out, json_path, png_path, html_path : Path
    param, mode : str
        The weight swept and the forging mode it weights.
    rows : int
    split : dict
        How the held-out rows were divided (own rows, test rows).
    key_rmse : dict of str to float
        The key on the full training rows and on the partner's own rows alone (empty for a
        classification task).
    key_accuracy : dict of str to float or None
        A classification task's: the key's test accuracy on the same two.
    results : list of dict
        Per value: key RMSE, the partner's augmentation gain, divergences (and the best
        attacker's ratio when measured).
    notes : list of str
    seconds : float
    warnings : list of str
    """

    out: Path
    json_path: Path
    png_path: Path
    html_path: Path
    param: str
    mode: str
    rows: int
    split: dict[str, Any]
    key_rmse: dict[str, float]
    results: list[dict[str, Any]]
    notes: list[str]
    seconds: float
    warnings: list[str] = field(default_factory=list)
    key_accuracy: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        """The files and figures, JSON-ready (what ``--json`` prints)."""
        return {
            "out": str(self.out), "json": str(self.json_path), "figure": str(self.png_path),
            "report": str(self.html_path), "param": self.param, "mode": self.mode,
            "rows": self.rows, "split": self.split, "key_rmse": dict(self.key_rmse),
            **({"task": "classification", "key_accuracy": dict(self.key_accuracy)} if self.key_accuracy else {}),
            "results": list(self.results), "notes": list(self.notes), "seconds": self.seconds,
        }

    @property
    def summary(self) -> dict[str, Any]:
        """:meth:`to_json` (the name of earlier versions)."""
        return self.to_json()


def run_sweep(
    contract,
    *,
    out: str | Path,
    param: str,
    values: Sequence[float],
    own_rows: int = 1000,
    attackers: bool = False,
    progress: Progress | None = None,
    force: bool = False,
) -> SweepRun:
    """Forge one bundle per value of a forging weight; write ``sweep.json``, ``.png``, ``.html``.

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
        same number, they are the outside rows of the evaluation's external-rivalry test.
    attackers : bool
        Also run the attacker zoo on every bundle (slow).
    progress : callable, optional
        ``progress(phase, fraction)`` with phase in :data:`SWEEP_PHASES`.
    force : bool
        Replace ``sweep.*`` files that exist in ``out``; without it they stop the run at once.

    Returns
    -------
    SweepRun
    """
    from ..evaluate.sweep import SWEEP_FILES, check_sweep
    from ..outputs import check_folder_outputs

    check_folder_outputs(out, SWEEP_FILES, data_inputs(contract), overwrite=force)
    t_start = time.perf_counter()
    vals = check_sweep(param, values, min_values=2)
    caught: list[str] = []
    split = load_owner_split(contract)  # streamed as forge streams it (data.stream)
    try:
        return _sweep_split(contract, split, out=out, param=param, vals=vals, own_rows=own_rows,
                            attackers=attackers, progress=progress, t_start=t_start, caught=caught)
    finally:
        split.close()


def _sweep_split(contract, split, *, out, param, vals, own_rows, attackers, progress, t_start, caught) -> SweepRun:
    """:func:`run_sweep` on the owner's rows as read and split (``split``)."""
    from ..evaluate.core import OUTSIDE_ROWS
    from ..evaluate.sweep import MODE_OF, sweep, write_sweep
    from ..forging.settings import ForgeSettings

    classify = split.task == "classification"
    Xa_train, ya_train = split.train_arrays
    mode = MODE_OF[param]
    kw = contract.forge.forge_kwargs()
    kw.setdefault("seed", ForgeSettings().seed)
    notes = [f"Owner rows {split.how_split}; divergences against the training rows; own rows and test "
             f"rows from the held-out rows."]
    given = kw.pop("mode", None)
    if given is not None and given != mode:
        notes.append(f"{contract.where('forge.mode')}: {given!r} replaced by {mode!r}, the mode "
                     f"whose term {param} weights.")
    if param in kw:
        notes.append(f"{contract.where('forge.' + param)}: {kw.pop(param)} replaced by the swept values.")
    notify(progress, "encapsulate", 0.0)
    spec = encapsulate_contract(contract, split.X_train, split.y_train, progress, caught,
                                    columns=split.columns)
    notify(progress, "sweep", 0.0)
    extra: dict[str, Any] = {}
    if classify:  # accuracy where RMSE was (evaluate/classify_sweep.py)
        from ..evaluate.classify_sweep import sweep_classification as run

        notes.append(split.task_note)
    else:  # the one protocol: forge's forging, hardening, full-reference rows and attackers
        run = sweep
        with collect_warnings(caught):
            rows = protocol_rows(contract, split)
        if own_rows != OUTSIDE_ROWS:
            notes.append(f"{own_rows} own rows instead of the protocol's {OUTSIDE_ROWS} outside rows: the test "
                         f"rows differ from enfo-owner forge's, and so do the figures.")

        def forge_at(value, callback):
            """The rows ``enfo-owner forge`` would sign with the weight at ``value``."""
            from ..forge import forge
            from .forge_run import apply_dial

            settings = split.forge_settings(contract, mode=mode, **{param: value})
            forged = forge(*split.forge_rows(), spec, settings, callback=callback)
            if mode == "rival":  # the rival dial as forge runs it (forge.rivalry.dial)
                forged = apply_dial(contract, split, forged, settings)[0]
            return harden(contract, spec, forged, split, rows.test)[0]

        extra = dict(forge_fn=forge_at, full_rows=(rows.X_full, rows.y_full),
                     attacker_seconds=contract.forge.rivalry.seconds)
    with context(contract.where("forge")):
        result = run(
            spec, Xa_train, ya_train, split.X_test, split.y_test,
            param=param, values=vals, forge_kwargs=kw if classify else {**kw, "mode": mode}, own_rows=own_rows,
            seed=contract.data.seed, attackers=attackers,
            progress=lambda f: notify(progress, "sweep", f), **extra,
        )
    notify(progress, "report", 0.0)
    body = {
        "meta": report_meta(contract, spec, notes, caught, columns=[*split.features, split.target]),
        "sweep": result,
    }
    json_path, png_path, html_path = write_sweep(body, out)
    notify(progress, "report", 1.0)
    return SweepRun(
        out=Path(out), json_path=json_path, png_path=png_path, html_path=html_path,
        param=param, mode=mode, rows=result["forge"]["rows"], split=result["split"],
        key_rmse={} if classify else {"full": result["reference"]["full_key_rmse"],
                                      "own": result["reference"]["own_key_rmse"],
                                      "sampled": result["reference"]["sampled_key_rmse"]},
        key_accuracy={"full": result["reference"]["full"]["accuracy"],
                      "own": result["reference"]["own"]["accuracy"]} if classify else None,
        results=[_result_row(r, classify) for r in result["results"]],
        notes=notes[1:], seconds=time.perf_counter() - t_start, warnings=caught,
    )


def _result_row(r: dict, classify: bool) -> dict[str, Any]:
    """One swept value's headline figures (a classification sweep: accuracy and its gain)."""
    div = {k: r["divergence"][k] for k in ("kl", "js", "wasserstein")}
    if classify:
        return {"value": r["value"], "accuracy": r["key"]["accuracy"], "log_loss": r["key"]["log_loss"],
                "gain": r["augmentation"]["gain"], **div,
                **({"best_attacker_minus_key": r["attackers"]["best_minus_key"]} if "attackers" in r else {})}
    return {"value": r["value"], "key_rmse": r["key_rmse"], "gain": r["augmentation"]["gain"], **div,
            **({"best_attacker": r["attackers"]["best"], "best_attacker_ratio": r["attackers"]["best_ratio"],
                "best_attacker_interval": r["attackers"]["interval"]} if "attackers" in r else {})}
