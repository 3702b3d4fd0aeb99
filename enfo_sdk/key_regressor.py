"""``KeyRegressor``: a key model as a scikit-learn regressor, in original units.

Built by :meth:`enfo_sdk.spec.KeySpec.build` (fixed preprocessing, the owner's) or directly
(preprocessing fitted in ``fit``). ``fit(X, y)`` standardizes, fits the key in standardized
space and returns ``self``; ``predict(X)`` maps back. Its own module because scikit-learn
costs about 1.5 s to import, which reading a KeySpec or verifying a bundle never needs.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import validate_data

from .errors import DataError, DataTypeError, NotFittedError, ShapeError
from .keys import Key, get_key
from .preprocessing import Preprocessing
from .spec import KeySpec

__all__ = ["KeyRegressor"]


class KeyRegressor(RegressorMixin, BaseEstimator):
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
        if not hasattr(self, "state_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first."
            )
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
        if not hasattr(self, "state_"):
            raise NotFittedError("fit the estimator before asking for its KeySpec")
        key = get_key(self.algorithm, self.version)
        return KeySpec(
            algorithm=key.name, version=key.version, hyperparameters=self.params_,
            preprocessing=self.preprocessing_,
        )
