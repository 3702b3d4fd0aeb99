"""Sweeps for a classification key: :func:`enfo_sdk.evaluate.sweep.sweep` with accuracy for RMSE.

The same protocol (one bundle per value of a forging weight, the held-out rows split once,
seeded, into the partner's own rows and the test rows); per value, with the metrics of
:mod:`enfo_sdk.evaluate.classification` on the test rows:

* ``key``: the metrics of the bundle's key (``result.spec``), and
  ``key_accuracy_change`` = its accuracy minus the first value's (fraction; 0.01 = 1 point);
* ``divergence``: as for regression, on the features and the label columns (one-hot for the
  owner's rows, the bundle's label distributions);
* ``augmentation``: the encapsulated key on the own rows alone (``own``) and on the own rows
  plus the bundle (``own_plus_bundle``), and ``gain`` = accuracy(own + bundle) - accuracy(own);
* ``attackers`` (``attackers=True``): the best classifier of the zoo tuned on the bundle,
  ``best_accuracy`` and ``best_minus_key`` (its accuracy minus the key's).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from .classification import attacker_zoo_classify, key_classification
from .core import split_holdout
from .divergence import divergences

__all__ = ["sweep_classification"]


def _one_hot(codes, k: int) -> np.ndarray:
    out = np.zeros((len(codes), k))
    out[np.arange(len(codes)), np.asarray(codes).astype(np.int64)] = 1.0
    return out


def sweep_classification(spec, X_train, y_train, X_holdout, y_holdout, *, param: str, values: Sequence[float],
                         forge_kwargs: dict | None = None, own_rows: int = 1000, seed: int = 0,
                         attackers: bool = False, progress: Callable[[float], None] | None = None) -> dict:
    """Forge one bundle per value of ``param`` for a classification key; parameters as
    :func:`enfo_sdk.evaluate.sweep.sweep` (``y_train``, ``y_holdout``: class codes).

    Returns
    -------
    dict
        ``task`` ("classification"), ``param``, ``mode``, ``values``, ``split``, ``reference``
        (``full`` and ``own``: the key's metrics on all training rows and on the own rows),
        ``forge``, ``results`` (module docstring) and ``seconds``.
    """
    from ..forge import forge
    from .sweep import sweep_setup

    vals, kw = sweep_setup(param, values, forge_kwargs, seed, own_rows)
    t0 = time.perf_counter()
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train).astype(np.int64)
    Xh = np.asarray(X_holdout, dtype=np.float64)
    yh = np.asarray(y_holdout).astype(np.int64)
    k = len(spec.classes) if spec.classes else int(max(ytr.max(), yh.max()) + 1)
    train = np.column_stack([Xtr, _one_hot(ytr, k)])
    own_idx, test_idx = split_holdout(len(yh), own_rows, seed)
    Xo, Yo, Xt, yt = Xh[own_idx], _one_hot(yh[own_idx], k), Xh[test_idx], yh[test_idx]
    own = key_classification(spec, Xo, Yo, Xt, yt)
    full = key_classification(spec, Xtr, ytr, Xt, yt)

    def note(f: float) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, f)))

    n, results, settings = len(vals), [], None
    note(0.0)
    for i, v in enumerate(vals):
        part = 0.8 if attackers else 1.0

        def on_step(p, i=i, part=part):
            note((i + part * 0.95 * p.step / p.steps) / n)

        r = forge(Xtr, ytr, spec, callback=on_step, **kw, **{param: v})
        settings = {key: x for key, x in r.settings.items() if key != param}
        Xs, Ys = np.asarray(r.X, np.float64), np.asarray(r.y, np.float64)
        key = key_classification(r.spec, Xs, Ys, Xt, yt)
        mixed = key_classification(spec, np.vstack([Xo, Xs]), np.vstack([Yo, Ys]), Xt, yt)
        div = divergences(train, np.column_stack([Xs, Ys]))
        del div["per_column"]
        row = {
            "value": v, "key": key, "key_accuracy_change": None, "divergence": div,
            "augmentation": {"own": own, "own_plus_bundle": mixed, "gain": mixed["accuracy"] - own["accuracy"]},
            "forge": {m: r.metrics[m] for m in ("best_val_rmse", "best_step", "steps_run", "stopped_early",
                                                "seconds", "temperature")},
        }
        if attackers:
            zoo = attacker_zoo_classify(Xs, Ys, Xt, yt, k, key=key, seed=seed)
            row["attackers"] = {"best": zoo["best"], "best_accuracy": zoo["best_accuracy"],
                                "best_log_loss": zoo["best_log_loss"],
                                "best_minus_key": zoo["best_accuracy"] - key["accuracy"]}
        results.append(row)
        note((i + 1) / n)
    first = results[0]["key"]["accuracy"]
    for row in results:
        row["key_accuracy_change"] = row["key"]["accuracy"] - first
    return {
        "task": "classification", "param": param, "mode": kw["mode"], "values": vals,
        "split": {"train": int(len(ytr)), "own": int(len(own_idx)), "test": int(len(test_idx))},
        "reference": {"full": full, "own": own}, "forge": settings, "results": results,
        "seconds": time.perf_counter() - t0,
    }
