"""The forging loop's state as one object, and its checkpoint form.

:class:`ForgeState` holds what changes while forging runs -- the step, the best rows and their
objective, the early-stopping count, the loss accumulated since the last evaluation, the
history -- so that :meth:`ForgeState.save` and :meth:`ForgeState.load` can write and read it
(with Adam's moments and the generator's state) in the checkpoint format of
:mod:`enfo_sdk.checkpoint`, and a resumed run continues exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ForgeError
from .adam import Adam


@dataclass
class ForgeState:
    """The forging loop's state (module docstring).

    Attributes
    ----------
    best_rows : Tensor of shape (rows, n_features + 1)
        The rows with the lowest validation objective so far (standardized space).
    best, best_rmse : float
        Their validation objective and validation RMSE (original units).
    best_step, stale, step : int
        When they were found, evaluations since, and the last step run.
    loss_acc, loss_n : float, int
        The step losses summed since the last evaluation, and how many.
    history : list of dict
        One entry per evaluation: step, loss, val_rmse, val_objective, elapsed.
    stopped_early, finished : bool
    elapsed_before : float
        Seconds spent before this process resumed the run.
    trail : list of (step, rows, errors, extra), or None
        Selection ``one_se`` only: every evaluation's step, rows, per-row squared validation
        errors and the objective's part beyond their mean (the other terms'), from which
        :meth:`one_se` picks the rows kept.
    """

    best_rows: torch.Tensor
    best: float
    best_rmse: float
    best_step: int = 0
    stale: int = 0
    step: int = 0
    loss_acc: float = 0.0
    loss_n: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    finished: bool = False
    elapsed_before: float = 0.0
    trail: list | None = None

    @classmethod
    def fresh(cls, S: torch.Tensor, val_rmse: float, objective: float, errors=None) -> ForgeState:
        """The state before the first step, with the starting rows evaluated (``errors``:
        ``(per-row errors, extra)`` under selection ``one_se``, else None)."""
        state = cls(best_rows=S.detach().clone(), best=objective, best_rmse=val_rmse)
        state.history.append(dict(step=0, loss=math.nan, val_rmse=val_rmse, val_objective=objective,
                                  elapsed=0.0))
        if errors is not None:
            state.trail = [(0, S.detach().clone(), *errors)]
        return state

    def observe(self, step: int, val_rmse: float, objective: float, S: torch.Tensor, elapsed: float,
                patience: int, errors=None) -> None:
        """Record an evaluation: keep the rows if the objective improved, count staleness."""
        if self.trail is not None:
            self.trail.append((step, S.detach().clone(), *errors))
        if objective < self.best:
            self.best, self.best_rmse, self.best_rows = objective, val_rmse, S.detach().clone()
            self.best_step, self.stale = step, 0
        else:
            self.stale += 1
        self.history.append(dict(step=step, loss=self.loss_acc / self.loss_n, val_rmse=val_rmse,
                                 val_objective=objective, elapsed=elapsed))
        self.loss_acc, self.loss_n = 0.0, 0
        if self.stale >= patience:
            self.stopped_early = True

    def one_se(self, n_se: float) -> int | None:
        """Selection ``one_se``: the step of the earliest evaluation whose validation objective
        is within ``n_se`` standard errors of the lowest one's (the mean of the per-row paired
        differences against it, plus the other terms' difference, at most ``n_se`` x their
        standard error), or None without a trail. The lowest evaluation always qualifies; the
        starting rows (step 0) only when they are the lowest: a split too noisy to tell them from
        the lowest says nothing for keeping rows that were never forged (benchmarks/RESULTS.md,
        "The one-SE rule skips the starting rows")."""
        if self.trail is None:
            return None
        low = next(t for t in self.trail if t[0] == self.best_step)
        for step, _, e, extra in self.trail:
            if step == 0 and step != self.best_step:
                continue
            d = e - low[2]
            se = float(np.std(d, ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else 0.0
            if step == self.best_step or float(np.mean(d)) + (extra - low[3]) <= n_se * se:
                return step
        return self.best_step  # not reached: the lowest evaluation qualifies

    def keep(self, step: int) -> None:
        """Keep the rows of the trail's evaluation at ``step`` (its validation RMSE too)."""
        rows = next(t[1] for t in self.trail if t[0] == step)
        self.best_rows, self.best_step = rows, step
        self.best_rmse = next(h["val_rmse"] for h in self.history if h["step"] == step)

    def keep_last(self, S: torch.Tensor) -> None:
        """Selection ``last``: keep ``S``, the rows of the last evaluation, and its validation RMSE."""
        h = self.history[-1]
        self.best_rows, self.best_step = S.detach().clone(), int(h["step"])
        self.best, self.best_rmse = h["val_objective"], h["val_rmse"]

    # -- checkpoint form ---------------------------------------------------------------------
    def save(self, path: str | Path, *, S: torch.Tensor, opt: Adam,
             generator: torch.Generator, fingerprint: str, settings: dict, elapsed: float,
             finished: bool) -> None:
        """Write the state, the current rows, Adam's moments and the generator to ``path``."""
        from ..checkpoint import save_checkpoint

        arrays = {"rows": S.detach().cpu().numpy(), "best_rows": self.best_rows.cpu().numpy(),
                  "generator": generator.get_state().numpy()}
        if self.trail is not None:
            arrays["trail_rows"] = np.stack([t[1].cpu().numpy() for t in self.trail])
            arrays["trail_errors"] = np.stack([t[2] for t in self.trail])
        moments = opt.moments()
        adam_step = 0.0
        if moments is not None:
            adam_step, exp_avg, exp_avg_sq = moments
            arrays["adam_exp_avg"] = exp_avg.cpu().numpy()
            arrays["adam_exp_avg_sq"] = exp_avg_sq.cpu().numpy()
        save_checkpoint(path, arrays, dict(
            fingerprint=fingerprint, step=self.step, adam_step=adam_step, best=self.best,
            best_rmse=self.best_rmse, best_step=self.best_step, stale=self.stale,
            loss_acc=self.loss_acc, loss_n=self.loss_n, history=self.history, elapsed=elapsed,
            finished=finished, stopped_early=self.stopped_early, settings=settings,
            trail=None if self.trail is None else [[t[0], t[3]] for t in self.trail],
        ))

    @classmethod
    def load(cls, path: str | Path, *, fingerprint: str, dev) -> tuple[ForgeState, Any, dict]:
        """``(state, rows, arrays)`` from a checkpoint of *this* run (else ForgeError); call
        :meth:`restore` with ``arrays`` once the optimiser exists."""
        from ..checkpoint import load_checkpoint

        arrays, meta = load_checkpoint(path)
        if meta.get("fingerprint") != fingerprint:
            raise ForgeError(
                f"{path}: the checkpoint belongs to another run (different settings, key, "
                f"data or initial rows); delete it or drop resume"
            )
        best = float(meta["best"])
        state = cls(
            best_rows=torch.tensor(arrays["best_rows"], dtype=torch.float64, device=dev),
            best=best, best_rmse=float(meta.get("best_rmse", best)),
            best_step=int(meta["best_step"]), stale=int(meta["stale"]), step=int(meta["step"]),
            loss_acc=float(meta["loss_acc"]), loss_n=int(meta["loss_n"]),
            history=[{k: (math.nan if v is None else v) for k, v in h.items()} for h in meta["history"]],
            stopped_early=bool(meta["stopped_early"]), finished=bool(meta["finished"]),
            elapsed_before=float(meta["elapsed"]),
        )
        if meta.get("trail") is not None:
            state.trail = [
                (int(step), torch.tensor(arrays["trail_rows"][i], dtype=torch.float64, device=dev),
                 arrays["trail_errors"][i], float(extra))
                for i, (step, extra) in enumerate(meta["trail"])
            ]
        arrays["adam_step"] = float(meta["adam_step"])
        return state, arrays["rows"], arrays

    @staticmethod
    def restore(arrays: dict, opt: Adam, generator: torch.Generator, dev) -> None:
        """Put a checkpoint's generator state and Adam moments back."""
        generator.set_state(torch.from_numpy(arrays["generator"].copy()))
        if "adam_exp_avg" in arrays:
            opt.restore(float(arrays["adam_step"]), torch.tensor(arrays["adam_exp_avg"], device=dev),
                        torch.tensor(arrays["adam_exp_avg_sq"], device=dev))


def clock(state: ForgeState) -> float:
    """The run's start on ``time.perf_counter``'s scale, counting time spent before a resume."""
    return time.perf_counter() - state.elapsed_before
