"""The rivalry check every forge runs: a fast, time-bounded attacker zoo and bootstrap intervals.

:func:`rivalry_check` trains the attackers of :data:`FAST_ZOO` (each tuned by 5-fold CV on the
forged rows alone, :func:`enfo_sdk.evaluate.attackers.make_attacker`) in that order, two at a
time (:data:`ATTACKER_THREADS`), until ``seconds`` have passed -- the first two always run, an
attacker that starts always finishes, the rest are skipped and named -- and scores them and
the key on the owner's test rows. The headline is the best
attacker's test RMSE over the key's (``> 1``: every attacker does worse than the key).

Intervals (:func:`bootstrap_ratio`): 95% percentile bootstrap over the test rows, paired (one
resample scores both models), :data:`BOOTSTRAP_RESAMPLES` resamples from a fixed seed. They show
how far the test rows alone can move a figure, which matters on test sets of a few dozen rows;
they do not include the forging seed's spread. Definitions: docs/metrics.md, "One protocol".
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .attackers import make_attacker

__all__ = ["ATTACKER_CV", "BOOTSTRAP_LEVEL", "BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "FAST_ZOO", "RIVALRY_SECONDS",
           "RIVALRY_TARGET", "RivalryCheck", "bootstrap_ratio", "rivalry_check"]

#: The forge's attackers, fastest first: the zoo's families without gradient boosting (the
#: slowest to tune). On a busy 2-core machine they took 10-40 s together on 100 forged rows.
FAST_ZOO = ("ridge", "knn", "krr", "svr", "mlp", "random_forest")

#: Seconds the forge's rivalry check may start new attackers for (an attacker that starts
#: finishes; the report states which ran).
RIVALRY_SECONDS = 60.0

#: The best attacker / key ratio below which ``enfo-owner forge`` prints a warning (issue 15).
RIVALRY_TARGET = 1.2

#: Bootstrap resamples of the test rows for every interval, their seed, and the interval's level.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20261201
BOOTSTRAP_LEVEL = 0.95

#: K of the attackers' K-fold grid search on the forged rows.
ATTACKER_CV = 5


def bootstrap_ratio(pred_a, pred_b, y, *, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float, float]:
    """RMSE(pred_a) / RMSE(pred_b) on ``y``, with a 95% paired percentile bootstrap interval.

    Parameters
    ----------
    pred_a, pred_b, y : array-like of shape (n,)

    Returns
    -------
    (ratio, low, high)
    """
    y = np.asarray(y, dtype=np.float64)
    ea = (np.asarray(pred_a, dtype=np.float64) - y) ** 2
    eb = (np.asarray(pred_b, dtype=np.float64) - y) ** 2
    point = float(np.sqrt(ea.mean() / eb.mean())) if eb.mean() > 0 else float("inf")
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(y), size=(int(resamples), len(y)))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(ea[idx].mean(axis=1) / eb[idx].mean(axis=1))
    low, high = np.nanpercentile(r, [2.5, 97.5])
    return point, float(low), float(high)


@dataclass
class RivalryCheck:
    """What :func:`rivalry_check` measured, JSON-ready through :meth:`to_json`.

    Attributes
    ----------
    best : str or None
        The best attacker's name (None when none ran).
    ratio : tuple of float or None
        Its test RMSE over the key's: (ratio, low, high), the interval a 95% bootstrap.
    attackers : dict
        Per attacker that ran: test RMSE, ratio to the key, the CV-chosen parameters.
    skipped : list of str
        Attackers not started because the time was up.
    target : float
        The ratio asked for; ``below_target`` when the measured ratio is under it.
    key_vs_full : tuple of float or None
        The key on the forged rows over the key on all training rows, with its interval.
    outside : tuple of float or None
        The key on forged + outside rows over the key on the forged rows alone (> 1: outside
        data makes the key worse), with its interval; None without outside rows.
    test_rows, outside_rows, forged_rows : int
    seconds, budget : float
    key_vs_sampled : tuple of float or None
        The key on the forged rows over the key on as many sampled real rows, with its interval
        (set by the forge's protocol, :mod:`enfo_sdk.workflows.protocol`).
    key_rmse : float
        Test RMSE of the key trained on the forged rows.
    mean_only : tuple of float or None
        A model that ignores the features -- it predicts the forged targets' mean -- over the
        key, with its interval: how much better than knowing nothing the key is on these test
        rows. Attackers tuned by CV rarely do worse than it (they can shrink to it), so a target
        above it is out of reach of any bundle on this table (docs/metrics.md, "One protocol").
    predictions : dict of str to ndarray
        The key's (``"key"``) and each attacker's predictions on the test rows (not in
        :meth:`to_json`; the rival dial's paired bootstrap reads them).
    """

    best: str | None
    ratio: tuple[float, float, float] | None
    attackers: dict[str, dict[str, Any]]
    skipped: list[str]
    target: float
    key_vs_full: tuple[float, float, float] | None
    outside: tuple[float, float, float] | None
    test_rows: int
    outside_rows: int
    forged_rows: int
    seconds: float
    budget: float
    key_vs_sampled: tuple[float, float, float] | None = None
    key_rmse: float | None = None
    mean_only: tuple[float, float, float] | None = None
    predictions: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def below_target(self) -> bool:
        return self.ratio is not None and self.ratio[0] < self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "best": self.best, "ratio": _triple(self.ratio), "target": self.target,
            "below_target": self.below_target, "attackers": self.attackers, "skipped": list(self.skipped),
            "key_vs_full": _triple(self.key_vs_full), "key_vs_sampled": _triple(self.key_vs_sampled),
            "outside": _triple(self.outside), "key_rmse": self.key_rmse, "mean_only": _triple(self.mean_only),
            "test_rows": self.test_rows, "outside_rows": self.outside_rows, "forged_rows": self.forged_rows,
            "seconds": self.seconds, "budget": self.budget, "interval": "95% paired bootstrap over the test rows",
        }


def _triple(t):
    return None if t is None else {"value": t[0], "low": t[1], "high": t[2]}


#: Attackers trained at once (threads): most of their time is in compiled code that releases
#: the GIL (forests, libsvm, BLAS), and forging has finished, so both cores are free.
ATTACKER_THREADS = 2


def _run_attackers(names, Xf, yf, Xt, *, seconds: float, seed: int, cv: int = ATTACKER_CV, progress=None):
    """Fit the attackers on (Xf, yf), :data:`ATTACKER_THREADS` at a time, each thread taking the
    next name from ``names``: the first :data:`ATTACKER_THREADS` names always run (so a spent
    budget runs as many as there are threads, whatever the scheduling), a later one only until
    ``seconds`` have passed since the first started, and one that starts finishes. Returns
    ``({name: (predictions on Xt, params)}, skipped)``. Each attacker's result does not depend
    on the threads (its own seeded search)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    todo, lock = list(names), threading.Lock()
    fitted: dict[str, tuple[np.ndarray, dict]] = {}
    skipped: list[str] = []
    t0: list[float] = []

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                name = todo.pop(0)
                # the first `threads` names always run, whichever thread takes them and however
                # late a thread starts; later ones only within the budget
                if len(names) - len(todo) > threads and time.perf_counter() - t0[0] > seconds:
                    skipped.append(name)
                    continue
                if not t0:
                    t0.append(time.perf_counter())
            search = make_attacker(name, len(yf), cv=cv, seed=seed)
            search.fit(Xf, yf)
            with lock:
                fitted[name] = (np.asarray(search.predict(Xt), np.float64),
                                {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()})
                if progress is not None:
                    progress((len(fitted) + len(skipped)) / len(names))

    from threadpoolctl import threadpool_limits

    threads = max(1, min(ATTACKER_THREADS, len(todo)))
    # one BLAS thread per attacker thread: two attackers each driving a BLAS pool as wide as the
    # machine oversubscribe the cores (the quick start's six attackers, same bits either way:
    # 51.5 s with the default pool vs 3.5 s, load ~3.5 on 2 cores; /tmp harness in the commit)
    with warnings.catch_warnings(), threadpool_limits(limits=1):  # both process-wide: set once
        warnings.simplefilter("ignore", ConvergenceWarning)
        with ThreadPoolExecutor(threads, thread_name_prefix="enfo-attacker") as pool:
            for f in [pool.submit(worker) for _ in range(threads)]:
                f.result()  # an attacker's exception is raised here
    return fitted, [n for n in names if n in skipped]


def rivalry_check(spec, X_forged, y_forged, X_test, y_test, *, X_full=None, y_full=None, X_outside=None,
                  y_outside=None, seconds: float = RIVALRY_SECONDS, target: float = RIVALRY_TARGET,
                  names=FAST_ZOO, seed: int = 0, pred_key=None, pred_full=None, cv: int = ATTACKER_CV,
                  progress=None) -> RivalryCheck:
    """Attackers tuned on the forged rows against the key trained on them, on the test rows.

    Parameters
    ----------
    spec : KeySpec
    X_forged, y_forged : array-like of shape (m, n_features), (m,)
    X_test, y_test : array-like of shape (n_test, n_features), (n_test,)
    X_full, y_full : array-like, optional
        All training rows: adds ``key_vs_full``.
    X_outside, y_outside : array-like, optional
        Outside rows (held out, not test rows): adds ``outside``.
    pred_key, pred_full : array-like of shape (n_test,), optional
        The key's predictions on the test rows when trained on the forged rows, and on all
        training rows, when the caller has them already (``enfo-owner forge`` does: the
        full-data fit is its slowest step); each is fitted here otherwise (``pred_full``
        needs ``X_full``).
    seconds : float
        Time after which no further attacker starts.
    target : float
        Ratio below which :attr:`RivalryCheck.below_target` is true.
    names : sequence of str
        Attackers, in the order they run (empty: the key's figures and the outside test only).
    cv : int
        K of the attackers' K-fold grid search.
    progress : callable, optional
        ``progress(fraction)`` as attackers finish.
    """
    t0 = time.perf_counter()
    Xf, yf = np.asarray(X_forged, np.float64), np.asarray(y_forged, np.float64)
    Xt, yt = np.asarray(X_test, np.float64), np.asarray(y_test, np.float64)

    def key_pred(X, y):
        return np.asarray(spec.build().fit(X, y).predict(Xt), np.float64)

    key = key_pred(Xf, yf) if pred_key is None else np.asarray(pred_key, np.float64)
    key_vs_full = outside = None
    if pred_full is None and X_full is not None:
        pred_full = key_pred(np.asarray(X_full, np.float64), np.asarray(y_full, np.float64))
    if pred_full is not None:
        key_vs_full = bootstrap_ratio(key, np.asarray(pred_full, np.float64), yt)
    if X_outside is not None and len(y_outside):
        mixed = key_pred(np.vstack([Xf, np.asarray(X_outside, np.float64)]),
                         np.concatenate([yf, np.asarray(y_outside, np.float64)]))
        outside = bootstrap_ratio(mixed, key, yt)
    fitted, skipped = _run_attackers(names, Xf, yf, Xt, seconds=seconds, seed=seed, cv=cv, progress=progress)
    attackers: dict[str, dict[str, Any]] = {}
    preds: dict[str, np.ndarray] = {}
    for name in names:  # in the zoo's order, whichever finished first
        if name in fitted:
            preds[name], params = fitted[name]
            r = preds[name] - yt
            attackers[name] = {"rmse": float(np.sqrt(np.mean(r * r))), "params": params}
    key_rmse = float(np.sqrt(np.mean((key - yt) ** 2)))
    for a in attackers.values():
        a["ratio"] = a["rmse"] / key_rmse if key_rmse > 0 else None
    best = min(attackers, key=lambda k: attackers[k]["rmse"]) if attackers else None
    ratio = bootstrap_ratio(preds[best], key, yt) if best else None
    return RivalryCheck(
        best=best, ratio=ratio, attackers=attackers, skipped=skipped, target=float(target),
        key_vs_full=key_vs_full, outside=outside, test_rows=len(yt),
        outside_rows=0 if X_outside is None else len(y_outside), forged_rows=len(yf),
        seconds=time.perf_counter() - t0, budget=float(seconds), key_rmse=key_rmse,
        mean_only=bootstrap_ratio(np.full(len(yt), yf.mean()), key, yt) if len(yf) else None,
        predictions={"key": key, **preds},
    )
