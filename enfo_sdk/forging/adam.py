"""Adam for the forged rows' one parameter tensor, without ``torch.optim``.

Why: ``torch.optim.Optimizer.__init__`` is wrapped by ``torch._disable_dynamo``, whose first
call imports ``torch._dynamo`` -- 1.9 s of CPU time in the quick start's forge (cProfile,
one thread), for an optimiser of one tensor that never meets the compiler.

The update is ``torch.optim.adam._single_tensor_adam``'s (what ``torch.optim.Adam`` runs on
the CPU by default) for amsgrad, maximize and weight decay off, with the same tensor
operations in the same order, so the rows are the same bits
(``tests/test_adam.py`` runs both side by side and compares every step):

    step += 1
    m <- lerp(m, g, 1 - beta1),   v <- beta2 v + (1 - beta2) g^2
    x <- x - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
"""

from __future__ import annotations

import torch

__all__ = ["Adam"]


class Adam:
    """Adam on one tensor ``param`` (torch's defaults: betas (0.9, 0.999), eps 1e-8).

    ``moments()`` and ``restore()`` carry its state through a checkpoint.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.param, self.lr, self.eps = param, float(lr), float(eps)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.steps = 0
        self.exp_avg: torch.Tensor | None = None
        self.exp_avg_sq: torch.Tensor | None = None

    def zero_grad(self) -> None:
        """Drop the gradient (``set_to_none=True``)."""
        self.param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update from ``param.grad``."""
        grad = self.param.grad
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(self.param, memory_format=torch.preserve_format)
            self.exp_avg_sq = torch.zeros_like(self.param, memory_format=torch.preserve_format)
        self.steps += 1
        step = float(self.steps)
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1**step)
        bias_correction2_sqrt = (1 - self.beta2**step) ** 0.5
        denom = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)

    def moments(self) -> tuple[float, torch.Tensor, torch.Tensor] | None:
        """``(step, exp_avg, exp_avg_sq)``, or None before the first step."""
        if self.exp_avg is None:
            return None
        return float(self.steps), self.exp_avg, self.exp_avg_sq

    def restore(self, step: float, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor) -> None:
        """Continue from a checkpoint's moments after ``step`` updates."""
        self.steps = int(step)
        self.exp_avg = exp_avg.to(self.param.dtype)
        self.exp_avg_sq = exp_avg_sq.to(self.param.dtype)
