"""Standardization that is part of the key.

z = (x - feature_mean) / feature_scale per column, with the population standard deviation
as scale (a constant column gets scale 1), and t = (y - target_mean) / target_scale. It is
fitted on the owner's training rows only and stored in the manifest, so the partner maps
inputs exactly as the owner did (DESIGN.md, "Key algorithms").
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from .errors import ShapeError


class Preprocessing(BaseModel):
    """Fixed affine maps between original units and the key's standardized space."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature_mean: list[float]
    feature_scale: list[float]
    target_mean: float
    target_scale: float

    @field_validator("feature_scale")
    @classmethod
    def _positive_scales(cls, v: list[float]) -> list[float]:
        if any(not (s > 0) for s in v):
            raise ValueError("every feature_scale must be > 0")
        return v

    @field_validator("target_scale")
    @classmethod
    def _positive_target_scale(cls, v: float) -> float:
        if not v > 0:
            raise ValueError("target_scale must be > 0")
        return v

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray) -> "Preprocessing":
        """Fit on training rows.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        t_scale = float(y.std())
        return cls(
            feature_mean=[float(v) for v in mean],
            feature_scale=[float(v) for v in scale],
            target_mean=float(y.mean()),
            target_scale=t_scale if t_scale > 0 else 1.0,
        )

    @property
    def n_features(self) -> int:
        return len(self.feature_mean)

    def transform_X(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ShapeError(
                f"expected an array of shape (n_samples, {self.n_features}), got {X.shape}"
            )
        return (X - np.asarray(self.feature_mean)) / np.asarray(self.feature_scale)

    def inverse_X(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(Z) * np.asarray(self.feature_scale) + np.asarray(self.feature_mean)

    def transform_y(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) - self.target_mean) / self.target_scale

    def inverse_y(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(t) * self.target_scale + self.target_mean
