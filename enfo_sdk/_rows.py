"""A table of labelled rows: ``data`` with named feature columns and a target column."""

from __future__ import annotations

import numpy as np


class LabelledRows:
    """Mixin giving ``X`` and ``y`` as float64 arrays.

    Needs ``data`` (a DataFrame), ``feature_names`` and ``target_name`` on the class.
    """

    @property
    def X(self) -> np.ndarray:
        return self.data[self.feature_names].to_numpy(dtype=np.float64)

    @property
    def y(self) -> np.ndarray:
        """The target (n,), or the label distributions (n, k) when ``target_columns`` is set."""
        cols = getattr(self, "target_columns", None)
        if cols:
            return self.data[list(cols)].to_numpy(dtype=np.float64)
        return self.data[self.target_name].to_numpy(dtype=np.float64)
