"""Forging: gradient descent on m synthetic rows through the key's training.

Objective (DESIGN.md, "Forging objective"), over synthetic rows (Z_s, t_s) in the key's
standardized space, with f_{Z_s,t_s} the key trained on them:

    L = mean_{b in B} (f(z_b) - t_b)^2                                   (all modes)
        + alignment_weight   * S_eps([Z_s, t_s], [Z_B, t_B])             (mode "augment")
        + adaptability_weight * mean_i (f(z_{s,i}) - t_{s,i})^2           (mode "adaptable")

where B is a minibatch of the owner's rows and S_eps the debiased Sinkhorn divergence
(geomloss). Adam updates (Z_s, t_s); every ``eval_every`` steps the key is refitted on the
current rows and scored on a held-out validation split of the owner's rows; the best rows
are kept and forging stops after ``patience`` evaluations without improvement. The base
``rival`` mode has no regulariser: over-fitting the key is the point. A step touches the
owner's data only through the minibatch, so its cost does not grow with the table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ._random import rng as make_rng, torch_generator
from ._validation import check_Xy
from .errors import DataError, ForgeError
from .spec import KeySpec

Mode = Literal["rival", "augment", "adaptable"]
Init = Literal["kmeans", "sample", "noise"]


@dataclass(frozen=True)
class ForgeProgress:
    """What ``callback`` receives after each evaluation."""

    step: int
    steps: int
    loss: float
    val_rmse: float
    best_val_rmse: float
    elapsed: float


@dataclass
class ForgeResult:
    """The forged rows and how they were obtained.

    Attributes
    ----------
    data : DataFrame of shape (rows, n_features + 1)
        Forged rows in original units, feature columns then the target.
    spec : KeySpec
        The key the rows were forged for.
    history : DataFrame
        One row per evaluation: step, loss (minibatch objective, mean since the previous
        evaluation), val_rmse (original units), elapsed seconds.
    metrics : dict
        best_val_rmse, best_step, steps_run, stopped_early, seconds, rows, n_owner_rows.
    settings : dict
        Every forging setting, as recorded in a bundle's provenance.
    """

    data: pd.DataFrame
    spec: KeySpec
    history: pd.DataFrame
    metrics: dict[str, Any]
    settings: dict[str, Any]
    feature_names: list[str] = field(default_factory=list)
    target_name: str = "y"

    @property
    def X(self) -> np.ndarray:
        return self.data[self.feature_names].to_numpy(dtype=np.float64)

    @property
    def y(self) -> np.ndarray:
        return self.data[self.target_name].to_numpy(dtype=np.float64)

    def model(self):
        """The key model trained on the forged rows (what a partner rebuilds)."""
        return self.spec.build().fit(self.data[self.feature_names], self.data[self.target_name])


def _initial_rows(init: str, Z: np.ndarray, t: np.ndarray, rows: int, seed: int) -> np.ndarray:
    D = np.column_stack([Z, t])
    g = make_rng(seed)
    if init == "kmeans":
        from sklearn.cluster import KMeans

        sub = D if len(D) <= 20000 else D[g.choice(len(D), 20000, replace=False)]
        km = KMeans(n_clusters=rows, n_init=1, random_state=int(seed)).fit(sub)
        return np.asarray(km.cluster_centers_, dtype=np.float64)
    if init == "sample":
        return D[g.choice(len(D), rows, replace=False)].copy()
    if init == "noise":
        return g.standard_normal((rows, D.shape[1]))
    raise ForgeError(f"unknown init {init!r}; choose kmeans, sample or noise")


def forge(
    X,
    y,
    spec: KeySpec,
    rows: int = 100,
    mode: Mode = "rival",
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 0.02,
    init: Init = "kmeans",
    validation: float = 0.2,
    seed: int = 0,
    callback: Callable[[ForgeProgress], None] | None = None,
    *,
    eval_every: int = 25,
    patience: int = 20,
    alignment_weight: float = 1.0,
    adaptability_weight: float = 1.0,
    blur: float = 0.05,
    device: str | None = None,
    threads: int | None = None,
) -> ForgeResult:
    """Forge ``rows`` synthetic rows that train ``spec``'s key as well as the owner's rows.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The owner's training rows (column names are kept).
    y : Series or array-like of shape (n_samples,)
    spec : KeySpec
        The key, usually from :func:`enfo_sdk.encapsulate`.
    rows : int
        Synthetic rows m; must be smaller than the training rows left after validation.
    mode : {"rival", "augment", "adaptable"}
    steps : int
        Maximum Adam steps.
    batch_size : int
        Owner rows per step.
    lr : float
        Adam learning rate (standardized units).
    init : {"kmeans", "sample", "noise"}
        Starting rows: k-means centroids of the owner's rows, a random sample of them, or
        standard normal noise.
    validation : float in (0, 1)
        Fraction of the owner's rows held out for early stopping.
    seed : int
    callback : callable, optional
        Called with a :class:`ForgeProgress` after every evaluation (for progress bars).
    eval_every, patience : int
        Evaluation period in steps and early-stopping patience in evaluations.
    alignment_weight, adaptability_weight : float
        Weights of the ``augment`` / ``adaptable`` terms.
    blur : float
        Sinkhorn blur (standardized units) for ``augment``.
    device : str, optional
        torch device; default "cuda" when available, else "cpu".
    threads : int, optional
        CPU threads for torch while forging (restored afterwards). Default: 1 for up to
        300 rows -- a step is then a chain of small products that extra threads only slow
        down (measured: 3.7 ms per step on one thread, 580 ms on two when the machine is
        busy) -- and torch's own setting above that.

    Returns
    -------
    ForgeResult
    """
    small = isinstance(rows, (int, np.integer)) and rows <= 300
    n_threads = threads if threads is not None else (1 if small else None)
    if n_threads is None:
        return _forge(X, y, spec, rows, mode, steps, batch_size, lr, init, validation, seed, callback,
                      eval_every, patience, alignment_weight, adaptability_weight, blur, device)
    before = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        return _forge(X, y, spec, rows, mode, steps, batch_size, lr, init, validation, seed, callback,
                      eval_every, patience, alignment_weight, adaptability_weight, blur, device)
    finally:
        torch.set_num_threads(before)


def _forge(X, y, spec, rows, mode, steps, batch_size, lr, init, validation, seed, callback,
           eval_every, patience, alignment_weight, adaptability_weight, blur, device) -> ForgeResult:
    Xa, ya, names, target = check_Xy(X, y, min_rows=2)
    if spec.n_features != Xa.shape[1]:
        raise DataError(f"the key expects {spec.n_features} features, X has {Xa.shape[1]}")
    if mode not in ("rival", "augment", "adaptable"):
        raise ForgeError(f"unknown mode {mode!r}; choose rival, augment or adaptable")
    if not 0.0 < validation < 1.0:
        raise ForgeError(f"validation must be a fraction in (0, 1), got {validation}")
    if int(steps) < 1 or int(batch_size) < 1 or not lr > 0 or int(eval_every) < 1:
        raise ForgeError("steps, batch_size and eval_every must be >= 1 and lr > 0")
    n = len(ya)
    n_val = max(1, int(round(validation * n)))
    n_train = n - n_val
    if not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ForgeError(f"rows must be a positive whole number, got {rows!r}")
    if rows >= n_train:
        raise ForgeError(
            f"rows ({rows}) must be smaller than the owner's training rows left after the "
            f"validation split ({n_train} of {n})"
        )
    settings = dict(
        rows=int(rows), mode=mode, steps=int(steps), batch_size=int(batch_size), lr=float(lr),
        init=init, validation=float(validation), seed=int(seed), eval_every=int(eval_every),
        patience=int(patience), alignment_weight=float(alignment_weight) if mode == "augment" else 0.0,
        adaptability_weight=float(adaptability_weight) if mode == "adaptable" else 0.0, blur=float(blur),
    )
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pre = spec.preprocessing
    key = spec.key
    params = spec.hyperparameters
    Z = pre.transform_X(Xa)
    t = pre.transform_y(ya)
    perm = make_rng(seed).permutation(n)
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    Ztr = torch.as_tensor(Z[tr_idx], device=dev)
    ttr = torch.as_tensor(t[tr_idx], device=dev)
    Zval = torch.as_tensor(Z[val_idx], device=dev)
    tval = torch.as_tensor(t[val_idx], device=dev)
    d = Z.shape[1]

    start = _initial_rows(init, Z[tr_idx], t[tr_idx], int(rows), seed)
    S = torch.tensor(start, dtype=torch.float64, device=dev, requires_grad=True)
    opt = torch.optim.Adam([S], lr=lr)
    gen = torch_generator(seed)
    sinkhorn = None
    if mode == "augment":
        from geomloss import SamplesLoss

        sinkhorn = SamplesLoss("sinkhorn", p=2, blur=blur, debias=True)

    def val_rmse() -> float:
        with torch.no_grad():
            f = key.torch_fit(S[:, :d], S[:, d], params)
            r = f(Zval) - tval
            return float(torch.sqrt((r * r).mean())) * pre.target_scale

    history = []
    best = val_rmse()
    best_rows = S.detach().clone()
    best_step = 0
    history.append(dict(step=0, loss=math.nan, val_rmse=best, elapsed=0.0))
    stale = 0
    t0 = time.perf_counter()
    loss_acc, loss_n = 0.0, 0
    step = 0
    stopped_early = False
    for step in range(1, int(steps) + 1):
        idx = torch.randint(0, n_train, (min(batch_size, n_train),), generator=gen).to(dev)
        Zb, tb = Ztr[idx], ttr[idx]
        opt.zero_grad(set_to_none=True)
        Zs, ts = S[:, :d], S[:, d]
        f = key.torch_fit(Zs, ts, params)
        r = f(Zb) - tb
        loss = (r * r).mean()
        if mode == "augment":
            loss = loss + alignment_weight * sinkhorn(S, torch.column_stack([Zb, tb]))
        elif mode == "adaptable":
            rs = f(Zs) - ts
            loss = loss + adaptability_weight * (rs * rs).mean()
        if not torch.isfinite(loss):
            raise ForgeError(f"forging diverged at step {step} (loss {float(loss)}); lower lr (now {lr})")
        loss.backward()
        opt.step()
        loss_acc += float(loss.detach())
        loss_n += 1
        if step % eval_every == 0 or step == steps:
            v = val_rmse()
            if v < best:
                best, best_rows, best_step, stale = v, S.detach().clone(), step, 0
            else:
                stale += 1
            elapsed = time.perf_counter() - t0
            history.append(dict(step=step, loss=loss_acc / loss_n, val_rmse=v, elapsed=elapsed))
            loss_acc, loss_n = 0.0, 0
            if callback is not None:
                callback(ForgeProgress(step, int(steps), history[-1]["loss"], v, best, elapsed))
            if stale >= patience:
                stopped_early = True
                break
    seconds = time.perf_counter() - t0
    rows_std = best_rows.cpu().numpy()
    Xf = pre.inverse_X(rows_std[:, :d])
    yf = pre.inverse_y(rows_std[:, d])
    data = pd.DataFrame(Xf, columns=names)
    data[target] = yf
    metrics = dict(
        best_val_rmse=best, best_step=best_step, steps_run=step, stopped_early=stopped_early,
        seconds=seconds, rows=int(rows), n_owner_rows=n, n_validation_rows=n_val,
    )
    return ForgeResult(
        data=data, spec=spec, history=pd.DataFrame(history), metrics=metrics,
        settings=settings, feature_names=names, target_name=target,
    )
