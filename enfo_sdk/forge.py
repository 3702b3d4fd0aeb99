"""Forging: gradient descent on m synthetic rows through the key's training.

Objective (DESIGN.md, "Forging objective"), over synthetic rows (Z_s, t_s) in the key's
standardized space, with f_{Z_s,t_s} the key trained on them:

    L = mean_{b in B} (f(z_b) - t_b)^2                                   (all modes)
        + alignment_weight   * S_eps([Z_s, t_s], [Z_B, t_B])             (mode "augment")
        + adaptability_weight * mean_i (f(z_{s,i}) - t_{s,i})^2           (mode "adaptable")
        - rival_weight * log mean_{b in B} (g(z_b) - t_b)^2               (mode "rival")
        + penalty(ctx)                             (optional; Python API, see :func:`forge`)

where B is a minibatch of the owner's rows, S_eps the debiased Sinkhorn divergence
(geomloss) and g a surrogate attacker trained on the rows: the Nadaraya-Watson kernel smoother
g(z) = sum_i w_i(z) t_{s,i}, w(z) = softmax_i(-|z - z_{s,i}|^2 / (2 h^2)), h = RIVAL_SMOOTHER_SCALE
x the key's bandwidth (see :func:`rival_surrogate_mse` for why this one).

Adam updates (Z_s, t_s); every ``eval_every`` steps the key is refitted on the current rows and
scored on a held-out validation split of the owner's rows; the rows with the best *validation
objective* are kept and forging stops after ``patience`` evaluations without improvement. The
validation objective is the key's validation RMSE in mode ``rival`` (with or without
``rival_weight``: the key's accuracy decides) and, in the other modes, the objective above with
the minibatch replaced by the validation rows: mean squared validation error plus
alignment_weight x S_eps(rows, the first VAL_ALIGN_ROWS validation rows), or plus
adaptability_weight x the self-fit term. (Keeping the best-RMSE rows there kept rows from the
first few dozen steps, before the mode's term had acted: on Friedman #3 the kept step was 50 of
550 at alignment weights 1 and 10.) The base ``rival`` mode has no regulariser unless
``rival_weight`` > 0: over-fitting the key is the point. A step touches the owner's data only
through the minibatch, so its cost does not grow with the table.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ._rows import LabelledRows
from ._threads import torch_threads
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


@dataclass(frozen=True)
class PenaltyContext:
    """What a custom ``penalty`` (see :func:`forge`) receives at every step.

    Everything is a float64 tensor in the key's standardized space (``preprocessing``), on the
    forging device, and part of the step's autograd graph where it depends on the rows.

    Attributes
    ----------
    Z, t : Tensor of shape (rows, n_features), (rows,)
        The synthetic rows being forged (differentiable).
    fit : callable
        The key trained on (Z, t): ``fit(Zq) -> predictions`` (differentiable).
    Zb, tb : Tensor
        This step's minibatch of the owner's training rows.
    key_fit : callable
        ``key_fit(Z, t) -> predict``: the key's differentiable training on any rows, e.g. the
        synthetic rows mixed with owner rows, or a fold of them.
    generator : torch.Generator
        The run's seeded generator (draws from it keep a run reproducible and resumable).
    step : int
    """

    Z: torch.Tensor
    t: torch.Tensor
    fit: Callable[[torch.Tensor], torch.Tensor]
    Zb: torch.Tensor
    tb: torch.Tensor
    key_fit: Callable[[torch.Tensor, torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]
    generator: torch.Generator
    step: int


@dataclass
class ForgeResult(LabelledRows):
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
    lr: float | None = None,
    init: Init = "kmeans",
    validation: float = 0.2,
    seed: int = 0,
    callback: Callable[[ForgeProgress], None] | None = None,
    *,
    eval_every: int = 25,
    patience: int = 20,
    alignment_weight: float = 1.0,
    adaptability_weight: float = 1.0,
    rival_weight: float = 0.0,
    blur: float = 0.05,
    device: str | None = None,
    threads: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    init_rows=None,
    distributed: bool = False,
    penalty: Callable[[PenaltyContext], torch.Tensor] | None = None,
) -> ForgeResult:
    """Forge ``rows`` synthetic rows that train ``spec``'s key as well as the owner's rows.

    Parameters
    ----------
    X : DataFrame, array-like of shape (n_samples, n_features), or a minibatch source
        The owner's training rows (column names are kept), or a source such as
        :class:`enfo_sdk.stream.ParquetSource` (then ``y`` is None, the source's own
        validation split replaces ``validation``, and each step reads only its minibatch).
    y : Series or array-like of shape (n_samples,), or None with a source
    spec : KeySpec
        The key, usually from :func:`enfo_sdk.encapsulate`.
    rows : int
        Synthetic rows m; must be smaller than the training rows left after validation.
    mode : {"rival", "augment", "adaptable"}
    steps : int
        Maximum Adam steps.
    batch_size : int
        Owner rows per step (the global batch under ``distributed``).
    lr : float, optional
        Adam learning rate (standardized units). Default: 0.01 times the key's length scale
        (its ``bandwidth`` for kernel keys, 1 otherwise) -- rows must move on the scale on which
        the key's kernel varies. Measured on CDNOW (bandwidth 32): a fixed 0.02 left forged rows
        18% above the full-data RMSE, 0.32 within 1%; on Friedman #3 (bandwidth 2) the rule gives
        the 0.02 that works there. Updates from ``init_rows`` default to a quarter of that
        (:data:`UPDATE_LR_FACTOR`).
    init : {"kmeans", "sample", "noise"}
        Starting rows: k-means centroids of the owner's rows, a random sample of them, or
        standard normal noise.
    validation : float in (0, 1)
        Fraction of the owner's rows held out for early stopping (in-memory data).
    seed : int
    callback : callable, optional
        Called with a :class:`ForgeProgress` after every evaluation (for progress bars).
    eval_every, patience : int
        Evaluation period in steps and early-stopping patience in evaluations.
    alignment_weight, adaptability_weight : float
        Weights of the ``augment`` / ``adaptable`` terms.
    rival_weight : float
        Mode ``rival`` only (default 0, the paper's base objective): weight of the term that
        *raises* the held-out error of a surrogate attacker trained on the rows (module
        docstring; trade-off and measured limits in docs/keys.md, "Rival strength").
    blur : float
        Sinkhorn blur (standardized units) for ``augment``.
    device : str, optional
        torch device; default "cuda" when available, else "cpu".
    threads : int, optional
        CPU threads for torch while forging (restored afterwards). Default: 1 for up to
        300 rows -- a step is then a chain of small products that extra threads only slow
        down (measured: 3.7 ms per step on one thread, 580 ms on two when the machine is
        busy) -- and torch's own setting above that.
    checkpoint : str or Path, optional
        Checkpoint file (:mod:`enfo_sdk.checkpoint`), written atomically every
        ``checkpoint_every`` steps and when forging ends (rank 0 only).
    checkpoint_every : int
    resume : bool
        Continue from ``checkpoint`` when it exists (a fresh start otherwise). The resumed run
        yields exactly the rows and history (but ``elapsed``) of an uninterrupted run; a
        checkpoint made with other settings, key, data or initial rows raises ForgeError.
    init_rows : DataFrame or array-like of shape (rows, n_features + 1), optional
        Starting rows in original units, features then target (e.g. a previous bundle's
        rows, :func:`rows_from_bundle`); replaces ``init``.
    distributed : bool
        Data-parallel forging over the active ``torch.distributed`` process group
        (:mod:`enfo_sdk.distributed`); needs a source holding this rank's shard.
    penalty : callable, optional
        A term of your own added to every step's objective: ``penalty(ctx)`` gets a
        :class:`PenaltyContext` and returns a scalar tensor (weight included; return a
        negative term to *raise* something). It shapes the path only: the rows kept are chosen
        by the mode's validation objective as without it. Python API only -- a contract cannot
        name code, so a bundle forged with one records ``settings["penalty"]`` (the callable's
        qualified name and the plain values it closes over, :func:`penalty_name`) and nothing
        else about it. Under ``distributed`` each rank's value is
        divided by the number of ranks, like the built-in terms.

    Returns
    -------
    ForgeResult
    """
    small = isinstance(rows, (int, np.integer)) and rows <= 300
    n_threads = threads if threads is not None else (1 if small else None)
    with torch_threads(n_threads):
        return _forge(X, y, spec, rows, mode, steps, batch_size, lr, init, validation, seed, callback,
                      eval_every, patience, alignment_weight, adaptability_weight, rival_weight,
                      blur, device, checkpoint, checkpoint_every, resume, init_rows, distributed,
                      penalty)


def _scalar_repr(v) -> str | None:
    if isinstance(v, (bool, int, float, str, np.integer, np.floating)) or v is None:
        return repr(v.item() if isinstance(v, (np.integer, np.floating)) else v)
    return None


def penalty_name(penalty) -> str:
    """How a ``penalty`` is recorded in the settings (and so in the checkpoint fingerprint and a
    bundle's manifest): its qualified name plus the plain values it closes over or is bound to.

    ``mixing_penalty(0.3)`` returning a closure ``mixing`` is recorded as
    ``"mixing_penalty.<locals>.mixing(w=0.3)"``, so a checkpoint made at another weight is
    refused; ``functools.partial(f, w=0.3)`` as ``"f[w=0.3]"``. Values other than numbers,
    strings, booleans and None are named by type only: such a penalty changed in them is *not*
    told apart.
    """
    import functools

    if isinstance(penalty, functools.partial):
        inner = penalty_name(penalty.func)
        bound = [_scalar_repr(a) or type(a).__name__ for a in penalty.args]
        bound += [f"{k}={_scalar_repr(v) or type(v).__name__}" for k, v in sorted(penalty.keywords.items())]
        return f"{inner}[{', '.join(bound)}]"
    name = getattr(penalty, "__qualname__", None) or type(penalty).__qualname__
    code, cells = getattr(penalty, "__code__", None), getattr(penalty, "__closure__", None)
    if code is not None and cells:
        values = []
        for var, cell in zip(code.co_freevars, cells):
            try:
                v = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(v) or isinstance(v, type(functools)):
                continue  # helpers and modules, not settings
            values.append(f"{var}={_scalar_repr(v) or type(v).__name__}")
        if values:
            name += f"({', '.join(values)})"
    return name


def default_lr(spec: KeySpec) -> float:
    """0.01 x the key's length scale (``bandwidth``, or 1 for keys without one)."""
    return 0.01 * float(spec.hyperparameters.get("bandwidth", 1.0))


#: Default learning rate of an update (``init_rows``, ``forge --from``) as a fraction of
#: :func:`default_lr`. Rows that were already forged for this key sit near an optimum, and a
#: fresh run's step size throws them off it. Measured with ``python benchmarks/scale.py
#: --skip-stream`` (Friedman #3, old and new data two 5,000-row draws, 100 rows, bandwidth 2):
#: at the fresh rate 0.02 an update first reached the restart's best validation RMSE at step
#: 750, against the restart's 460; at 0.005 (this factor) at steps 40, 10 and 10 on three data
#: pairs, against the restart's 460, 740 and 1040, and it ended lower on all three.
UPDATE_LR_FACTOR = 0.25


#: Validation rows (the first of the split) that the ``augment`` mode's early stopping aligns to.
VAL_ALIGN_ROWS = 2048

#: Bandwidth of the rival surrogate (the Nadaraya-Watson smoother) as a multiple of the key's.
RIVAL_SMOOTHER_SCALE = 0.5


def rival_surrogate_mse(Zs: torch.Tensor, ts: torch.Tensor, Zq: torch.Tensor, tq: torch.Tensor,
                        h: float) -> torch.Tensor:
    """Mean squared error on (Zq, tq) of the Nadaraya-Watson smoother trained on (Zs, ts).

    The surrogate attacker of ``rival_weight``. With 100 forged rows the strongest real
    attacker on Friedman #3 is a small MLP (docs/metrics.md): the rows are, to 0.002 RMSE,
    samples of the key's own fitted function, and any smooth learner interpolates them.
    Raising a *local averaging* learner's error pushes the rows so that neighbourhood
    averages of the targets mislead, while the key's global solve still reads them right.
    Differentiable surrogates tried first and dropped (docs/keys.md, "Rival strength"):
    kernel ridge at 1/4, 1/2 and 2x the key's bandwidth plus ridge regression (the key got
    worse, the real attackers did not), the key's own training residual, and random-feature
    ReLU ridge.
    """
    d2 = torch.cdist(Zq, Zs).pow(2)
    w = torch.softmax(-d2 / (2.0 * h * h), dim=1)
    r = w @ ts - tq
    return (r * r).mean()


def rows_from_bundle(path: str | Path, trust, partner: str | None = None) -> tuple[pd.DataFrame, KeySpec, Any]:
    """A verified bundle's rows, key and manifest: the start of an update (``forge --from``).

    Parameters
    ----------
    path : str or Path
        The previous bundle.
    trust : TrustStore, public key, or path(s) of public key / trust-store files
        The bundle must verify against these keys (e.g. the owner's own ``owner.key.pub``).
    partner : str, optional
        Needed when the bundle names an intended partner.

    Returns
    -------
    data : DataFrame of shape (rows, n_features + 1)
    spec : KeySpec
    manifest : Manifest
    """
    from .bundle import verify
    from .signing import TrustStore, load_trust

    if not isinstance(trust, TrustStore):
        if hasattr(trust, "public_bytes"):
            store = TrustStore()
            store.add("owner", trust)
            trust = store
        else:
            trust = load_trust(trust)
    verified = verify(Path(path), trust, partner=partner)
    return verified.data.copy(), verified.manifest.key, verified.manifest


class _ArrayData:
    """In-memory owner rows: a seeded validation split, minibatches by torch.randint."""

    reduce = False

    def __init__(self, X, y, spec: KeySpec, validation: float, seed: int, dev) -> None:
        Xa, ya, names, target = check_Xy(X, y, min_rows=2)
        if spec.n_features != Xa.shape[1]:
            raise DataError(f"the key expects {spec.n_features} features, X has {Xa.shape[1]}")
        if not 0.0 < validation < 1.0:
            raise ForgeError(f"validation must be a fraction in (0, 1), got {validation}")
        self.names, self.target = names, target
        n = len(ya)
        self.n_owner = n
        self.n_val = max(1, int(round(validation * n)))
        self.n_train = n - self.n_val
        pre = spec.preprocessing
        Z = pre.transform_X(Xa)
        t = pre.transform_y(ya)
        perm = make_rng(seed).permutation(n)
        val_idx, tr_idx = perm[:self.n_val], perm[self.n_val:]
        self.Ztr = torch.as_tensor(Z[tr_idx], device=dev)
        self.ttr = torch.as_tensor(t[tr_idx], device=dev)
        self.Zval = torch.as_tensor(Z[val_idx], device=dev)
        self.tval = torch.as_tensor(t[val_idx], device=dev)
        self.dev = dev
        self._Z, self._t = Z, t
        self._tr_idx = tr_idx

    def init_rows(self, init: str, rows: int, seed: int) -> np.ndarray:
        return _initial_rows(init, self._Z[self._tr_idx], self._t[self._tr_idx], rows, seed)

    def batch(self, step: int, size: int, seed: int, gen):
        idx = torch.randint(0, self.n_train, (min(size, self.n_train),), generator=gen).to(self.dev)
        return self.Ztr[idx], self.ttr[idx]

    def batch_loss(self, r, size: int):
        return (r * r).mean()

    def val_rmse(self, fit, scale: float) -> float:
        r = fit(self.Zval) - self.tval
        return float(torch.sqrt((r * r).mean())) * scale

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for a in (self.Ztr, self.ttr, self.Zval, self.tval):
            h.update(np.ascontiguousarray(a.cpu().numpy()).tobytes())
        return h.hexdigest()

    def settings(self) -> dict:
        return {}


class _SourceData:
    """A minibatch source (e.g. ParquetSource): batches by step, its own validation rows."""

    def __init__(self, source, spec: KeySpec, dev, distributed: bool) -> None:
        if spec.n_features != source.n_features:
            raise DataError(f"the key expects {spec.n_features} features, the source has {source.n_features}")
        self.source, self.pre, self.dev = source, spec.preprocessing, dev
        self.names, self.target = list(source.feature_names), source.target_name
        self.n_train = int(source.n_train)
        self.n_owner = int(source.n_rows)
        self.reduce = bool(distributed)
        Xv, yv = source.validation_rows()
        self.Zval = torch.as_tensor(self.pre.transform_X(Xv), device=dev)
        self.tval = torch.as_tensor(self.pre.transform_y(yv), device=dev)
        self.n_val = int(source.n_validation)
        if self.reduce:
            from .distributed import world

            rank, size = world()
            if getattr(source, "world", None) != size or list(getattr(source, "ranks", [])) != [rank]:
                raise ForgeError(
                    f"distributed forging on {size} ranks needs this rank's shard: a source with "
                    f"world={size} and ranks=[{rank}] (enfo_sdk.distributed.shard_source)"
                )

    def init_rows(self, init: str, rows: int, seed: int) -> np.ndarray:
        Xs, ys = self.source.sample(20000, seed)
        Z = self.pre.transform_X(Xs.to_numpy(np.float64))
        t = self.pre.transform_y(ys.to_numpy(np.float64))
        return _initial_rows(init, Z, t, rows, seed)

    def batch(self, step: int, size: int, seed: int, gen):
        Xb, yb = self.source.batch(step, size, seed)
        return (torch.as_tensor(self.pre.transform_X(Xb), device=self.dev),
                torch.as_tensor(self.pre.transform_y(yb), device=self.dev))

    def batch_loss(self, r, size: int):
        return (r * r).sum() / size

    def val_rmse(self, fit, scale: float) -> float:
        r = fit(self.Zval) - self.tval
        acc = torch.stack([(r * r).sum(), torch.tensor(float(len(r)), dtype=r.dtype, device=r.device)])
        if self.reduce:
            from .distributed import all_reduce_sum

            all_reduce_sum(acc)
        return math.sqrt(float(acc[0]) / float(acc[1])) * scale

    def fingerprint(self) -> str:
        fp = getattr(self.source, "fingerprint", None)
        return str(fp()) if callable(fp) else type(self.source).__name__

    def settings(self) -> dict:
        d = getattr(self.source, "describe", None)
        return dict(d()) if callable(d) else {}


def _start_rows(init_rows, data, spec: KeySpec, rows: int) -> np.ndarray:
    """``init_rows`` (original units, features then target) in standardized space."""
    if isinstance(init_rows, pd.DataFrame):
        cols = [*data.names, data.target]
        missing = [c for c in cols if c not in init_rows.columns]
        if missing:
            raise ForgeError(f"init_rows lacks column(s) {missing}; it has {list(init_rows.columns)}")
        A = init_rows[cols].to_numpy(dtype=np.float64)
    else:
        A = np.asarray(init_rows, dtype=np.float64)
    d = spec.n_features
    if A.ndim != 2 or A.shape[1] != d + 1:
        raise ForgeError(f"init_rows must have shape (rows, {d + 1}), got {A.shape}")
    if A.shape[0] != rows:
        raise ForgeError(f"init_rows has {A.shape[0]} rows but rows={rows}")
    if not np.isfinite(A).all():
        raise ForgeError("init_rows holds missing or infinite values")
    pre = spec.preprocessing
    return np.column_stack([pre.transform_X(A[:, :d]), pre.transform_y(A[:, d])])


def _fingerprint(settings: dict, spec: KeySpec, data, start: np.ndarray | None, world: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(spec.model_dump_json().encode())
    h.update(data.fingerprint().encode())
    h.update(str(world).encode())
    if start is not None:
        h.update(np.ascontiguousarray(start).tobytes())
    return h.hexdigest()


def _forge(X, y, spec, rows, mode, steps, batch_size, lr, init, validation, seed, callback,
           eval_every, patience, alignment_weight, adaptability_weight, rival_weight, blur, device,
           checkpoint, checkpoint_every, resume, init_rows, distributed, penalty=None) -> ForgeResult:
    from .stream import is_source

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if is_source(X):
        if y is not None:
            raise ForgeError("pass y=None with a minibatch source (it holds the target)")
        data = _SourceData(X, spec, dev, distributed)
    else:
        if distributed:
            raise ForgeError("distributed forging reads a sharded source (enfo_sdk.distributed.shard_source), not arrays")
        data = _ArrayData(X, y, spec, validation, seed, dev)
    if mode not in ("rival", "augment", "adaptable"):
        raise ForgeError(f"unknown mode {mode!r}; choose rival, augment or adaptable")
    if not (isinstance(rival_weight, (int, float, np.integer, np.floating)) and math.isfinite(rival_weight)
            and rival_weight >= 0):
        raise ForgeError(f"rival_weight must be a finite number >= 0, got {rival_weight!r}")
    if rival_weight > 0 and mode != "rival":
        raise ForgeError(f"rival_weight applies to mode 'rival' only (mode is {mode!r}); leave it at 0")
    if penalty is not None and not callable(penalty):
        raise ForgeError(f"penalty must be a callable taking a PenaltyContext, got {type(penalty).__name__}")
    if lr is None:
        lr = default_lr(spec) * (UPDATE_LR_FACTOR if init_rows is not None else 1.0)
    if int(steps) < 1 or int(batch_size) < 1 or not lr > 0 or int(eval_every) < 1:
        raise ForgeError("steps, batch_size and eval_every must be >= 1 and lr > 0")
    if int(checkpoint_every) < 1:
        raise ForgeError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if resume and checkpoint is None:
        raise ForgeError("resume=True needs checkpoint=PATH")
    n, n_val, n_train = data.n_owner, data.n_val, data.n_train
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
        adaptability_weight=float(adaptability_weight) if mode == "adaptable" else 0.0,
        rival_weight=float(rival_weight) if mode == "rival" else 0.0, blur=float(blur),
    )
    if penalty is not None:
        settings["penalty"] = penalty_name(penalty)
    if hasattr(data, "source"):
        settings["validation"] = float(getattr(data.source, "validation", validation))
    settings.update(data.settings())
    n_world, rank = 1, 0
    if data.reduce:
        from .distributed import world as _world

        rank, n_world = _world()
        settings["world_size"] = n_world
    pre = spec.preprocessing
    key = spec.key
    params = spec.hyperparameters
    d = spec.n_features

    given = None if init_rows is None else _start_rows(init_rows, data, spec, int(rows))
    if given is not None:
        settings["init"] = "rows"
    fingerprint = _fingerprint(settings, spec, data, given, n_world)
    state = None
    if resume and Path(checkpoint).exists():
        from .checkpoint import load_checkpoint

        arrays, state = load_checkpoint(checkpoint)
        if state.get("fingerprint") != fingerprint:
            raise ForgeError(
                f"{checkpoint}: the checkpoint belongs to another run (different settings, key, "
                f"data or initial rows); delete it or drop resume"
            )
        start = arrays["rows"]
    elif given is not None:
        start = given
    else:
        start = data.init_rows(init, int(rows), seed)
    if data.reduce:  # every rank must resume from the same step (checkpoints on a shared disk)
        from .distributed import all_reduce_sum

        mine = [1.0 if state is not None else 0.0, float(state["step"]) if state is not None else 0.0]
        total = all_reduce_sum(torch.tensor(mine, dtype=torch.float64)).tolist()
        if total != [mine[0] * n_world, mine[1] * n_world]:
            raise ForgeError(
                f"ranks disagree on resuming from {checkpoint}: every rank must read the same "
                f"checkpoint (put it on a shared file system)"
            )
    S = torch.tensor(start, dtype=torch.float64, device=dev, requires_grad=True)
    if data.reduce and state is None:
        from .distributed import broadcast

        with torch.no_grad():
            broadcast(S.data, 0)
    opt = torch.optim.Adam([S], lr=lr)
    gen = torch_generator(seed)
    sinkhorn = None
    smoother = RIVAL_SMOOTHER_SCALE * float(params.get("bandwidth", 1.0))
    if mode == "augment":
        from geomloss import SamplesLoss

        sinkhorn = SamplesLoss("sinkhorn", p=2, blur=blur, debias=True)

    val_rows = None
    if mode == "augment":  # the alignment term's validation counterpart
        val_rows = torch.column_stack([data.Zval, data.tval])[:VAL_ALIGN_ROWS]

    def validate() -> tuple[float, float]:
        """(validation RMSE in original units, validation objective): the rows kept are those
        with the lowest objective (module docstring)."""
        with torch.no_grad():
            f = key.torch_fit(S[:, :d], S[:, d], params)
            v = data.val_rmse(f, pre.target_scale)
            if mode == "rival":
                return v, v
            if mode == "augment":
                extra = alignment_weight * sinkhorn(S, val_rows)
            else:
                rs = f(S[:, :d]) - S[:, d]
                extra = adaptability_weight * (rs * rs).mean()
            if data.reduce:  # every rank must keep the same rows
                from .distributed import all_reduce_sum

                extra = all_reduce_sum(extra.reshape(1).clone()) / n_world
            return v, (v / pre.target_scale) ** 2 + float(extra)

    stale = 0
    loss_acc, loss_n = 0.0, 0
    step = 0
    stopped_early = False
    first = 1
    done_before = 0.0
    if state is None:
        history = []
        best_rmse, best = validate()
        best_rows = S.detach().clone()
        best_step = 0
        history.append(dict(step=0, loss=math.nan, val_rmse=best_rmse, val_objective=best, elapsed=0.0))
    else:
        history = [{k: (math.nan if v is None else v) for k, v in h.items()} for h in state["history"]]
        best, best_step, stale = float(state["best"]), int(state["best_step"]), int(state["stale"])
        best_rmse = float(state.get("best_rmse", best))
        best_rows = torch.tensor(arrays["best_rows"], dtype=torch.float64, device=dev)
        loss_acc, loss_n = float(state["loss_acc"]), int(state["loss_n"])
        step, first = int(state["step"]), int(state["step"]) + 1
        stopped_early = bool(state["stopped_early"])
        done_before = float(state["elapsed"])
        gen.set_state(torch.from_numpy(arrays["generator"].copy()))
        if "adam_exp_avg" in arrays:
            sd = opt.state_dict()
            sd["state"] = {0: {
                "step": torch.tensor(float(state["adam_step"])),
                "exp_avg": torch.tensor(arrays["adam_exp_avg"], device=dev),
                "exp_avg_sq": torch.tensor(arrays["adam_exp_avg_sq"], device=dev),
            }}
            opt.load_state_dict(sd)
        if state["finished"]:
            first = int(steps) + 1  # nothing left to run
    t0 = time.perf_counter() - done_before

    def save(finished: bool) -> None:
        if checkpoint is None:
            return
        if rank == 0:
            write(finished)
        if data.reduce:  # no rank runs ahead of the file it may resume from
            import torch.distributed as dist

            dist.barrier()

    def write(finished: bool) -> None:
        from .checkpoint import save_checkpoint

        arrays_out = {"rows": S.detach().cpu().numpy(), "best_rows": best_rows.cpu().numpy(),
                      "generator": gen.get_state().numpy()}
        st = opt.state.get(S)
        adam_step = 0.0
        if st:
            arrays_out["adam_exp_avg"] = st["exp_avg"].cpu().numpy()
            arrays_out["adam_exp_avg_sq"] = st["exp_avg_sq"].cpu().numpy()
            adam_step = float(st["step"])
        save_checkpoint(checkpoint, arrays_out, dict(
            fingerprint=fingerprint, step=step, adam_step=adam_step, best=best, best_rmse=best_rmse,
            best_step=best_step,
            stale=stale, loss_acc=loss_acc, loss_n=loss_n, history=history,
            elapsed=time.perf_counter() - t0, finished=finished, stopped_early=stopped_early,
            settings=settings,
        ))

    # Each rank adds 1/W of every term to its loss (the ranks' gradients are summed); with one
    # process the factor is exactly 1.
    scale_extra = 1.0 / n_world
    w_align, w_adapt, w_rival = (w * scale_extra for w in (alignment_weight, adaptability_weight, rival_weight))
    for step in range(first, int(steps) + 1):
        Zb, tb = data.batch(step, int(batch_size), int(seed), gen)
        opt.zero_grad(set_to_none=True)
        Zs, ts = S[:, :d], S[:, d]
        f = key.torch_fit(Zs, ts, params)
        r = f(Zb) - tb
        loss = data.batch_loss(r, int(batch_size))
        if mode == "augment":
            loss = loss + w_align * sinkhorn(S, torch.column_stack([Zb, tb]))
        elif mode == "adaptable":
            rs = f(Zs) - ts
            loss = loss + w_adapt * (rs * rs).mean()
        elif rival_weight > 0:
            loss = loss - w_rival * torch.log(rival_surrogate_mse(Zs, ts, Zb, tb, smoother) + 1e-300)
        if penalty is not None:
            extra = penalty(PenaltyContext(Zs, ts, f, Zb, tb, lambda Z, t: key.torch_fit(Z, t, params),
                                           gen, step))
            if not (isinstance(extra, torch.Tensor) and extra.numel() == 1):
                raise ForgeError(f"penalty must return a scalar tensor, got {extra!r:.80}")
            loss = loss + extra.reshape(()) * scale_extra
        if not data.reduce and not torch.isfinite(loss):
            raise ForgeError(f"forging diverged at step {step} (loss {float(loss)}); lower lr (now {lr})")
        loss.backward()
        if data.reduce:
            from .distributed import all_reduce_sum

            buf = torch.cat([S.grad.reshape(-1), loss.detach().reshape(1)])
            all_reduce_sum(buf)
            S.grad.copy_(buf[:-1].view_as(S.grad))
            loss_value = float(buf[-1])
            if not math.isfinite(loss_value):
                raise ForgeError(f"forging diverged at step {step} (loss {loss_value}); lower lr (now {lr})")
        else:
            loss_value = float(loss.detach())
        opt.step()
        loss_acc += loss_value
        loss_n += 1
        if step % eval_every == 0 or step == steps:
            v, objective = validate()
            if objective < best:
                best, best_rmse, best_rows, best_step, stale = objective, v, S.detach().clone(), step, 0
            else:
                stale += 1
            elapsed = time.perf_counter() - t0
            history.append(dict(step=step, loss=loss_acc / loss_n, val_rmse=v, val_objective=objective,
                                elapsed=elapsed))
            loss_acc, loss_n = 0.0, 0
            if stale >= patience:
                stopped_early = True
            if stopped_early or step == steps:
                save(True)
            elif step % checkpoint_every == 0:
                save(False)
            if callback is not None:
                callback(ForgeProgress(step, int(steps), history[-1]["loss"], v, best_rmse, elapsed))
            if stopped_early:
                break
        elif step % checkpoint_every == 0:
            save(False)
    seconds = time.perf_counter() - t0
    rows_std = best_rows.cpu().numpy()
    Xf = pre.inverse_X(rows_std[:, :d])
    yf = pre.inverse_y(rows_std[:, d])
    data_out = pd.DataFrame(Xf, columns=data.names)
    data_out[data.target] = yf
    metrics = dict(
        best_val_rmse=best_rmse, best_step=best_step, steps_run=step, stopped_early=stopped_early,
        seconds=seconds, rows=int(rows), n_owner_rows=n, n_validation_rows=n_val,
    )
    return ForgeResult(
        data=data_out, spec=spec, history=pd.DataFrame(history), metrics=metrics,
        settings=settings, feature_names=data.names, target_name=data.target,
    )
