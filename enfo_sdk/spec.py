"""``KeySpec``: the single description of a key, and the estimators it builds.

A KeySpec names the algorithm and version, its hyperparameters and the fitted
preprocessing. It is what encapsulation returns, what forging differentiates through,
what the bundle manifest stores and what the partner rebuilds from.

``spec.build()`` returns a scikit-learn-style regressor that works in original units:
``fit(X, y)`` standardizes with the spec's *fixed* preprocessing (the owner's), fits the
key in standardized space and returns ``self``; ``predict(X)`` maps back. That estimator,
:class:`~enfo_sdk.key_regressor.KeyRegressor`, lives in its own module (scikit-learn costs
about 1.5 s to import) and is reachable here as ``enfo_sdk.spec.KeyRegressor``; reading and
checking a KeySpec (a manifest, a bundle's probes) needs neither it nor scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from .data.columns import ColumnTransform
from .errors import KeySpecError
from .keys import Key, get_key
from .preprocessing import Preprocessing

if TYPE_CHECKING:
    from .key_regressor import KeyRegressor


class KeySpec(BaseModel):
    """Algorithm, version, hyperparameters and preprocessing of a key model.

    ``columns`` (bundle format v2) is the fitted encoding of the owner's raw table
    (:class:`enfo_sdk.data.columns.ColumnTransform`): when set, the key reads raw tables with
    those columns and ``preprocessing`` standardizes the encoded features. Without it (format
    v1) the key reads numeric features directly; the JSON form then has no ``columns`` entry.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: str
    version: int
    hyperparameters: dict[str, float | int]
    preprocessing: Preprocessing
    columns: ColumnTransform | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_columns(self, handler):
        out = handler(self)
        if out.get("columns") is None:
            out.pop("columns", None)
        return out

    def with_columns(self, columns: ColumnTransform | None) -> "KeySpec":
        """This key reading raw tables through ``columns`` (checked against the features)."""
        if columns is not None and len(columns.feature_names) != self.n_features:
            raise KeySpecError(f"the column encoding gives {len(columns.feature_names)} features, "
                               f"the key has {self.n_features}")
        return self.model_copy(update={"columns": columns})

    def encode(self, df, *, where: str = "table", unknown: str | None = None) -> np.ndarray:
        """The key's numeric features of a raw table (through ``columns``; see
        :meth:`enfo_sdk.data.columns.ColumnTransform.encode`)."""
        if self.columns is None:
            raise KeySpecError("this key has no column encoding (a format v1 key reads numeric features)")
        return self.columns.encode(df, where=where, unknown=unknown)

    @model_validator(mode="after")
    def _check(self) -> "KeySpec":
        key = get_key(self.algorithm, self.version)
        checked = key.check_params(self.hyperparameters)
        if checked != self.hyperparameters:
            # defaults must be written out so the spec is explicit
            object.__setattr__(self, "hyperparameters", checked)
        return self

    @property
    def key(self) -> Key:
        return get_key(self.algorithm, self.version)

    @property
    def n_features(self) -> int:
        return self.preprocessing.n_features

    def build(self) -> "KeyRegressor":
        """An unfitted estimator with this spec's hyperparameters and fixed preprocessing."""
        from .key_regressor import KeyRegressor

        return KeyRegressor(
            algorithm=self.algorithm,
            version=self.version,
            hyperparameters=dict(self.hyperparameters),
            preprocessing=self.preprocessing,
        )


def __getattr__(name: str):
    """``KeyRegressor`` from :mod:`enfo_sdk.key_regressor` (imported, with scikit-learn, on first use)."""
    if name == "KeyRegressor":
        from .key_regressor import KeyRegressor

        return KeyRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
