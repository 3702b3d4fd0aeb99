"""Forging: gradient descent on m synthetic rows through the key's training.

The objective is a set of terms (:mod:`enfo_sdk.forging.terms`; DESIGN.md, "Forging
objective"): the key's error on a minibatch of the owner's rows, plus the mode's term
(Sinkhorn alignment for ``augment``, the self-fit for ``adaptable``, the rival surrogate for
``rival`` with ``rival_weight`` > 0) and an optional caller's penalty. Adam updates the rows
(Z_s, t_s) in the key's standardized space; every ``eval_every`` steps the key is refitted on
them and scored on a held-out validation split of the owner's rows, the rows with the best
*validation objective* are kept, and forging stops after ``patience`` evaluations without
improvement. On a small table (:meth:`ForgeSettings.small_table`) the starting rows take the
key's predictions as targets and the kept rows are forged once more on every owner row for the
chosen number of steps (``start_targets``, ``refit``). The base ``rival`` mode has no
regulariser: over-fitting the key is the point. A
step touches the owner's data only through the minibatch, so its cost does not grow with the
table.

The parts live in :mod:`enfo_sdk.forging`: the settings (:class:`ForgeSettings`, every default
and rule once), the terms, the owner's rows (in memory or streamed), the reducer (local or
``torch.distributed``) and the loop's state with its checkpoint form. This module holds the
public entry, :func:`forge`, and the loop.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._random import torch_generator
from ._rows import LabelledRows
from ._threads import torch_threads
from .bundle.rows import rows_from_bundle
from .errors import ForgeError
from .forging.owner_rows import owner_rows, start_rows
from .forging.adam import Adam
from .forging.labels import classification_result, stratified_rows
from .forging.params import Parametrisation
from .forging.reduce import check_finite, reducer
from .forging.settings import ONE_SE, UPDATE_LR_FACTOR, ForgeSettings, Init, Mode, default_lr
from .forging.state import ForgeState, clock
from .forging.terms import (
    RIVAL_SMOOTHER_SCALE, VAL_ALIGN_ROWS, PenaltyContext, StepInputs, Term, ValidationInputs,
    mode_terms, penalty_name, rival_surrogate_mse,
)
from .spec import KeySpec

__all__ = [
    "ForgeProgress", "ForgeResult", "ForgeSettings", "PenaltyContext", "forge", "default_lr",
    "penalty_name", "rival_surrogate_mse", "rows_from_bundle", "Mode", "Init",
    "RIVAL_SMOOTHER_SCALE", "UPDATE_LR_FACTOR", "VAL_ALIGN_ROWS",
]


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
class ForgeResult(LabelledRows):
    """The forged rows and how they were obtained.

    Attributes
    ----------
    data : DataFrame of shape (rows, n_features + k)
        Forged rows in original units, feature columns then the target (k = 1), or for a
        classification key the label distribution, one column per class (``target_columns``).
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
    target_columns: list[str] = field(default_factory=list)

    def model(self):
        """The key model trained on the forged rows (what a partner rebuilds)."""
        if self.target_columns:  # a classification key: the label distributions
            return self.spec.build().fit(self.data[self.feature_names], self.y)
        return self.spec.build().fit(self.data[self.feature_names], self.data[self.target_name])



def forge(
    X,
    y,
    spec: KeySpec,
    settings: ForgeSettings | None = None,
    *,
    callback: Callable[[ForgeProgress], None] | None = None,
    init_rows=None,
    distributed: bool = False,
    penalty: Callable[[PenaltyContext], torch.Tensor] | None = None,
    **overrides: Any,
) -> ForgeResult:
    """Forge ``settings.rows`` synthetic rows that train ``spec``'s key as well as the owner's rows.

    Parameters
    ----------
    X : DataFrame, array-like of shape (n_samples, n_features), or a minibatch source
        The owner's training rows (column names are kept), or a source such as
        :class:`enfo_sdk.stream.ParquetSource` (then ``y`` is None, the source's own
        validation split replaces ``validation``, and each step reads only its minibatch).
    y : Series or array-like of shape (n_samples,), or None with a source
    spec : KeySpec
        The key, usually from :func:`enfo_sdk.encapsulate`.
    settings : ForgeSettings, optional
        Every forging setting (:class:`enfo_sdk.forging.settings.ForgeSettings`, which
        documents each one and holds the defaults).
    **overrides
        Settings by name, applied over ``settings``: ``forge(X, y, spec, rows=50, steps=500)``.
        An unknown name raises ForgeError.
    callback : callable, optional
        Called with a :class:`ForgeProgress` after every evaluation (for progress bars).
    init_rows : DataFrame or array-like of shape (rows, n_features + 1), optional
        Starting rows in original units, features then target (e.g. a previous bundle's
        rows, :func:`rows_from_bundle`); replaces ``init``, and the default learning rate
        becomes a quarter of a fresh run's (:data:`UPDATE_LR_FACTOR`).
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
        else about it. Under ``distributed`` each rank's value is divided by the number of
        ranks, like the built-in terms.

    Returns
    -------
    ForgeResult
    """
    s = ForgeSettings.build(settings, **overrides)
    with torch_threads(s.torch_threads()):
        return _Forging(X, y, spec, s, init_rows, distributed, penalty).run(callback)


class _Forging:
    """One forging run: the owner's rows, the terms, the optimiser and the state."""

    def __init__(self, X, y, spec: KeySpec, s: ForgeSettings, init_rows, distributed: bool, penalty) -> None:
        self.dev = torch.device(s.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.data = owner_rows(X, y, spec, s.validation, s.seed, self.dev, distributed)
        self.red = reducer(self.data.reduce)
        self.param = Parametrisation.of(spec, self.data.n_targets)
        self.terms: list[Term] = mode_terms(s, spec, scale=self.red.scale, penalty=penalty)
        self.in_memory = in_memory = hasattr(self.data, "pooled_rmse")  # else a minibatch source
        small = s.small_table(self.data.n_val, in_memory=in_memory)
        self.lr = s.learning_rate(spec, update=init_rows is not None, small=small)
        self.selection = s.selection_for(self.data.n_val, in_memory=in_memory)
        self.pooled = self.selection == "pooled"
        self.one_se = self.selection == "one_se"
        self.last = self.selection == "last"
        rule = dict(in_memory=in_memory, regression=spec.task != "classification", update=init_rows is not None)
        self.key_targets = s.start_targets_for(self.data.n_val, **rule) == "predicted"
        self.refit = s.refit_for(self.data.n_val, **rule)
        self.polish = s.polish_for(regression=rule["regression"], refit=self.refit,
                                   owner_rows=self.data.n_owner, selection=self.selection,
                                   penalty=penalty is not None)
        s.check_rows(self.data.n_train, total=self.data.n_owner)
        self.s, self.spec, self.d = s, spec, spec.n_features
        # the labels polish's training rows, read (and under torchrun agreed on) before forging
        self._polish_rows = self._polish_training_rows() if self.polish and not self.refit else None
        # the target's columns of a row: index d (regression), or the label columns d.. (classes)
        self.tcol = self.d if self.data.n_targets == 1 else slice(self.d, None)
        self.settings = self._record()
        given = None if init_rows is None else start_rows(init_rows, self.data, spec, s.rows)
        if given is not None:
            self.settings["init"] = "rows"
        self.fingerprint = _fingerprint(self.settings, spec, self.data, given, self.red.world)
        self.val_rows = None
        if s.mode == "augment":  # the alignment term's validation counterpart
            self.val_rows = torch.column_stack([self.data.Zval, self.data.tval])[:VAL_ALIGN_ROWS]
        self._given = given
        self.classify = spec.task == "classification"
        self.fixed_labels = self.classify and s.min_per_class > 0

    def _record(self) -> dict[str, Any]:
        settings = self.s.record(lr=self.lr)
        if self.selection != "validation":  # recorded only when it differs from the paper's early stopping
            settings["selection"] = self.selection
        if self.one_se:
            settings["one_se"] = ONE_SE
        if self.key_targets:  # recorded only when on (small tables), as selection
            settings["start_targets"] = "predicted"
        if self.refit:
            settings["refit"] = True
        if self.polish:  # recorded only when on, as refit: toward the key's fit after a refit, else the labels
            settings["polish"] = "key_fit" if self.refit else "labels"
        settings.update(self.param.record())
        for term in self.terms:
            settings.update(term.record())
        if hasattr(self.data, "source"):
            settings["validation"] = float(getattr(self.data.source, "validation", self.s.validation))
        settings.update(self.data.settings())
        if self.red.distributed:
            settings["world_size"] = self.red.world
        return settings

    def fit(self, Zs: torch.Tensor, ts: torch.Tensor):
        return self.spec.key.torch_fit(Zs, ts, self.spec.hyperparameters)

    def validate(self, S: torch.Tensor) -> tuple[float, float, tuple | None]:
        """(validation RMSE in original units, validation objective, and under selection
        ``one_se`` the per-row squared validation errors with the objective's other terms, else
        None) of the rows ``S``."""
        with torch.no_grad():
            f = self.fit(S[:, :self.d], S[:, self.tcol])
            v = self.data.val_rmse(f, self.spec.preprocessing.target_scale)
            # the selection error: the validation split's, or all owner rows' (ForgeSettings.selection)
            sel = self.data.pooled_rmse(f, self.spec.preprocessing.target_scale) if self.pooled else v
            # fresh views: a key may reuse its kernel when asked to predict on its own training
            # tensor, which changes the last bits of the self-fit term (validation as always was)
            x = ValidationInputs(S, S[:, :self.d], S[:, self.tcol], f, self.val_rows)
            parts = [p for p in (t.validation_loss(x) for t in self.terms) if p is not None]
            extra = 0.0
            for p in parts:
                extra += float(self.red.mean(p))
            errors = (self.data.val_errors(f), extra) if self.one_se else None
            if not parts:
                return v, sel, errors
            return v, (sel / self.spec.preprocessing.target_scale) ** 2 + extra, errors

    def run(self, callback) -> ForgeResult:
        s, data, red = self.s, self.data, self.red
        state, arrays = None, None
        if s.resume and Path(s.checkpoint).exists():
            state, start, arrays = ForgeState.load(s.checkpoint, fingerprint=self.fingerprint, dev=self.dev)
        elif self._given is not None:
            start = self._given
        elif self.classify:
            start = stratified_rows(s.init, data.Zinit, data.tinit, int(s.rows), s.seed, s.min_per_class)
        else:
            start = self._start(data)
        if red.distributed:  # every rank must resume from the same step (checkpoints on a shared disk)
            red.check_resume(None if state is None else state.step, s.checkpoint)
        if state is None:  # a checkpoint holds the parameters, anything else rows
            start = self.param.inverse(start)
        U = torch.tensor(start, dtype=torch.float64, device=self.dev, requires_grad=True)
        if state is None:
            red.broadcast_rows(U)
        opt = Adam(U, lr=self.lr)
        gen = torch_generator(s.seed)
        first = 1
        if state is None:
            with torch.no_grad():
                S0 = self.param.rows(U)
            state = ForgeState.fresh(S0, *self.validate(S0))
        else:
            ForgeState.restore(arrays, opt, gen, self.dev)
            first = state.step + 1 if not state.finished else int(s.steps) + 1
        t0 = clock(state)

        def save(finished: bool) -> None:
            if s.checkpoint is None:
                return
            if red.rank == 0:
                state.save(s.checkpoint, S=U, opt=opt, generator=gen, fingerprint=self.fingerprint,
                           settings=self.settings, elapsed=time_since(t0), finished=finished)
            red.barrier()

        for step in range(first, int(s.steps) + 1):
            state.step = step
            loss_value = self._step(U, opt, gen, data, step)
            state.loss_acc += loss_value
            state.loss_n += 1
            if step % s.eval_every == 0 or step == s.steps:
                with torch.no_grad():
                    S = self.param.rows(U)
                v, objective, errors = self.validate(S)
                state.observe(step, v, objective, S, time_since(t0), s.patience, errors)
                if state.stopped_early or step == s.steps:
                    save(True)
                elif step % s.checkpoint_every == 0:
                    save(False)
                if callback is not None:
                    h = state.history[-1]
                    callback(ForgeProgress(step, int(s.steps), h["loss"], v, state.best_rmse, h["elapsed"]))
                if state.stopped_early:
                    break
            elif step % s.checkpoint_every == 0:
                save(False)
        if self.last:  # the rows after the last step, which the last evaluation scored
            with torch.no_grad():
                state.keep_last(self.param.rows(U))
        return self._result(state, time_since(t0))

    def _start(self, data) -> np.ndarray:
        """Starting rows (standardized) from ``data``'s training rows by :attr:`ForgeSettings.init`;
        under ``start_targets`` ``predicted`` their targets are the key's predictions at their features,
        the key fitted on those same training rows (never the validation split)."""
        start = data.init_rows(self.s.init, int(self.s.rows), self.s.seed)
        if self.key_targets:
            with torch.no_grad():
                f = self.fit(data.Ztr, data.ttr)
                z = torch.as_tensor(start[:, :self.d], dtype=torch.float64, device=self.dev)
                start = start.copy()
                start[:, self.d] = f(z).cpu().numpy()
        return start

    def _step(self, U: torch.Tensor, opt, gen, data, step: int) -> float:
        """One Adam step on the rows' parameters ``U`` with a minibatch of ``data``; the loss."""
        s = self.s
        Zb, tb = data.batch(step, int(s.batch_size), int(s.seed), gen)
        opt.zero_grad()
        S = self.param.rows(U)  # the rows (U itself without a column encoding)
        # one pair of views of S per step: gradients from every term meet there first, in
        # the order they always did (a second pair of views changes the sum's last bits)
        Zs, ts = S[:, :self.d], S[:, self.tcol]
        f = self.fit(Zs, ts)
        x = StepInputs(Zs, ts, f, Zb, tb, self.fit, gen, step, S=S, batch_size=int(s.batch_size), data=data)
        loss = self.terms[0].step_loss(x)
        for term in self.terms[1:]:
            loss = loss + term.step_loss(x)
        loss.backward()
        loss_value = self.red.gradients(U, loss)
        if self.fixed_labels:
            U.grad[:, self.d:] = 0.0  # min_per_class: the labels stay as they started
        check_finite(loss_value, step, self.lr)
        opt.step()
        return loss_value

    def _refit(self, steps: int) -> torch.Tensor:
        """``refit``: the rows forged again on every owner row (the validation split given back),
        from the same kind of start (or the same given rows), with a fresh optimiser and the
        run's seed, for ``steps`` steps; no evaluation, the last rows are kept."""
        data = self.data.pooled()
        start = self._given if self._given is not None else self._start(data)
        U = torch.tensor(self.param.inverse(start), dtype=torch.float64, device=self.dev, requires_grad=True)
        opt = Adam(U, lr=self.lr)
        gen = torch_generator(self.s.seed)
        for step in range(1, steps + 1):
            self._step(U, opt, gen, data, step)
        with torch.no_grad():
            return self.param.rows(U).detach().clone()

    def _polish(self, rows_std: np.ndarray, state: ForgeState) -> dict[str, float]:
        """``polish``: the kept rows' targets solved exactly (:mod:`enfo_sdk.forging.polish`),
        changed in ``rows_std`` in place; the metrics it adds. Without a refit toward the owner's
        labels, kept only when the key refitted on them scores lower on the whole validation
        split (``state.best_rmse`` is then theirs); after a refit toward the key's own fit on
        every owner row, ``lam`` (or no change) chosen by cross-validation over those rows."""
        from .forging.polish import distill_targets, polish_targets

        d, data, seed = self.d, self.data, int(self.s.seed)
        if self.refit:
            every = data.pooled()
            choice = distill_targets(self.spec, rows_std[:, :d], rows_std[:, d], every.Ztr.cpu().numpy(),
                                     every.ttr.cpu().numpy(), seed=seed)
            out = {"polish_fidelity_before": choice.before, "polish_fidelity_after": choice.after}
            if choice.targets is not None:
                rows_std[:, d] = choice.targets
                out["polish_lambda"] = float(choice.lam)
            return out
        Ztr, ttr = self._polish_rows
        # a source's validation rows: scored as sums, summed over the ranks
        choice = polish_targets(self.spec, rows_std[:, :d], rows_std[:, d], Ztr, ttr, data.Zval.cpu().numpy(),
                                data.tval.cpu().numpy(), seed=seed, reduce=None if self.in_memory else self.red.sum)
        out = {"polish_val_rmse_before": float(state.best_rmse)}
        if choice.targets is None:
            return out
        S = torch.as_tensor(rows_std, device=self.dev).clone()
        S[:, d] = torch.as_tensor(choice.targets, device=self.dev)
        v = self.validate(S)[0]
        if v < state.best_rmse:
            rows_std[:, d] = choice.targets
            state.best_rmse = v
            out["polish_lambda"] = float(choice.lam)
            # the polish's own figure for its choice (A_val t, summed over ranks on a stream);
            # the refit's best_val_rmse confirms it to round-off
            out["polish_val_rmse_after"] = float(choice.after) * self.spec.preprocessing.target_scale
        return out

    def _polish_training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The training rows the labels polish solves on (:meth:`polish_rows`: all of them in
        memory, a source's seeded sample on a stream). Under torchrun every rank must hold the
        same sample; a source that draws it per shard is refused here, on every rank."""
        from .forging.polish import MAX_ROWS

        Ztr, ttr = self.data.polish_rows(MAX_ROWS, int(self.s.seed))
        if self.red.distributed and not self.red.agree(_digest(Ztr, ttr)):
            source = getattr(self.data, "source", None)
            name = getattr(source, "path", None) or type(source).__name__
            raise ForgeError(f"the targets' polish needs the same training rows on every rank, and the "
                             f"sample(max_rows, seed) of source {name} differs between ranks (a source "
                             f"for distributed forging must draw it from every shard alike, as "
                             f"ParquetSource does); or set polish: false")
        return Ztr, ttr

    def _result(self, state: ForgeState, seconds: float) -> ForgeResult:
        pre, d, data = self.spec.preprocessing, self.d, self.data
        lowest = state.best_step
        if self.one_se:  # the earliest rows within one standard error of the lowest
            state.keep(state.one_se(ONE_SE))
        rows_std = (self._refit(state.best_step) if self.refit else state.best_rows).cpu().numpy()
        polished = self._polish(rows_std, state) if self.polish else {}
        out = pd.DataFrame(pre.inverse_X(rows_std[:, :d]), columns=data.names)
        spec, extra = self.spec, {}
        if self.classify:
            for j, name in enumerate(data.target_columns):
                out[name] = rows_std[:, d + j]
            spec, extra = classification_result(spec, rows_std, d, data)
        else:
            out[data.target] = pre.inverse_y(rows_std[:, d])
        metrics = dict(
            best_val_rmse=state.best_rmse, best_step=state.best_step, steps_run=state.step,
            stopped_early=state.stopped_early, seconds=seconds, rows=int(self.s.rows),
            n_owner_rows=data.n_owner, n_validation_rows=data.n_val, **extra,
            **({"lowest_step": lowest} if self.one_se else {}),
            **({"refit_steps": state.best_step} if self.refit else {}),
            **polished,
        )
        return ForgeResult(
            data=out, spec=spec, history=pd.DataFrame(state.history), metrics=metrics,
            settings=self.settings, feature_names=data.names, target_name=data.target,
            target_columns=list(data.target_columns) if self.classify else [],
        )


def _digest(*arrays: np.ndarray) -> float:
    """52 bits of the SHA-256 of float64 arrays, as an exactly representable float (ranks compare it)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, np.float64).tobytes())
    return float(int(h.hexdigest()[:13], 16))


def time_since(t0: float) -> float:
    """Seconds since ``t0`` (:func:`time.perf_counter`)."""
    return time.perf_counter() - t0


def _fingerprint(settings: dict, spec: KeySpec, data, start: np.ndarray | None, world: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(spec.model_dump_json().encode())
    h.update(data.fingerprint().encode())
    h.update(str(world).encode())
    if start is not None:
        h.update(np.ascontiguousarray(start).tobytes())
    return h.hexdigest()
