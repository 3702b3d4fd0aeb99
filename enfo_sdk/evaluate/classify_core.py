r"""One evaluation of a classification bundle: :func:`evaluate` with accuracy where RMSE was.

The same protocol as :func:`enfo_sdk.evaluate.core.evaluate` (docs/metrics.md, "One protocol"):
the held-out rows are split once (:func:`~enfo_sdk.evaluate.core.split_holdout`, seeded) into
outside rows and test rows; every figure is scored on the test rows with the metrics of
:mod:`enfo_sdk.evaluate.classification` (accuracy, balanced accuracy, log-loss, Brier, ROC AUC).

Tables are the features then one label column per class: a bundle's label distributions, the
owner's rows one-hot. Per table (the bundle, each baseline at its row count):

* ``key``: the key trained on the table, its test metrics;
* ``external``: the key trained on the table plus the outside rows (one-hot) against the table
  alone -- ``accuracy_change`` (augmented minus alone; negative: outside data makes the key
  worse) and ``log_loss_change`` (augmented / alone - 1);
* ``divergence`` and ``privacy`` as for regression, on the features and the label columns;
* the bundle only: the classifier zoo (:func:`~enfo_sdk.evaluate.classification.
  attacker_zoo_classify`, tuned on the bundle alone), and ``vs_full`` (accuracy minus the full
  key's, log-loss ratio - 1).

Two keys: the bundle's (``spec``) scores the bundle; the reference key (``reference``, with the
encapsulated temperature the manifest records) scores all training rows and the baselines -- as
``enfo-owner forge`` does (the two differ only for bundles forged while the forged rows' key had a
temperature of its own, before issue 14's temperature fix), so its ``full``/``forged``/``sampled`` figures
equal ``full``, ``bundle.key`` and ``baselines.sampled.key`` here (tested).

Baselines (:func:`~enfo_sdk.evaluate.baselines.make_baseline`) act on the one-hot table; a
baseline row's label block is then projected back onto the simplex: negative values set to 0,
the row divided by its sum (a row whose labels all became 0 gets the uniform distribution).
``sampled``, ``rounding`` and the swaps leave one-hot labels unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from .._random import rng as make_rng
from ..errors import ShapeError
from .baselines import BASELINES, make_baseline
from .classification import CLASS_ZOO, attacker_zoo_classify, key_classification
from .core import split_holdout
from .divergence import divergences
from .privacy import distance_to_closest_record, monte_carlo_attack
from .utility import stability

__all__ = ["evaluate_classification", "rows_curve_classification", "simplex_labels"]

Progress = Callable[[str, float], None]


def simplex_labels(L: np.ndarray) -> np.ndarray:
    """Label rows projected onto the simplex: negatives to 0, each row divided by its sum
    (uniform when the sum is 0)."""
    L = np.clip(np.asarray(L, dtype=np.float64), 0.0, None)
    s = L.sum(axis=1, keepdims=True)
    return np.where(s > 0, L / np.where(s > 0, s, 1.0), 1.0 / L.shape[1])


def _one_hot(codes, k: int) -> np.ndarray:
    out = np.zeros((len(codes), k))
    out[np.arange(len(codes)), np.asarray(codes).astype(np.int64)] = 1.0
    return out


def _table_metrics(spec, X, Y, train, ext, test, d: int, *, seed: int, max_attack: int) -> dict:
    """Key metrics, the outside-rows test, divergence and privacy of one table (X, Y)."""
    Xt, yt = test[:, :d], test[:, d:].argmax(1)
    key = key_classification(spec, X, Y, Xt, yt)
    out = {"rows": int(len(X)), "key": key}
    if len(ext):
        aug = key_classification(spec, np.vstack([X, ext[:, :d]]), np.vstack([Y, ext[:, d:]]), Xt, yt)
        out["external"] = {
            "external_rows": int(len(ext)), "alone": key, "augmented": aug,
            "accuracy_change": aug["accuracy"] - key["accuracy"],
            "log_loss_change": aug["log_loss"] / key["log_loss"] - 1.0 if key["log_loss"] > 0 else None,
        }
    table = np.column_stack([X, Y])
    div = divergences(train, table)
    del div["per_column"]
    out["divergence"] = div
    non_members = np.vstack([ext, test])
    out["privacy"] = {
        "mc_attack": monte_carlo_attack(table, train, non_members, seed=seed, max_each=max_attack),
        "dcr": distance_to_closest_record(table, train, non_members, seed=seed),
    }
    return out


def evaluate_classification(spec, X_train, y_train, X_holdout, y_holdout, X_bundle, Y_bundle, *,
                            reference=None, feature_names=None, label_names=None, external_rows: int = 1000,
                            baselines: Sequence[str] = BASELINES, attackers: Sequence[str] = CLASS_ZOO,
                            seed: int = 0, max_attack: int = 1000, progress: Progress | None = None) -> dict:
    """Every classification metric for a bundle and the baselines at its row count.

    Parameters
    ----------
    spec : KeySpec
        The bundle's classification key (its temperature is the bundle's).
    X_train : array-like of shape (n, n_features)
        The owner's training rows (the bundle's members), encoded.
    y_train : array-like of shape (n,)
        Their class codes 0..k-1.
    X_holdout, y_holdout : held-out rows and class codes (outside rows and test rows)
    X_bundle : array-like of shape (m, n_features)
    Y_bundle : array-like of shape (m, k)
        The bundle's label distributions.
    reference : KeySpec, optional
        The key that scores all training rows and the baselines (default ``spec``).
    baselines : sequence of str
    attackers : sequence of str
        Classifier families of the zoo (``()`` for none).
    progress : callable, optional
        ``progress(phase, fraction)``, phases "full", "bundle", "attackers", "baselines".

    Returns
    -------
    dict
        ``task``, ``classes``, ``columns``, ``split``, ``full`` ({"key": metrics}), ``bundle``,
        ``baselines`` ({name: metrics, with ``vs_bundle``}), ``seconds``.
    """
    def note(phase, f):
        if progress is not None:
            progress(phase, f)

    t0 = time.perf_counter()
    reference = spec if reference is None else reference
    Xtr = np.asarray(X_train, dtype=np.float64)
    Xb = np.asarray(X_bundle, dtype=np.float64)
    Yb = np.asarray(Y_bundle, dtype=np.float64)
    d, k = Xtr.shape[1], Yb.shape[1]
    if Xb.shape[1] != d:
        raise ShapeError(f"bundle has {Xb.shape[1]} feature columns, expected {d}")
    train = np.column_stack([Xtr, _one_hot(y_train, k)])
    hold = np.column_stack([np.asarray(X_holdout, dtype=np.float64), _one_hot(y_holdout, k)])
    ext_idx, test_idx = split_holdout(len(hold), external_rows, seed)
    ext, test = hold[ext_idx], hold[test_idx]
    Xt, yt = test[:, :d], test[:, d:].argmax(1)

    note("full", 0.0)
    full = key_classification(reference, Xtr, train[:, d:], Xt, yt)
    note("full", 1.0)
    note("bundle", 0.0)
    res = _table_metrics(spec, Xb, Yb, train, ext, test, d, seed=seed, max_attack=max_attack)
    res["vs_full"] = _versus(res["key"], full)
    note("bundle", 1.0)
    note("attackers", 0.0)
    if attackers:
        res["attackers"] = attacker_zoo_classify(Xb, Yb, Xt, yt, k, key=res["key"], names=tuple(attackers),
                                                 seed=seed)
    note("attackers", 1.0)
    out_baselines = {}
    note("baselines", 0.0)
    for i, name in enumerate(baselines):
        rows = make_baseline(name, train, len(Xb), n_features=d, seed=seed)
        m = _table_metrics(reference, rows[:, :d], simplex_labels(rows[:, d:]), train, ext, test, d,
                           seed=seed, max_attack=max_attack)
        m["vs_bundle"] = _versus(m["key"], res["key"])
        out_baselines[name] = m
        note("baselines", (i + 1) / max(1, len(baselines)))
    names = list(feature_names or [f"x{j + 1}" for j in range(d)])
    return {
        "task": "classification",
        "classes": list(label_names or [str(c) for c in range(k)]),
        "columns": names,
        "split": {"train": int(len(train)), "external": int(len(ext)), "test": int(len(test))},
        "full": {"key": full},
        "bundle": res,
        "baselines": out_baselines,
        "seconds": time.perf_counter() - t0,
    }


def _versus(a: dict, b: dict) -> dict:
    """``a`` against ``b``: accuracy difference (points of 1) and log-loss ratio - 1."""
    return {"accuracy": a["accuracy"] - b["accuracy"],
            "log_loss": a["log_loss"] / b["log_loss"] - 1.0 if b["log_loss"] > 0 else None}


def rows_curve_classification(spec, X_train, y_train, X_test, y_test, *, sizes=(100, 500, 1000),
                              seeds=(0, 1, 2), forge_kwargs: dict | None = None,
                              progress: Callable[[float], None] | None = None) -> dict:
    """Key test accuracy and log-loss of bundles forged at several sizes and seeds, and of as
    many sampled real rows (the encapsulated ``spec``; a forged bundle's key has its own
    temperature).

    Returns
    -------
    dict
        ``sizes``, ``skipped``, ``metric`` ("accuracy"), and ``forged`` / ``sampled``:
        {size: {"accuracy": [per seed], "log_loss": [per seed], "mean", "std"}} (mean and std
        of the accuracy, std with ddof=1).
    """
    from ..forge import ForgeSettings, forge

    kw = dict(forge_kwargs or {})
    kw.pop("rows", None)
    kw.pop("seed", None)
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train)
    usable = ForgeSettings.build(**{k: v for k, v in kw.items() if k == "validation"}).usable_rows(len(ytr))
    ok = [s for s in sizes if s < usable]
    out = {"metric": "accuracy", "sizes": ok, "skipped": [s for s in sizes if s >= usable],
           "forged": {}, "sampled": {}}
    total, done = len(ok) * len(seeds), 0
    for size in ok:
        runs = {"forged": [], "sampled": []}
        for seed in seeds:
            result = forge(Xtr, ytr, spec, rows=size, seed=seed, **kw)
            runs["forged"].append(key_classification(result.spec, result.X, result.y, X_test, y_test))
            pick = make_rng(seed).choice(len(ytr), size, replace=False)
            runs["sampled"].append(key_classification(spec, Xtr[pick], ytr[pick], X_test, y_test))
            done += 1
            if progress is not None:
                progress(done / total)
        for name, ms in runs.items():
            acc = [m["accuracy"] for m in ms]
            out[name][str(size)] = {"accuracy": acc, "log_loss": [m["log_loss"] for m in ms],
                                    "mean": float(np.mean(acc)), "std": stability(acc)}
    return out
