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

import torch

from ..errors import ForgeError


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

    @classmethod
    def fresh(cls, S: torch.Tensor, val_rmse: float, objective: float) -> ForgeState:
        """The state before the first step, with the starting rows evaluated."""
        state = cls(best_rows=S.detach().clone(), best=objective, best_rmse=val_rmse)
        state.history.append(dict(step=0, loss=math.nan, val_rmse=val_rmse, val_objective=objective,
                                  elapsed=0.0))
        return state

    def observe(self, step: int, val_rmse: float, objective: float, S: torch.Tensor, elapsed: float,
                patience: int) -> None:
        """Record an evaluation: keep the rows if the objective improved, count staleness."""
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

    # -- checkpoint form ---------------------------------------------------------------------
    def save(self, path: str | Path, *, S: torch.Tensor, opt: torch.optim.Optimizer,
             generator: torch.Generator, fingerprint: str, settings: dict, elapsed: float,
             finished: bool) -> None:
        """Write the state, the current rows, Adam's moments and the generator to ``path``."""
        from ..checkpoint import save_checkpoint

        arrays = {"rows": S.detach().cpu().numpy(), "best_rows": self.best_rows.cpu().numpy(),
                  "generator": generator.get_state().numpy()}
        st = opt.state.get(S)
        adam_step = 0.0
        if st:
            arrays["adam_exp_avg"] = st["exp_avg"].cpu().numpy()
            arrays["adam_exp_avg_sq"] = st["exp_avg_sq"].cpu().numpy()
            adam_step = float(st["step"])
        save_checkpoint(path, arrays, dict(
            fingerprint=fingerprint, step=self.step, adam_step=adam_step, best=self.best,
            best_rmse=self.best_rmse, best_step=self.best_step, stale=self.stale,
            loss_acc=self.loss_acc, loss_n=self.loss_n, history=self.history, elapsed=elapsed,
            finished=finished, stopped_early=self.stopped_early, settings=settings,
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
        arrays["adam_step"] = float(meta["adam_step"])
        return state, arrays["rows"], arrays

    @staticmethod
    def restore(arrays: dict, opt: torch.optim.Optimizer, generator: torch.Generator, dev) -> None:
        """Put a checkpoint's generator state and Adam moments back."""
        generator.set_state(torch.from_numpy(arrays["generator"].copy()))
        if "adam_exp_avg" in arrays:
            sd = opt.state_dict()
            sd["state"] = {0: {
                "step": torch.tensor(float(arrays["adam_step"])),
                "exp_avg": torch.tensor(arrays["adam_exp_avg"], device=dev),
                "exp_avg_sq": torch.tensor(arrays["adam_exp_avg_sq"], device=dev),
            }}
            opt.load_state_dict(sd)


def clock(state: ForgeState) -> float:
    """The run's start on ``time.perf_counter``'s scale, counting time spent before a resume."""
    return time.perf_counter() - state.elapsed_before
