"""The classification side of ``enfo-owner forge``: test metrics, bundle metrics, the summary.

:func:`run_forge <enfo_sdk.workflows.forge_run.run_forge>` calls these for a classification
task (``data.task``, or a categorical target) where a regression run reports test RMSE: the
key's accuracy, balanced accuracy, log-loss, Brier score and ROC AUC
(:mod:`enfo_sdk.evaluate.classification`) when trained on all training rows (``full``), on
the forged rows (``forged``), and on as many real training rows sampled at random
(``sampled``); plus the forged rows' class balance. The test rows are those of the one
protocol (docs/metrics.md): the held-out rows less the outside rows, as ``enfo-owner evaluate``
scores them, so its figures equal these.
"""

from __future__ import annotations

from typing import Any

from .._random import rng as make_rng

__all__ = ["classification_test", "bundle_metrics", "summary_fields", "harden_labels", "evaluate_classification"]


def evaluate_classification(contract, spec, split, result, report, test):
    """The evaluate phase of a classification run: hardened labels when ``forge.hard_labels``
    (the key's metrics on the soft rows kept as ``forged_soft``), then :func:`classification_test`
    on the held-out rows ``test`` (indices: the protocol's test rows).

    Returns
    -------
    (ForgeResult, dict)
        The rows to sign and the test metrics.
    """
    from ..evaluate.classification import key_classification

    soft = None
    if contract.forge.hard_labels:
        soft = key_classification(result.spec, result.X, result.y, split.X_test[test], split.y_test[test])
        result = harden_labels(result)
    figures = classification_test(spec, split, result, contract.data.seed, report, test)
    if soft is not None:
        figures["forged_soft"] = soft
    return result, figures


def harden_labels(result):
    """The forged rows with one-hot labels: each row's most likely class (the first on ties)."""
    import dataclasses

    import numpy as np

    data = result.data.copy()
    P = data[result.target_columns].to_numpy()
    hard = np.zeros_like(P)
    hard[np.arange(len(P)), P.argmax(1)] = 1.0
    data[result.target_columns] = hard
    settings = {**result.settings, "hardened": "labels"}
    return dataclasses.replace(result, data=data, settings=settings)


def classification_test(spec, split, result, seed: int, report, test) -> dict[str, dict[str, Any]]:
    """Test metrics, on the held-out rows ``test``, of the key on all training rows, on the
    forged rows and on as many sampled rows.

    The forged rows' key is ``result.spec``; the full and sampled keys use the encapsulated
    ``spec`` (the same temperature, docs/keys.md).
    """
    from ..evaluate.classification import key_classification

    Xa, ya = split.train_arrays
    Xt, yt = split.X_test[test], split.y_test[test]
    out = {"full": key_classification(spec, Xa, ya, Xt, yt)}
    report(1 / 3)
    out["forged"] = key_classification(result.spec, result.X, result.y, Xt, yt)
    report(2 / 3)
    sample = make_rng(seed).choice(len(ya), len(result.data), replace=False)
    out["sampled"] = key_classification(spec, Xa[sample], ya[sample], Xt, yt)
    return out


def bundle_metrics(test: dict[str, dict[str, Any]], result) -> dict[str, float]:
    """The owner-side metrics a classification bundle publishes (finite numbers only)."""
    out = {}
    for side in ("full", "forged", "sampled"):
        for name in ("accuracy", "log_loss"):
            out[f"test_{name}_{side}"] = float(test[side][name])
    out["temperature"] = float(result.spec.hyperparameters["temperature"])
    # the full and sampled keys' temperature, so that enfo-owner evaluate --bundle reproduces them
    out["temperature_encapsulated"] = float(result.metrics["temperature_encapsulated"])
    return out


def summary_fields(test: dict[str, dict[str, Any]], result, task_note: str) -> dict[str, Any]:
    """What ``enfo-owner forge --json`` adds for a classification run."""
    from .common import key_summary

    return {
        "key": key_summary(result.spec),  # the bundle's key
        "task": "classification",
        "task_note": task_note,
        "test": test,
        "classes": list(result.spec.classes or []),
        "class_balance": result.metrics.get("class_balance"),
    }
