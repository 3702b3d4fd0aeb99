"""``KeySpec``: the single description of a key, and the estimators it builds.

A KeySpec names the algorithm and version, its hyperparameters and the fitted
preprocessing. It is what encapsulation returns, what forging differentiates through,
what the bundle manifest stores and what the partner rebuilds from.

``spec.build()`` returns a scikit-learn-style regressor that works in original units:
``fit(X, y)`` standardizes with the spec's *fixed* preprocessing (the owner's), fits the
key in standardized space and returns ``self``; ``predict(X)`` maps back.

That estimator, ``KeyRegressor``, subclasses scikit-learn's ``BaseEstimator`` and
``RegressorMixin``, and scikit-learn costs about 1.5 s to import, which reading a KeySpec
(a manifest) or checking a bundle's probes never needs. So the class is made on first access
of ``enfo_sdk.spec.KeyRegressor`` (PEP 562 ``__getattr__``, as ``errors.NotFittedError``):
its methods live in the plain class ``_KeyRegressorMethods`` below, and
``_key_regressor_class`` adds the scikit-learn bases once. It lives in this module, not its
own, because ``KeySpec.build`` makes a ``KeyRegressor`` and ``KeyRegressor.to_spec`` makes a
``KeySpec``: two modules would import each other.
"""

from __future__ import annotations

import threading

import numpy as np
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from .data.columns import ColumnTransform
from .errors import DataError, DataTypeError, KeySpecError, ShapeError
from .keys import Key, get_key
from .preprocessing import Preprocessing

__all__ = ["KeySpec", "KeyRegressor"]


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
        return _key_regressor_class()(
            algorithm=self.algorithm,
            version=self.version,
            hyperparameters=dict(self.hyperparameters),
            preprocessing=self.preprocessing,
        )


class _KeyRegressorMethods:
    """A key model as a scikit-learn regressor.

    Parameters
    ----------
    algorithm : str, default="nu-method"
        Registered key name (see :func:`enfo_sdk.keys.available`).
    version : int or None, default=None
        Key version; None means the newest.
    hyperparameters : dict or None, default=None
        The key's hyperparameters; missing ones take the key's defaults.
    preprocessing : Preprocessing or None, default=None
        Fixed standardization (as stored in a KeySpec). None fits the standardization on the
        training data in ``fit``.

    Attributes
    ----------
    state_ : dict of ndarray
        The fitted key's state (e.g. training rows and coefficients).
    preprocessing_ : Preprocessing
        The standardization used.
    n_features_in_ : int
    """

    def __init__(self, algorithm="nu-method", version=None, hyperparameters=None, preprocessing=None):
        self.algorithm = algorithm
        self.version = version
        self.hyperparameters = hyperparameters
        self.preprocessing = preprocessing

    def _key_and_params(self) -> tuple[Key, dict]:
        key = get_key(self.algorithm, self.version)
        params = dict(self.hyperparameters or {})
        required = [h.name for h in key.hyperparameters if h.default is None]
        if required and not any(name in params for name in required):
            # built with none of its required hyperparameters (as scikit-learn's estimator
            # checks do): the key's documented estimator defaults
            params = {**key.estimator_defaults, **params}
        return key, key.check_params(params)

    def fit(self, X, y):
        """Fit the key.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        from sklearn.utils.validation import validate_data

        from ._validation import _column_names, check_finite, check_numeric_columns, check_y

        key, params = self._key_and_params()
        check_numeric_columns(X)
        try:
            Xa, ya = validate_data(
                self, X, y, dtype=np.float64, y_numeric=True, ensure_all_finite=False
            )
        except TypeError as e:
            raise DataTypeError(str(e)) from e
        except ValueError as e:
            raise DataError(str(e)) from e
        check_finite(Xa, _column_names(X, Xa.shape[1]))
        ya, _ = check_y(ya if not hasattr(y, "name") else y, Xa, min_rows=2)
        pre = self.preprocessing
        if pre is None:
            pre = Preprocessing.fit(Xa, ya)
        elif isinstance(pre, dict):
            pre = Preprocessing.model_validate(pre)
        Z = pre.transform_X(Xa)
        t = pre.transform_y(ya)
        self.state_ = key.fit(Z, t, params)
        self.params_ = params
        self.preprocessing_ = pre
        return self

    def predict(self, X):
        """Predict in original units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        from .errors import NotFittedError

        if not hasattr(self, "state_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first."
            )
        from sklearn.utils.validation import validate_data

        from ._validation import _column_names, check_finite, check_numeric_columns

        check_numeric_columns(X)
        try:
            Xa = validate_data(self, X, dtype=np.float64, reset=False, ensure_all_finite=False)
        except TypeError as e:
            raise DataTypeError(str(e)) from e
        except ValueError as e:
            raise ShapeError(str(e)) from e
        check_finite(Xa, _column_names(X, Xa.shape[1]))
        key = get_key(self.algorithm, self.version)
        Z = self.preprocessing_.transform_X(Xa)
        return self.preprocessing_.inverse_y(key.predict(self.state_, Z, self.params_))

    def to_spec(self) -> KeySpec:
        """The KeySpec of a fitted estimator."""
        from .errors import NotFittedError

        if not hasattr(self, "state_"):
            raise NotFittedError("fit the estimator before asking for its KeySpec")
        key = get_key(self.algorithm, self.version)
        return KeySpec(
            algorithm=key.name, version=key.version, hyperparameters=self.params_,
            preprocessing=self.preprocessing_,
        )


_DEFINE_LOCK = threading.Lock()


def _key_regressor_class() -> type:
    """``KeyRegressor``: the methods above on scikit-learn's bases, made (and scikit-learn
    imported) once, then a plain global of this module."""
    with _DEFINE_LOCK:
        if "KeyRegressor" not in globals():
            from sklearn.base import BaseEstimator, RegressorMixin

            globals()["KeyRegressor"] = type(
                "KeyRegressor", (_KeyRegressorMethods, RegressorMixin, BaseEstimator),
                {"__module__": __name__, "__qualname__": "KeyRegressor", "__doc__": _KeyRegressorMethods.__doc__},
            )
    return globals()["KeyRegressor"]


def __getattr__(name: str):
    """``KeyRegressor`` on first access (see the module docstring)."""
    if name == "KeyRegressor":
        return _key_regressor_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"KeyRegressor"})
