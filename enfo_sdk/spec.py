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

__all__ = ["KeySpec", "KeyRegressor", "KeyClassifier"]


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
    def task(self) -> str:
        """``"regression"`` or ``"classification"`` (the key's)."""
        return self.key.task

    @property
    def n_features(self) -> int:
        return self.preprocessing.n_features

    @property
    def n_targets(self) -> int:
        """Target columns of the key's rows: 1, or the number of classes (classification; needs
        the column encoding or a fitted label width, see :meth:`label_matrix`)."""
        if self.task != "classification":
            return 1
        if self.classes is None:
            raise KeySpecError(f"classification key {self.algorithm!r} without a column encoding: its "
                               f"classes are not known (fit it through ColumnTransform, or pass labels)")
        return len(self.classes)

    def target_matrix(self, y: np.ndarray, k: int | None = None) -> np.ndarray:
        """Targets in the key's space: standardized values (n,), or one-hot labels (n, k) of
        class codes (k: the key's classes, else ``k``, else the largest code + 1)."""
        if self.task != "classification":
            return self.preprocessing.transform_y(y)
        from .keys.classify import one_hot

        codes = np.asarray(y, dtype=np.float64)
        if self.classes is not None:
            k = len(self.classes)
        elif k is None:
            k = int(codes.max()) + 1
        if not (np.all(codes == np.round(codes)) and codes.min() >= 0 and codes.max() < k):
            raise DataError(f"classification targets must be class codes 0..{k - 1}")
        return one_hot(codes, k)

    @property
    def classes(self) -> list[str] | None:
        """A classification key's classes (from its column encoding), else None."""
        target = None if self.columns is None else self.columns.target
        return list(getattr(target, "classes", None) or []) or None

    def with_temperature(self, temperature: float) -> "KeySpec":
        """This classification key with another probability temperature."""
        if self.task != "classification":
            raise KeySpecError(f"key {self.algorithm!r} is not a classification key; it has no temperature")
        return self.model_copy(update={"hyperparameters": {**self.hyperparameters, "temperature": float(temperature)}})

    def build(self) -> "KeyRegressor | KeyClassifier":
        """An unfitted estimator with this spec's hyperparameters and fixed preprocessing
        (a :class:`KeyClassifier` for a classification key)."""
        if self.task == "classification":
            return _key_classifier_class()(algorithm=self.algorithm, version=self.version,
                                           hyperparameters=dict(self.hyperparameters),
                                           preprocessing=self.preprocessing, classes=self.classes)
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
        Xa = _checked_query(self, X)
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


class _KeyClassifierMethods:
    """A classification key model as a scikit-learn classifier (docs/keys.md, "Classification keys").

    Parameters
    ----------
    algorithm : str, default="nu-method-classifier"
    version : int or None, default=None
    hyperparameters : dict or None, default=None
    preprocessing : Preprocessing or None, default=None
        Fixed feature standardization; None fits it on the training rows (targets are never
        standardized).
    classes : list of str or None, default=None
        The class names in code order; None takes the codes 0..k-1 seen in ``fit`` (or the
        width of a label matrix).

    Attributes
    ----------
    classes_ : ndarray
        The labels ``predict`` returns (``classes`` or the codes).
    state_ : dict of ndarray
    preprocessing_ : Preprocessing
    n_features_in_ : int
    """

    def __init__(self, algorithm="nu-method-classifier", version=None, hyperparameters=None,
                 preprocessing=None, classes=None):
        self.algorithm = algorithm
        self.version = version
        self.hyperparameters = hyperparameters
        self.preprocessing = preprocessing
        self.classes = classes

    def fit(self, X, y):
        """Fit on features ``X`` (n, d) and labels ``y``: class codes 0..k-1 or labels among
        ``classes`` (n,), or a label matrix (n, k) whose rows are distributions (a bundle's rows).

        Returns
        -------
        self
        """
        from sklearn.utils.validation import validate_data

        from ._validation import _column_names, check_finite, check_numeric_columns
        from .keys.classify import one_hot

        key, params = self._key_and_params()
        if key.task != "classification":
            raise KeySpecError(f"key {key.name!r} is a {key.task} key; use KeyRegressor")
        check_numeric_columns(X)
        try:
            Xa = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=2)
        except TypeError as e:
            raise DataTypeError(str(e)) from e
        except ValueError as e:
            raise DataError(str(e)) from e
        check_finite(Xa, _column_names(X, Xa.shape[1]))
        Y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if Y.ndim == 2 and Y.shape[1] > 1:
            Y = Y.astype(np.float64)
            k = Y.shape[1]
            if self.classes is not None and len(self.classes) != k:
                raise ShapeError(f"the label matrix has {k} columns but the key has {len(self.classes)} classes")
        else:
            Y = Y.reshape(-1)
            codes = self._codes(Y)
            k = len(self.classes) if self.classes is not None else int(codes.max()) + 1
            Y = one_hot(codes, k)
        if len(Y) != len(Xa):
            raise ShapeError(f"X has {len(Xa)} rows but y has {len(Y)}")
        if not np.isfinite(Y).all():
            raise DataError("the labels hold missing or infinite values")
        self.classes_ = np.asarray(self.classes if self.classes is not None else np.arange(k))
        pre = self.preprocessing
        if pre is None:
            pre = Preprocessing.fit(Xa, np.zeros(len(Xa)))
        elif isinstance(pre, dict):
            pre = Preprocessing.model_validate(pre)
        self.state_ = key.fit(pre.transform_X(Xa), Y, params)
        self.params_ = params
        self.preprocessing_ = pre
        return self

    _key_and_params = _KeyRegressorMethods._key_and_params
    to_spec = _KeyRegressorMethods.to_spec

    def _codes(self, y: np.ndarray) -> np.ndarray:
        if self.classes is not None and y.dtype.kind in "OUSb":
            index = {str(c): i for i, c in enumerate(self.classes)}
            bad = [v for v in y if str(v) not in index]
            if bad:
                raise DataError(f"label {bad[0]!r} is not one of the key's classes {list(self.classes)}")
            return np.array([index[str(v)] for v in y], dtype=np.int64)
        try:
            codes = y.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise DataTypeError(f"labels must be class codes 0..k-1 or among classes=..., got {y[:3]!r}") from e
        if not (np.isfinite(codes).all() and np.all(codes == np.round(codes)) and codes.min() >= 0):
            raise DataError("class codes must be whole numbers >= 0")
        if self.classes is not None and codes.max() >= len(self.classes):
            raise DataError(f"class code {int(codes.max())} is out of range for {len(self.classes)} classes")
        return codes.astype(np.int64)

    def _scores(self, X) -> np.ndarray:
        Xa = _checked_query(self, X)
        key = get_key(self.algorithm, self.version)
        return key.predict(self.state_, self.preprocessing_.transform_X(Xa), self.params_)

    def decision_function(self, X) -> np.ndarray:
        """The scores F (n, k) (docs/keys.md)."""
        return self._scores(X)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, k): softmax of the scores at the key's temperature."""
        from .keys.classify import softmax

        return softmax(self._scores(X), self.params_["temperature"])

    def predict(self, X) -> np.ndarray:
        """The class with the highest score (the first on ties), as in ``classes_``."""
        return self.classes_[np.argmax(self._scores(X), axis=1)]


def _checked_query(est, X) -> np.ndarray:
    """``X`` as float64 for a fitted estimator's prediction (fitted, numeric, finite, right width)."""
    from sklearn.utils.validation import validate_data

    from ._validation import _column_names, check_finite, check_numeric_columns
    from .errors import NotFittedError

    if not hasattr(est, "state_"):
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet. Call 'fit' first.")
    check_numeric_columns(X)
    try:
        Xa = validate_data(est, X, dtype=np.float64, reset=False, ensure_all_finite=False)
    except TypeError as e:
        raise DataTypeError(str(e)) from e
    except ValueError as e:
        raise ShapeError(str(e)) from e
    check_finite(Xa, _column_names(X, Xa.shape[1]))
    return Xa


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


def _key_classifier_class() -> type:
    """``KeyClassifier``, made like :func:`_key_regressor_class` on scikit-learn's classifier bases."""
    with _DEFINE_LOCK:
        if "KeyClassifier" not in globals():
            from sklearn.base import BaseEstimator, ClassifierMixin

            globals()["KeyClassifier"] = type(
                "KeyClassifier", (_KeyClassifierMethods, ClassifierMixin, BaseEstimator),
                {"__module__": __name__, "__qualname__": "KeyClassifier", "__doc__": _KeyClassifierMethods.__doc__},
            )
    return globals()["KeyClassifier"]


def __getattr__(name: str):
    """``KeyRegressor`` and ``KeyClassifier`` on first access (see the module docstring)."""
    if name == "KeyRegressor":
        return _key_regressor_class()
    if name == "KeyClassifier":
        return _key_classifier_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"KeyRegressor", "KeyClassifier"})
