"""The one place where seeds become generators."""

from __future__ import annotations

import numpy as np
import torch


def rng(seed: int | None) -> np.random.Generator:
    """numpy Generator for ``seed`` (an int; None means 0 so results stay reproducible)."""
    return np.random.default_rng(0 if seed is None else int(seed))


def torch_generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g
