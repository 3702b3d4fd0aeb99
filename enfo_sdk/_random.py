"""The one place where seeds become generators (torch is imported only for a torch one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def rng(seed: int | None) -> np.random.Generator:
    """numpy Generator for ``seed`` (an int; None means 0 so results stay reproducible)."""
    return np.random.default_rng(0 if seed is None else int(seed))


def torch_generator(seed: int | None) -> torch.Generator:
    """torch Generator for ``seed`` (None means 0, as in :func:`rng`)."""
    import torch

    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g
