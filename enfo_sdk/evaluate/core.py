"""One evaluation: every metric of ``docs/metrics.md`` for a bundle and its baselines.

:func:`evaluate` takes arrays (the owner's training rows, i.e. the members; the held-out rows;
the bundle's rows; the KeySpec) and returns a JSON-ready dict. The held-out rows are split
once (seeded): ``external_rows`` of them are the "outside data" mixed into the bundle for the
external-rivalry test, the rest are the *test* rows every RMSE is scored on. With fewer than
``2 * external_rows`` held-out rows, half of them are used as outside data.

:func:`rows_curve` forges bundles of several sizes with several seeds (the paper's
"data volume" figure) and reports the key's test RMSE on them and on sampled real rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from .._random import rng as make_rng
from ..errors import ShapeError
from .attackers import ZOO, attacker_zoo
from .baselines import BASELINES, make_baseline
from .divergence import divergences
from .privacy import distance_to_closest_record, monte_carlo_attack
from .utility import external_rivalry, key_rmse, stability

__all__ = ["OUTSIDE_ROWS", "evaluate", "rows_curve", "split_holdout"]

#: Outside rows taken from the held-out rows for the external-rivalry test (at most half of
#: them; the rest are the test rows every figure is scored on): the same in forge, evaluate,
#: sweep and the partner's check (docs/metrics.md, "One protocol").
OUTSIDE_ROWS = 1000

Progress = Callable[[str, float], None]


def split_holdout(n_holdout: int, external_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(external, test) index arrays into the held-out rows."""
    k = min(int(external_rows), n_holdout // 2)
    perm = make_rng(seed).permutation(n_holdout)
    return np.sort(perm[:k]), np.sort(perm[k:])


def _table_metrics(spec, table, n_features, train, ext, test, *, seed, attackers, names=ZOO,
                   max_attack=1000, progress=None) -> dict:
    Xs, ys = table[:, :n_features], table[:, n_features]
    rm = key_rmse(spec, Xs, ys, test[:, :n_features], test[:, n_features])
    out = {"rows": int(len(table)), "key_rmse": rm}
    out["external"] = external_rivalry(spec, Xs, ys, ext[:, :n_features], ext[:, n_features],
                                       test[:, :n_features], test[:, n_features])
    out["divergence"] = divergences(train, table)
    del out["divergence"]["per_column"]
    non_members = np.vstack([ext, test])
    out["privacy"] = {
        "mc_attack": monte_carlo_attack(table, train, non_members, seed=seed, max_each=max_attack),
        "dcr": distance_to_closest_record(table, train, non_members, seed=seed),
    }
    if attackers:
        out["attackers"] = attacker_zoo(Xs, ys, test[:, :n_features], test[:, n_features],
                                        key_rmse=rm, names=names, seed=seed, progress=progress)
    return out


def evaluate(spec, X_train, y_train, X_holdout, y_holdout, bundle, *, feature_names=None,
             target_name="y", external_rows: int = 1000, baselines: Sequence[str] = BASELINES,
             baseline_attackers: bool = False, seed: int = 0, max_attack: int = 1000,
             attackers: Sequence[str] = ZOO, progress: Progress | None = None) -> dict:
    """Every metric for ``bundle`` and the baselines at its row count.

    Parameters
    ----------
    spec : KeySpec
        The key (its hyperparameters and preprocessing are used as they are).
    X_train : array-like of shape (n, n_features)
        The owner's training rows (the bundle's members).
    y_train : array-like of shape (n,)
    X_holdout : array-like of shape (n_holdout, n_features)
        Owner rows never used to forge: split into outside data and test rows.
    y_holdout : array-like of shape (n_holdout,)
    bundle : array-like of shape (m, n_features + 1)
        The synthetic rows, features then target.
    baselines : sequence of str
        Baselines to compute (see :mod:`.baselines`); ``()`` for none.
    baseline_attackers : bool
        Also run the attacker zoo on every baseline (slow).
    attackers : sequence of str
        The zoo's families (default all of :data:`~enfo_sdk.evaluate.attackers.ZOO`).
    progress : callable, optional
        ``progress(phase, fraction)``, phases "full", "bundle", "attackers", "baselines".

    Returns
    -------
    dict
        ``full`` (key RMSE on all training rows), ``bundle`` (all metrics), ``baselines``
        ({name: metrics}), ``split`` (row counts), ``seconds``.
    """
    def note(phase, f):
        if progress is not None:
            progress(phase, f)

    t0 = time.perf_counter()
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    Xh = np.asarray(X_holdout, dtype=np.float64)
    yh = np.asarray(y_holdout, dtype=np.float64)
    table = np.asarray(bundle, dtype=np.float64)
    d = Xtr.shape[1]
    if table.shape[1] != d + 1:
        raise ShapeError(f"bundle has {table.shape[1]} columns, expected {d + 1} (the features, then the target)")
    train = np.column_stack([Xtr, ytr])
    hold = np.column_stack([Xh, yh])
    ext_idx, test_idx = split_holdout(len(hold), external_rows, seed)
    ext, test = hold[ext_idx], hold[test_idx]

    note("full", 0.0)
    full = key_rmse(spec, Xtr, ytr, test[:, :d], test[:, d])
    note("full", 1.0)
    note("bundle", 0.0)
    res = _table_metrics(spec, table, d, train, ext, test, seed=seed, attackers=False,
                         max_attack=max_attack)
    note("bundle", 1.0)
    note("attackers", 0.0)
    res["attackers"] = attacker_zoo(table[:, :d], table[:, d], test[:, :d], test[:, d],
                                    key_rmse=res["key_rmse"], names=tuple(attackers), seed=seed,
                                    progress=lambda f: note("attackers", f))
    res["vs_full"] = res["key_rmse"] / full - 1.0
    out_baselines = {}
    note("baselines", 0.0)
    for i, name in enumerate(baselines):
        rows = make_baseline(name, train, len(table), n_features=d, seed=seed)
        m = _table_metrics(spec, rows, d, train, ext, test, seed=seed, attackers=baseline_attackers,
                           names=tuple(attackers), max_attack=max_attack)
        m["vs_bundle"] = m["key_rmse"] / res["key_rmse"] - 1.0
        out_baselines[name] = m
        note("baselines", (i + 1) / max(1, len(baselines)))
    return {
        "columns": list(feature_names or [f"x{j + 1}" for j in range(d)]) + [target_name],
        "split": {"train": int(len(train)), "external": int(len(ext)), "test": int(len(test))},
        "full": {"key_rmse": full},
        "bundle": res,
        "baselines": out_baselines,
        "seconds": time.perf_counter() - t0,
    }


def rows_curve(spec, X_train, y_train, X_test, y_test, *, sizes=(100, 500, 1000), seeds=(0, 1, 2),
               forge_kwargs: dict | None = None, progress: Callable[[float], None] | None = None) -> dict:
    """Key test RMSE of bundles forged at several sizes and seeds, and of sampled real rows.

    Returns
    -------
    dict
        ``sizes``, ``forged`` and ``sampled``: {size: {"rmse": [per seed], "mean", "std"}}
        (std is the stability figure, ddof=1), ``skipped`` sizes too large for the data.
    """
    from ..forge import ForgeSettings, forge

    kw = dict(forge_kwargs or {})
    kw.pop("rows", None)
    kw.pop("seed", None)
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    usable = ForgeSettings.build(**{k: v for k, v in kw.items() if k == "validation"}).usable_rows(len(ytr))
    ok = [s for s in sizes if s < usable]
    out = {"sizes": ok, "skipped": [s for s in sizes if s >= usable], "forged": {}, "sampled": {}}
    total, done = len(ok) * len(seeds), 0
    for size in ok:
        f, s = [], []
        for seed in seeds:
            result = forge(Xtr, ytr, spec, rows=size, seed=seed, **kw)
            f.append(key_rmse(spec, result.X, result.y, X_test, y_test))
            pick = make_rng(seed).choice(len(ytr), size, replace=False)
            s.append(key_rmse(spec, Xtr[pick], ytr[pick], X_test, y_test))
            done += 1
            if progress is not None:
                progress(done / total)
        for name, v in (("forged", f), ("sampled", s)):
            out[name][str(size)] = {"rmse": v, "mean": float(np.mean(v)), "std": stability(v)}
    return out
