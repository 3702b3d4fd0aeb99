"""The one evaluation protocol, as ``forge`` and ``sweep`` apply it to a forged table.

docs/metrics.md ("One protocol") defines it; this module is its one implementation for a
contract's regression figures, so the same contract gives the same figures wherever they are
printed (``evaluate`` scores a bundle on the same rows through :func:`enfo_sdk.evaluate.evaluate`):

:func:`protocol_rows`
    the held-out rows' roles (outside and test rows, :meth:`OwnerSplit.holdout_roles`) and the
    training rows the ``full`` reference trains on (all, or a seeded sample above
    :data:`FULL_REFERENCE_MAX_ROWS`, with a warning);
:func:`measure_forged`
    the rows as they will be signed (:func:`harden`), the key's test RMSE trained on all
    training rows, on the forged rows and on as many sampled rows, the rivalry check
    (:func:`enfo_sdk.evaluate.rivalry.rivalry_check`: attackers within ``forge.rivalry.seconds``,
    the outside-rows test, bootstrap intervals), the Monte Carlo membership attack, and the
    signed :class:`~enfo_sdk.bundle.record.RivalryRecord` that holds them;
:func:`classification_record`
    the record of a classification run (the key's accuracy, log-loss, ... as
    :mod:`.classify_run` measures them; no attackers, intervals or outside rows).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._random import rng as make_rng
from ..evaluate.utility import key_predictions
from .owner_data import OwnerSplit

__all__ = ["FULL_REFERENCE_MAX_ROWS", "Measured", "ProtocolRows", "classification_record",
           "full_rows", "harden", "measure_forged", "protocol_rows"]

#: Most training rows the ``full`` reference trains the key on (a kernel key's fit holds an
#: n x n float64 matrix: 10,000 rows take 0.8 GB); above it a seeded sample, with a warning.
FULL_REFERENCE_MAX_ROWS = 10_000


@dataclass
class ProtocolRows:
    """The owner's rows in their protocol roles.

    Attributes
    ----------
    outside, test : ndarray of int
        Indices into the held-out rows (``split.X_test``).
    X_full, y_full : ndarray
        The rows the ``full`` reference trains on.
    """

    outside: np.ndarray
    test: np.ndarray
    X_full: np.ndarray
    y_full: np.ndarray


@dataclass
class Measured:
    """What :func:`measure_forged` measured on one forged table."""

    result: Any  # the ForgeResult as it will be signed (hardened where the contract asks)
    test_rmse: dict[str, float]
    rivalry: Any  # RivalryCheck
    mcaa: dict[str, Any]
    record: Any  # RivalryRecord


def full_rows(split: OwnerSplit, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training rows the ``full`` reference trains on: all of them, or a seeded sample of
    :data:`FULL_REFERENCE_MAX_ROWS` above that (with a warning)."""
    Xa, ya = split.train_arrays
    if len(ya) > FULL_REFERENCE_MAX_ROWS:  # a kernel key's fit holds an n x n matrix
        keep = np.sort(make_rng(seed).choice(len(ya), FULL_REFERENCE_MAX_ROWS, replace=False))
        warnings.warn(
            f"the 'full' reference is the key trained on {FULL_REFERENCE_MAX_ROWS:,} of the "
            f"{len(ya):,} training rows (seeded sample): all of them would need "
            f"{8 * len(ya) ** 2 / 2**30:,.0f} GiB for a kernel key", stacklevel=3)
        Xa, ya = Xa[keep], ya[keep]
    return Xa, ya


def protocol_rows(contract, split: OwnerSplit) -> ProtocolRows:
    """The held-out roles and the ``full`` reference's rows (capped, with a warning)."""
    outside, test = split.holdout_roles(contract.data.seed)
    return ProtocolRows(outside, test, *full_rows(split, contract.data.seed))


def harden(contract, spec, result, split: OwnerSplit, test):
    """The rows made into records where the contract asks (``hard`` categoricals, ``forge.
    round_integers``), and the key's RMSE on the held-out rows ``test`` of the rows before
    (None when nothing changed)."""
    from ..evaluate.utility import key_rmse
    from ..forging.params import harden as harden_rows

    cols = spec.columns
    if cols is None or not (cols.hard_groups() or contract.forge.round_integers):
        return result, None
    data, changed = harden_rows(result.data, cols, integers=contract.forge.round_integers)
    if not changed:
        return result, None
    before = key_rmse(spec, result.X, result.y, split.X_test[test], split.y_test[test])
    settings = {**result.settings, "hardened": ",".join(changed)}
    return dataclasses.replace(result, data=data, settings=settings), before


def measure_forged(contract, spec, split: OwnerSplit, rows: ProtocolRows, result, report=None) -> Measured:
    """Every figure of the protocol for one forged table (docs/metrics.md, "One protocol").

    ``report(fraction)`` is called as the parts finish. The attackers run for
    ``forge.rivalry.seconds`` (none at 0; the key's figures, intervals and the outside test
    are measured either way). The key on the ``full`` rows is fitted once here and its
    predictions serve both the ``full`` figure and the rivalry check's ratio (the slowest fit of
    a forge run; fitting it on a background thread while forging ran was measured slower on an
    idle 2-core machine: forge phase 12.8 s -> 24.6 s on the quick start).
    """
    from ..evaluate.privacy import monte_carlo_attack
    from ..evaluate.rivalry import FAST_ZOO, bootstrap_ratio, rivalry_check

    def note(f: float) -> None:
        if report is not None:
            report(f)

    seed = contract.data.seed
    result, soft = harden(contract, spec, result, split, rows.test)
    Xt, yt = split.X_test[rows.test], split.y_test[rows.test]
    Xa, ya = split.train_arrays
    sample = make_rng(seed).choice(len(rows.y_full), len(result.data), replace=False)
    preds = {"full": key_predictions(spec, rows.X_full, rows.y_full, Xt)}
    note(0.2)
    preds["forged"] = key_predictions(spec, result.X, result.y, Xt)
    note(0.4)
    preds["sampled"] = key_predictions(spec, rows.X_full[sample], rows.y_full[sample], Xt)
    note(0.6)
    test_rmse = {side: float(math.sqrt(np.mean((p - yt) ** 2))) for side, p in preds.items()}
    if soft is not None:
        test_rmse["forged_soft"] = soft
    r = contract.forge.rivalry
    check = rivalry_check(
        spec, result.X, result.y, Xt, yt, X_outside=split.X_test[rows.outside],
        y_outside=split.y_test[rows.outside], seconds=r.seconds, target=r.target, seed=seed,
        names=FAST_ZOO if r.seconds > 0 else (), progress=lambda f: note(0.6 + 0.35 * f),
        pred_key=preds["forged"], pred_full=preds["full"],
    )
    check = dataclasses.replace(check, key_vs_sampled=bootstrap_ratio(preds["forged"], preds["sampled"], yt))
    held = np.column_stack([split.X_test, split.y_test])
    mcaa = monte_carlo_attack(np.column_stack([result.X, result.y]), np.column_stack([Xa, ya]),
                              np.vstack([held[rows.outside], held[rows.test]]), seed=seed)
    note(1.0)
    record = regression_record(contract, split, rows, test_rmse, check, mcaa)
    return Measured(result=result, test_rmse=test_rmse, rivalry=check, mcaa=mcaa, record=record)


def _interval(t) -> dict | None:
    if t is None or not all(math.isfinite(v) for v in t):
        return None  # a ratio over a zero RMSE: no finite figure to sign
    return {"value": float(t[0]), "low": float(t[1]), "high": float(t[2])}


def _scalar(v):
    if isinstance(v, np.generic):
        v = v.item()
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)


def _base(contract, split: OwnerSplit, *, outside: int, test: int, forged: int, full: int) -> dict:
    return {"name": "enfo-one-protocol-v1", "split_seed": int(contract.data.seed),
            "test_fraction": float(contract.data.test_fraction),
            "rows": {"train": int(split.n_train), "held_out": int(split.n_test), "outside": int(outside),
                     "test": int(test), "forged": int(forged), "full_reference": int(full)}}


def regression_record(contract, split: OwnerSplit, rows: ProtocolRows, test_rmse: dict[str, float], check,
                      mcaa: dict):
    """The signed record of a regression forge's figures."""
    from ..bundle.record import RivalryRecord
    from ..evaluate.rivalry import (
        ATTACKER_CV, BOOTSTRAP_LEVEL, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, FAST_ZOO,
    )

    protocol = _base(contract, split, outside=len(rows.outside), test=len(rows.test),
                     forged=check.forged_rows, full=len(rows.y_full))
    protocol["bootstrap"] = {"resamples": BOOTSTRAP_RESAMPLES, "level": BOOTSTRAP_LEVEL, "seed": BOOTSTRAP_SEED}
    if check.attackers or check.skipped:
        protocol["attackers"] = {
            "families": list(FAST_ZOO), "cv_folds": ATTACKER_CV, "seed": int(contract.data.seed),
            "budget_seconds": float(check.budget), "seconds": float(check.seconds),
        }
    attackers = {
        name: {"rmse": a["rmse"], "ratio": a["ratio"] if a["ratio"] is None or math.isfinite(a["ratio"]) else None,
               "params": {str(k): _scalar(v) for k, v in a["params"].items()}}
        for name, a in check.attackers.items()
    }
    best_ratio = _interval(check.ratio)
    return RivalryRecord.model_validate({
        "version": 1, "task": "regression", "protocol": protocol,
        "key": {side: {"rmse": v} for side, v in test_rmse.items()},
        "key_vs_full": _interval(check.key_vs_full), "key_vs_sampled": _interval(check.key_vs_sampled),
        "attackers": attackers, "skipped": list(check.skipped),
        "best": check.best if best_ratio is not None else None, "best_ratio": best_ratio,
        "target": float(contract.forge.rivalry.target), "outside": _interval(check.outside),
        "mcaa": {"accuracy": float(mcaa["accuracy"]), "candidates": int(mcaa["candidates"])},
    })


def classification_record(contract, split: OwnerSplit, test: dict[str, dict[str, Any]], forged_rows: int,
                          *, outside_rows: int = 0, test_rows: int | None = None):
    """The signed record of a classification forge: the key's metrics on the protocol's test rows
    (``test_rows`` of the held-out rows; the other ``outside_rows`` are set aside as for a
    regression forge), trained on all training rows, the forged rows and as many sampled rows
    (and the rows before hardening)."""
    from ..bundle.record import RivalryRecord

    metrics = ("accuracy", "balanced_accuracy", "log_loss", "brier", "roc_auc")
    return RivalryRecord.model_validate({
        "version": 1, "task": "classification",
        "protocol": _base(contract, split, outside=outside_rows,
                          test=split.n_test - outside_rows if test_rows is None else test_rows,
                          forged=forged_rows, full=split.n_train),
        "key": {side: {m: (None if figures.get(m) is None else float(figures[m])) for m in metrics}
                for side, figures in test.items()},
        "target": float(contract.forge.rivalry.target),
    })
