"""Local or data-parallel forging behind one interface: :func:`reducer`.

With one process every method is the identity. Under ``torch.distributed`` (gloo on CPU,
:mod:`enfo_sdk.distributed`) each rank holds its shard of the owner's rows; the gradients on the
synthetic rows and the step's loss are summed over the ranks, a validation term is averaged,
checkpoints are written by rank 0 behind a barrier, and the ranks must agree on resuming.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ForgeError


class LocalReducer:
    """One process: nothing to combine."""

    distributed = False
    rank, world = 0, 1

    @property
    def scale(self) -> float:
        """The factor each rank applies to the extra terms (1 / world)."""
        return 1.0 / self.world

    def gradients(self, S: torch.Tensor, loss: torch.Tensor) -> float:
        """After ``loss.backward()``: the step's loss (summed over ranks) as a float."""
        return float(loss.detach())

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """A validation term averaged over the ranks (every rank must keep the same rows)."""
        return value

    def sum(self, values: np.ndarray) -> np.ndarray:
        """A float64 vector summed over the ranks (the targets' polish: validation sums)."""
        return np.asarray(values, np.float64)

    def agree(self, value: float) -> bool:
        """True when every rank holds the same ``value`` (every rank learns the same answer)."""
        return True

    def broadcast_rows(self, S: torch.Tensor) -> None:
        """Make every rank start from rank 0's rows."""

    def barrier(self) -> None:
        """No rank runs ahead of the checkpoint it may resume from."""

    def check_resume(self, step: int | None, checkpoint) -> None:
        """Raise unless every rank resumes from the same step (``None``: a fresh start)."""


class DistributedReducer(LocalReducer):
    """The active ``torch.distributed`` process group."""

    distributed = True

    def __init__(self) -> None:
        from ..distributed import world

        self.rank, self.world = world()

    def gradients(self, S: torch.Tensor, loss: torch.Tensor) -> float:
        from ..distributed import all_reduce_sum

        buf = torch.cat([S.grad.reshape(-1), loss.detach().reshape(1)])
        all_reduce_sum(buf)
        S.grad.copy_(buf[:-1].view_as(S.grad))
        return float(buf[-1])

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        from ..distributed import all_reduce_sum

        return all_reduce_sum(value.reshape(1).clone()) / self.world

    def sum(self, values: np.ndarray) -> np.ndarray:
        from ..distributed import all_reduce_sum

        return all_reduce_sum(torch.as_tensor(np.array(values, np.float64))).numpy()

    def agree(self, value: float) -> bool:
        from ..distributed import all_reduce_sum, broadcast

        first = broadcast(torch.tensor([float(value)], dtype=torch.float64), 0)
        differ = all_reduce_sum(torch.tensor([float(first[0] != float(value))], dtype=torch.float64))
        return float(differ[0]) == 0.0

    def broadcast_rows(self, S: torch.Tensor) -> None:
        from ..distributed import broadcast

        with torch.no_grad():
            broadcast(S.data, 0)

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def check_resume(self, step: int | None, checkpoint) -> None:
        from ..distributed import all_reduce_sum

        mine = [1.0 if step is not None else 0.0, float(step) if step is not None else 0.0]
        total = all_reduce_sum(torch.tensor(mine, dtype=torch.float64)).tolist()
        if total != [mine[0] * self.world, mine[1] * self.world]:
            raise ForgeError(
                f"ranks disagree on resuming from {checkpoint}: every rank must read the same "
                f"checkpoint (put it on a shared file system)"
            )


def reducer(distributed: bool) -> LocalReducer:
    """:class:`DistributedReducer` when ``distributed``, else :class:`LocalReducer`."""
    return DistributedReducer() if distributed else LocalReducer()


def check_finite(loss_value: float, step: int, lr: float) -> None:
    """Raise when a step's loss is not finite."""
    if not math.isfinite(loss_value):
        raise ForgeError(f"forging diverged at step {step} (loss {loss_value}); lower lr (now {lr})")
