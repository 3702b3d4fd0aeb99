"""Data-parallel forging with ``torch.distributed`` (gloo on CPU, NCCL on GPUs).

Launch one process per rank with ``torchrun``; each rank streams its own shard of a Parquet
dataset (:class:`enfo_sdk.stream.ParquetSource` with ``world`` = number of ranks and
``ranks=[rank]``) and calls :func:`enfo_sdk.forge` with ``distributed=True``. Per step:

* rank r draws its B_r rows of the global minibatch of B rows (the rule in
  :mod:`enfo_sdk.stream`) and computes L_r = sum_{b in B_r} (f(z_b) - t_b)^2 / B
  (+ the ``augment``/``adaptable`` terms divided by the number of ranks W);
* the gradients dL_r/dS and the losses are summed with one ``all_reduce``, so every rank
  holds dL/dS of the global-batch objective L = sum_r L_r and takes the same Adam step;
* validation: each rank scores its shard's validation rows and the squared errors and counts
  are summed, so every rank makes the same early-stopping decision;
* the initial rows are computed by rank 0 and broadcast.

One process reading all W shards (``ParquetSource(..., world=W)``) forges the same rows up to
floating-point summation order. The Sinkhorn term of ``augment`` is computed on each rank's
local batch (a mean of W local divergences, not the divergence of the global batch).
Only rank 0 should write the bundle and checkpoints (``forge`` writes checkpoints on rank 0
only).

Example (``torchrun --standalone --nproc-per-node 2 script.py``)::

    from enfo_sdk.distributed import init, shard_source
    rank, world = init()
    source = shard_source("owner_data/", target="y")
    result = forge(source, None, spec, rows=100, distributed=True)
    if rank == 0:
        write_bundle(...)
"""

from __future__ import annotations

import os

import torch

from .errors import ForgeError

__all__ = ["init", "shard_source", "is_active", "world", "all_reduce_sum", "broadcast"]


def init(backend: str | None = None) -> tuple[int, int]:
    """Join the process group set up by ``torchrun`` (environment variables).

    Returns (rank, world size); (0, 1) when not launched by torchrun. Backend: gloo on CPU,
    NCCL when CUDA is available, unless given.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return 0, 1
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def is_active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def world() -> tuple[int, int]:
    """(rank, world size) of the active process group."""
    import torch.distributed as dist

    if not is_active():
        raise ForgeError("distributed forging needs an initialised process group (enfo_sdk.distributed.init())")
    return dist.get_rank(), dist.get_world_size()


def shard_source(path, target: str, features=None, **kwargs):
    """The :class:`~enfo_sdk.stream.ParquetSource` of this rank's shard."""
    from .stream import ParquetSource

    rank, size = world()
    return ParquetSource(path, target, features, world=size, ranks=[rank], **kwargs)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (returns ``t``)."""
    import torch.distributed as dist

    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    import torch.distributed as dist

    dist.broadcast(t, src=src)
    return t
