r"""The forging objective as parts: one object per term, modes as named sets of terms.

Over synthetic rows S = (Z_s, t_s) in the key's standardized space, with f the key trained on
them and B a minibatch of the owner's rows (DESIGN.md, "Forging objective"):

    L = mean_{b in B} (f(z_b) - t_b)^2                                   BaseTerm (every mode)
        + alignment_weight    * S_eps([Z_s, t_s], [Z_B, t_B])            AlignmentTerm ("augment")
        + adaptability_weight * mean_i (f(z_{s,i}) - t_{s,i})^2           AdaptabilityTerm ("adaptable")
        - rival_weight * log mean_{b in B} (g(z_b) - t_b)^2               RivalTerm ("rival", weight > 0)
        + penalty(ctx)                                                    PenaltyTerm (Python API)

S_eps is the debiased Sinkhorn divergence (geomloss) and g a surrogate attacker trained on the
rows: the Nadaraya-Watson smoother g(z) = sum_i w_i(z) t_{s,i}, w(z) = softmax_i(-|z -
z_{s,i}|^2 / (2 h^2)), h = :data:`RIVAL_SMOOTHER_SCALE` x the key's bandwidth.

Each term has one interface:

* ``step_loss(x)`` -- its (weighted) contribution to a step's loss, given :class:`StepInputs`;
* ``validation_loss(x)`` -- its contribution to the *validation objective* that chooses the
  rows kept, or ``None`` when the term shapes the path only (the rival and penalty terms: the
  key's accuracy decides there);
* ``record()`` -- the settings it adds to a bundle's provenance.

The validation objective is the key's validation RMSE when no term has a validation part, and
otherwise the mean squared validation error (standardized) plus the terms' validation parts.
(Keeping the best-RMSE rows in modes augment and adaptable kept rows from the first few dozen
steps, before the mode's term had acted: on Friedman #3 the kept step was 50 of 550 at
alignment weights 1 and 10.)

Under ``torch.distributed`` each rank adds 1/W of every extra term to its loss (the ranks'
gradients are summed), so the terms are built with ``scale = 1 / W``; with one process the
factor is exactly 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ForgeError
from .settings import ForgeSettings

#: Validation rows (the first of the split) that the ``augment`` mode's early stopping aligns to.
VAL_ALIGN_ROWS = 2048

#: Bandwidth of the rival surrogate (the Nadaraya-Watson smoother) as a multiple of the key's.
RIVAL_SMOOTHER_SCALE = 0.5


@dataclass(frozen=True)
class PenaltyContext:
    """What a custom ``penalty`` (see :func:`enfo_sdk.forge`) receives at every step.

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


@dataclass(frozen=True)
class StepInputs(PenaltyContext):
    """What a term sees at a step: a :class:`PenaltyContext` (``Z``, ``t`` are views of ``S``)
    plus the rows ``S`` (m, d+1) being optimised, the batch size and the owner's rows."""

    S: torch.Tensor = None
    batch_size: int = 0
    data: Any = None  # the owner rows (enfo_sdk.forging.owner_rows): batch_loss


@dataclass(frozen=True)
class ValidationInputs:
    """What a term sees at an evaluation: the rows, their columns and the key trained on them."""

    S: torch.Tensor
    Z: torch.Tensor
    t: torch.Tensor
    fit: Callable[[torch.Tensor], torch.Tensor]
    val_rows: torch.Tensor | None  # the first VAL_ALIGN_ROWS validation rows, for alignment


class Term:
    """One part of the forging objective (module docstring)."""

    name = "term"

    def step_loss(self, x: StepInputs) -> torch.Tensor:
        raise NotImplementedError

    def validation_loss(self, x: ValidationInputs) -> torch.Tensor | None:
        return None

    def record(self) -> dict[str, Any]:
        return {}


class BaseTerm(Term):
    """The key's mean squared error on the owner's minibatch (every mode)."""

    name = "base"

    def step_loss(self, x: StepInputs) -> torch.Tensor:
        r = x.fit(x.Zb) - x.tb
        return x.data.batch_loss(r, x.batch_size)


class AlignmentTerm(Term):
    """``weight`` x the debiased Sinkhorn divergence between the rows and the minibatch."""

    name = "alignment"

    def __init__(self, weight: float, blur: float, scale: float) -> None:
        from geomloss import SamplesLoss

        self.weight, self.step_weight = float(weight), weight * scale
        self.sinkhorn = SamplesLoss("sinkhorn", p=2, blur=blur, debias=True)

    def step_loss(self, x: StepInputs) -> torch.Tensor:
        return self.step_weight * self.sinkhorn(x.S, torch.column_stack([x.Zb, x.tb]))

    def validation_loss(self, x: ValidationInputs) -> torch.Tensor:
        return self.weight * self.sinkhorn(x.S, x.val_rows)


class AdaptabilityTerm(Term):
    """``weight`` x the key's mean squared error on its own training rows."""

    name = "adaptability"

    def __init__(self, weight: float, scale: float) -> None:
        self.weight, self.step_weight = float(weight), weight * scale

    def step_loss(self, x: StepInputs) -> torch.Tensor:
        rs = x.fit(x.Z) - x.t
        return self.step_weight * (rs * rs).mean()

    def validation_loss(self, x: ValidationInputs) -> torch.Tensor:
        rs = x.fit(x.Z) - x.t
        return self.weight * (rs * rs).mean()


class RivalTerm(Term):
    """``-weight x log`` of the surrogate attacker's minibatch MSE (:func:`rival_surrogate_mse`)."""

    name = "rival"

    def __init__(self, weight: float, scale: float, bandwidth: float) -> None:
        self.step_weight = weight * scale
        self.h = RIVAL_SMOOTHER_SCALE * float(bandwidth)

    def step_loss(self, x: StepInputs) -> torch.Tensor:
        return -(self.step_weight * torch.log(rival_surrogate_mse(x.Z, x.t, x.Zb, x.tb, self.h) + 1e-300))


class PenaltyTerm(Term):
    """A caller's own term: ``penalty(PenaltyContext) -> scalar tensor`` (weight included)."""

    name = "penalty"

    def __init__(self, penalty: Callable[[PenaltyContext], torch.Tensor], scale: float) -> None:
        if not callable(penalty):
            raise ForgeError(f"penalty must be a callable taking a PenaltyContext, got {type(penalty).__name__}")
        self.penalty, self.scale = penalty, scale

    def step_loss(self, x: StepInputs) -> torch.Tensor:
        extra = self.penalty(x)
        if not (isinstance(extra, torch.Tensor) and extra.numel() == 1):
            raise ForgeError(f"penalty must return a scalar tensor, got {extra!r:.80}")
        return extra.reshape(()) * self.scale

    def record(self) -> dict[str, Any]:
        return {"penalty": penalty_name(self.penalty)}


def mode_terms(settings: ForgeSettings, spec, *, scale: float = 1.0,
               penalty: Callable[[PenaltyContext], torch.Tensor] | None = None) -> list[Term]:
    """The terms of ``settings.mode``, in the order their losses are added.

    ``rival``: base (plus the rival term when ``rival_weight`` > 0); ``augment``: base and
    alignment; ``adaptable``: base and adaptability; a ``penalty`` comes last in every mode.
    """
    terms: list[Term] = [BaseTerm()]
    if spec.task == "classification":  # the base term on label rows (enfo_sdk.forging.labels)
        from .labels import ClassBaseTerm

        terms = [ClassBaseTerm(settings.class_loss, spec.hyperparameters["temperature"], settings.min_per_class)]
    if settings.mode == "augment":
        terms.append(AlignmentTerm(settings.alignment_weight, settings.blur, scale))
    elif settings.mode == "adaptable":
        terms.append(AdaptabilityTerm(settings.adaptability_weight, scale))
    elif settings.rival_weight > 0:
        terms.append(RivalTerm(settings.rival_weight, scale, spec.hyperparameters.get("bandwidth", 1.0)))
    if penalty is not None:
        terms.append(PenaltyTerm(penalty, scale))
    return terms


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


def _scalar_repr(v) -> str | None:
    import numpy as np

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
