"""The partner's key model: verified bundle -> rebuilt key model -> saved model -> predictions.

``train`` fits the manifest's KeySpec on the signed rows (the same fit verification checked
against the probe points) and returns a :class:`TrainedModel`: a scikit-learn regressor (a
:class:`~enfo_sdk.spec.KeyRegressor`) that also records the bundle id, the signer's
fingerprint and the feature and target names, so it drops into a ``Pipeline``,
``cross_val_score`` or a model registry like any other regressor. A trained model is saved as one Parquet file, no pickle:

* table columns: the key's *row state* -- arrays with one entry per training row, e.g.
  ``train_rows`` (m, d) and ``coef`` (m,) for nu-method/krr -- as float64 columns; a 1-D
  array is one column named after it, a 2-D array of width k the columns ``name[0]`` ..
  ``name[k-1]``. Keys without row state (ols, ridge) have a table of 0 rows and 0 columns.
* footer: exactly one key-value entry, ``enfo.model``: JSON (:class:`ModelMetadata`) with the
  KeySpec, feature names, target, bundle id, signer fingerprint, library versions and, per
  state array, its shape and either the table columns holding it or its values inline
  (row-major) for the small arrays that are not row state (e.g. ``intercept``, ``coef`` of a
  linear key). Floats in JSON round-trip exactly (shortest repr), so a loaded model predicts
  bit-for-bit what the saved one did.

Loading reads the footer with the same untrusted-footer reader as bundles (so a file
carrying an Arrow schema is refused before pyarrow opens it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._validation import check_X
from ..fs import write_bytes_atomic
from ..bundle.footer import DEFAULT_LIMITS, DOUBLE, Limits, parse_footer, read_bounded
from ..bundle.manifest import Manifest, describe, library_versions, strict_json
from ..bundle.verify import VerifiedBundle
from ..bundle.write import encode_parquet
from ..errors import ApiUsageError, BundleError, DataError, KeySpecError, ModelFileError, NotFittedError
from ..keys import get_key
from ..spec import KeyClassifier, KeyRegressor, KeySpec

__all__ = [
    "MODEL_FOOTER_KEY", "ArrayInfo", "ModelMetadata", "TrainedClassifier", "TrainedModel", "default_model_path",
    "load_model", "model_bytes", "predict", "save_model", "train",
]

MODEL_FOOTER_KEY = "enfo.model"


# -- training ------------------------------------------------------------------------------------
def default_model_path(bundle: str | os.PathLike) -> Path:
    """Where ``enfo-partner train`` saves the model of ``bundle`` by default.

    Beside the bundle: ``rows.parquet`` -> ``rows.model.parquet`` (a ``.bundle`` part of the
    name is dropped: ``x.bundle.parquet`` -> ``x.model.parquet``).
    """
    bundle = Path(bundle)
    stem = bundle.name.removesuffix(".parquet").removesuffix(".bundle") or "bundle"
    return bundle.with_name(f"{stem}.model.parquet")


def train(verified: VerifiedBundle) -> "TrainedModel":
    """The key model of a verified bundle, fitted on its rows.

    Parameters
    ----------
    verified : VerifiedBundle
        From :func:`enfo_sdk.bundle.verify` (an unverified bundle cannot get here).

    Returns
    -------
    TrainedModel
        A fitted scikit-learn regressor carrying the bundle's id, signer fingerprint, feature
        and target names.
    """
    if not isinstance(verified, VerifiedBundle):
        raise ApiUsageError(f"train needs a VerifiedBundle from enfo_sdk.bundle.verify, got {type(verified).__name__}")
    spec = verified.require_key()
    model = _trained_class(spec)(**spec.build().get_params()).fit(verified.X, verified.y)
    return model._with_provenance(verified.manifest, verified.fingerprint)


def _trained_class(spec: KeySpec) -> type:
    return TrainedClassifier if spec.task == "classification" else TrainedModel


class _Provenance:
    """What a partner's trained key adds to its estimator: the bundle's names and provenance,
    and predictions on DataFrames matched by column name (see :class:`TrainedModel`)."""

    def fit(self, X, y):
        """The key's ``fit``, clearing the provenance (:class:`TrainedModel`)."""
        super().fit(X, y)
        self.feature_names_ = None
        self.columns_ = None
        self.target_name_ = str(y.name) if isinstance(y, pd.Series) and y.name is not None else None
        self.bundle_id_ = None
        self.signer_fingerprint_ = None
        return self

    def _query(self, X):
        """``X`` for the key: a DataFrame encoded through ``columns_`` or matched to
        ``feature_names_`` by name; an array as it is (the bundle's feature order)."""
        names = getattr(self, "feature_names_", None)
        columns = getattr(self, "columns_", None)
        if columns is not None and isinstance(X, pd.DataFrame):
            X = columns.encode(X, where="data")  # refuses repeated columns itself
        elif names is not None and isinstance(X, pd.DataFrame):
            X = check_X(_select_features(X, names, self.target_name_), what="data")
        return X

    def get_feature_names_out(self, input_features=None):
        """The name of the one output column: the bundle's target (``"prediction"`` if unknown).

        Returns
        -------
        ndarray of str of shape (1,)
        """
        if not hasattr(self, "state_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first.")
        return np.asarray([self.target_name_ or "prediction"], dtype=object)

    def _with_provenance(self, manifest: Manifest, signer_fingerprint: str) -> "TrainedModel":
        if self.to_spec() != manifest.key.with_columns(None):
            raise DataError(
                f"the model ({self.algorithm}) was not trained with this bundle's key "
                f"({manifest.key.algorithm} v{manifest.key.version}, {manifest.key.hyperparameters})"
            )
        self.feature_names_ = list(manifest.task.features)
        self.columns_ = manifest.key.columns
        self.target_name_ = manifest.task.target
        self.bundle_id_ = manifest.bundle_id
        self.signer_fingerprint_ = signer_fingerprint
        return self

    @classmethod
    def from_bundle(cls, verified: VerifiedBundle, estimator: KeyRegressor | None = None):
        """``train(verified)``, or a fitted ``estimator`` of the bundle's key adopted with its provenance."""
        if estimator is None:
            return train(verified)
        return _adopt(estimator, verified.manifest, verified.fingerprint)

    # the names of the pre-estimator TrainedModel record
    estimator = property(lambda self: self, doc="The model itself (it is the estimator).")
    spec = property(lambda self: self.to_spec().with_columns(getattr(self, "columns_", None)),
                    doc="The KeySpec (``to_spec()`` with the column encoding).")
    feature_names = property(lambda self: self.feature_names_, doc="``feature_names_``.")
    target_name = property(lambda self: self.target_name_, doc="``target_name_``.")
    bundle_id = property(lambda self: self.bundle_id_, doc="``bundle_id_``.")
    signer_fingerprint = property(lambda self: self.signer_fingerprint_, doc="``signer_fingerprint_``.")

    @property
    def input_columns(self) -> list[str]:
        """The columns a table to predict on must hold: the raw columns the key's encoding
        reads (format v2), else the numeric features."""
        columns = getattr(self, "columns_", None)
        return columns.input_columns if columns is not None else list(self.feature_names_ or [])


class TrainedModel(_Provenance, KeyRegressor):
    """The key model a partner trained on a verified bundle: a scikit-learn regressor with provenance.

    Parameters are those of :class:`enfo_sdk.spec.KeyRegressor` (the bundle's KeySpec), so
    ``get_params``, ``clone``, ``Pipeline`` and ``cross_val_score`` work as for any regressor;
    a clone is the *untrained* key (same hyperparameters and fixed preprocessing).

    Attributes
    ----------
    state_, params_, preprocessing_, n_features_in_
        The fitted key, as for KeyRegressor.
    feature_names_ : list of str or None
        The bundle's feature columns. ``predict`` given a DataFrame matches these columns by
        name (in any order; a missing or extra column is an error); given an array, by position.
    target_name_ : str or None
        The bundle's target: the name of ``get_feature_names_out``'s one output.
    columns_ : ColumnTransform or None
        The key's column encoding (bundle format v2): ``predict`` given a DataFrame reads the
        raw table through it, as the owner's rows were read.
    bundle_id_, signer_fingerprint_ : str or None
        The bundle the model was trained on and who signed it. :func:`train` and
        :func:`load_model` set them; a plain ``fit`` on other rows sets them to None (the
        model no longer comes from a bundle).

    The pre-estimator names ``estimator``, ``spec``, ``feature_names``, ``target_name``,
    ``bundle_id`` and ``signer_fingerprint`` remain as read-only properties.
    """

    def predict(self, X):
        """Predict in original units.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            A DataFrame is matched to ``feature_names_`` by column name when the model has
            them; an array is taken in the bundle's feature order.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return super().predict(self._query(X))


class TrainedClassifier(_Provenance, KeyClassifier):
    """A classification key a partner trained on a verified bundle (format 3): a scikit-learn
    classifier with the provenance and name matching of :class:`TrainedModel`; ``classes_``
    are the bundle's classes."""

    def predict(self, X):
        """The most likely class per row (n_samples,), among ``classes_``."""
        return super().predict(self._query(X))

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), in ``classes_`` order."""
        return super().predict_proba(self._query(X))

    def decision_function(self, X):
        """The key's scores (n_samples, n_classes)."""
        return super().decision_function(self._query(X))


#: The partner's trained models (regression and classification keys).
TRAINED = (TrainedModel, TrainedClassifier)


def _adopt(estimator, manifest: Manifest, signer_fingerprint: str):
    """A new trained model holding ``estimator``'s fitted state, with the bundle's provenance."""
    if not hasattr(estimator, "state_"):
        raise NotFittedError("the model is not fitted; call enfo_sdk.partner.train(verified) first")
    model = _trained_class(manifest.key)(**estimator.get_params())
    for name in ("state_", "params_", "preprocessing_", "n_features_in_", "feature_names_in_", "classes_"):
        if hasattr(estimator, name):
            setattr(model, name, getattr(estimator, name))
    return model._with_provenance(manifest, signer_fingerprint)


def _select_features(data: pd.DataFrame, features: list[str], target: str | None) -> pd.DataFrame:
    """``data``'s feature columns in the model's order; names missing, extra and duplicate columns."""
    from ..data.tables import check_column_names

    check_column_names(list(data.columns), "data")
    cols = [str(c) for c in data.columns]
    missing = [f for f in features if f not in cols]
    extra = [c for c in cols if c not in features]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            note = " (the target: drop it before predicting)" if target in extra else ""
            parts.append(f"unexpected column(s) {', '.join(map(repr, extra))}{note}")
        raise DataError(f"the data does not match the model's features {features}: {'; '.join(parts)}")
    return data.rename(columns=str)[features]


# -- predicting ----------------------------------------------------------------------------------
def predict(model: TrainedModel, data: pd.DataFrame) -> pd.Series:
    """Predict the target for each row of ``data``, matching columns by name.

    Parameters
    ----------
    model : TrainedModel
    data : DataFrame of shape (n_samples, n_features)
        A key with a column encoding (bundle format v2) reads the raw table: it must hold the
        encoding's input columns (others, e.g. ids or the target, are passed over), with values
        of their types. Otherwise it must hold exactly the manifest's feature columns, in any
        order.

    Returns
    -------
    Series of shape (n_samples,), or DataFrame for a classification key
        Named after the target, indexed like ``data``. A classification key gives a DataFrame:
        the most likely class in a column named after the target, then one probability column
        per class, ``target=class`` (the bundle's label columns), summing to one.

    Raises
    ------
    DataError
        Naming missing and extra columns, or the column with non-numeric / missing values.
    """
    if not isinstance(model, TRAINED) or getattr(model, "feature_names_", None) is None:
        raise ApiUsageError(f"predict needs a TrainedModel from train / load_model, got {type(model).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"predict needs a DataFrame with the named columns {model.feature_names_}, got {type(data).__name__}"
        )
    if isinstance(model, TrainedClassifier):
        P = model.predict_proba(data)
        out = pd.DataFrame({model.target_name_: model.classes_[P.argmax(1)]}, index=data.index)
        for j, c in enumerate(model.classes_):
            out[f"{model.target_name_}={c}"] = P[:, j]
        return out
    return pd.Series(model.predict(data), index=data.index, name=model.target_name_)


# -- saving and loading ------------------------------------------------------------------------
class ArrayInfo(BaseModel):
    """Where one state array lives: table ``columns`` (row state) or inline ``values``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    shape: list[int] = Field(min_length=1, max_length=2)
    columns: list[str] | None = None
    values: list[float] | None = None


class ModelMetadata(BaseModel):
    """The ``enfo.model`` footer entry of a saved model."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    format: Literal["enfo-model"]
    format_version: Literal[1]
    key: KeySpec
    features: list[str] = Field(min_length=1)
    target: str
    bundle_id: str
    signer_fingerprint: str
    rows: int = Field(ge=0)
    state: dict[str, ArrayInfo]
    library_versions: dict[str, str]
    digest: str | None = Field(
        None, description="SHA-256 (hex) of the state columns' content digest and of this metadata "
        "without this field: a corrupted file is refused instead of predicting with a changed "
        "coefficient. Not a signature (anyone can rewrite a model file). Absent in older files.")

    def integrity(self, values: dict[str, np.ndarray], columns: list[str]) -> str:
        """The ``digest`` this metadata and these state columns should carry."""
        import hashlib

        from ..bundle.digest import content_digest

        body = self.model_dump_json(exclude={"digest"}).encode("utf-8")
        h = hashlib.sha256(b"enfo-model-integrity-v1\n")
        h.update(content_digest(values, columns).encode("ascii") + b"\n" + body)
        return h.hexdigest()


def save_model(model: KeyRegressor, path: str | os.PathLike, manifest: Manifest | VerifiedBundle) -> Path:
    """Save a trained key model as Parquet + JSON metadata (atomic; layout in the module doc).

    Parameters
    ----------
    model : KeyRegressor
        Fitted with the bundle's key (checked); a :class:`TrainedModel` or a plain KeyRegressor.
    path : path-like
    manifest : Manifest or VerifiedBundle
        The bundle it was trained on (a VerifiedBundle also gives the signer fingerprint).
    """
    return write_bytes_atomic(path, model_bytes(model, manifest))


def model_bytes(model: KeyRegressor | TrainedModel, manifest: Manifest | VerifiedBundle) -> bytes:
    """The bytes :func:`save_model` writes (Parquet + JSON metadata), for callers that write
    them with other outputs."""
    if isinstance(manifest, VerifiedBundle):
        fp, manifest = manifest.fingerprint, manifest.manifest
    elif isinstance(manifest, Manifest):
        fp = manifest.owner.fingerprint
    else:
        raise ApiUsageError(f"manifest must be a Manifest or VerifiedBundle, got {type(manifest).__name__}")
    wrapped = _adopt(model, manifest, fp)
    key = get_key(wrapped.spec.algorithm, wrapped.spec.version)
    columns: list[str] = []
    values: dict[str, np.ndarray] = {}
    state: dict[str, ArrayInfo] = {}
    rows = None
    for name, arr in model.state_.items():
        a = np.asarray(arr)
        f = a.astype(np.float64)
        if not np.array_equal(f, a) or a.ndim not in (1, 2):
            raise DataError(f"state array {name!r} (dtype {a.dtype}, shape {a.shape}) cannot be saved as float64")
        if name in key.row_state:
            if rows is not None and a.shape[0] != rows:
                raise DataError(f"row state {name!r} has {a.shape[0]} rows, expected {rows}")
            rows = a.shape[0]
            names = [name] if a.ndim == 1 else [f"{name}[{j}]" for j in range(a.shape[1])]
            for j, c in enumerate(names):
                if c in values:
                    raise DataError(f"state column name {c!r} is used twice")
                values[c] = np.ascontiguousarray(f if a.ndim == 1 else f[:, j])
            columns += names
            state[name] = ArrayInfo(shape=list(a.shape), columns=names)
        else:
            state[name] = ArrayInfo(shape=list(a.shape), values=f.ravel().tolist())
    meta = ModelMetadata(
        format="enfo-model", format_version=1, key=wrapped.spec, features=wrapped.feature_names,
        target=wrapped.target_name, bundle_id=wrapped.bundle_id, signer_fingerprint=fp, rows=rows or 0,
        state=state, library_versions=library_versions(),
    )
    meta = meta.model_copy(update={"digest": meta.integrity(values, columns)})
    return encode_parquet(columns, values, {MODEL_FOOTER_KEY: meta.model_dump_json().encode("utf-8")})


def load_model(path: str | os.PathLike, *, limits: Limits = DEFAULT_LIMITS) -> TrainedModel:
    """Load a model saved by :func:`save_model` (no pickle; footer checked before decoding).

    Raises
    ------
    ModelFileError
        Not a model file, truncated, unexpected footer entries, or inconsistent metadata.
    """
    name = str(path)
    try:
        raw = read_bounded(path, limits)
        footer = parse_footer(raw, name, limits)
    except BundleError as e:
        raise ModelFileError(f"cannot read the model file: {e}") from e
    keys = [k for k, _ in footer.key_value]
    if keys != [MODEL_FOOTER_KEY] or footer.key_value[0][1] is None:
        raise ModelFileError(
            f"{name}: not an EnFo model file (its footer must hold exactly one '{MODEL_FOOTER_KEY}' "
            f"entry, found {keys or 'none'})"
        )
    payload = footer.key_value[0][1]
    try:
        strict_json(payload.decode("utf-8"))
        meta = ModelMetadata.model_validate_json(payload, strict=True)
    except (UnicodeDecodeError, ValueError, KeySpecError) as e:
        detail = describe(e) if isinstance(e, ValidationError) else str(e)
        raise ModelFileError(f"{name}: the model metadata is invalid: {detail}") from e
    columns = [c for info in meta.state.values() for c in (info.columns or [])]
    got = [c.name for c in footer.columns]
    if got != columns or footer.nested or any(c.physical_type != DOUBLE for c in footer.columns):
        raise ModelFileError(f"{name}: the table columns {got} do not match the metadata's {columns}")
    if footer.num_rows != meta.rows:
        raise ModelFileError(f"{name}: the table has {footer.num_rows} rows, the metadata says {meta.rows}")
    try:
        table = pq.ParquetFile(pa.BufferReader(raw)).read(use_threads=False, use_pandas_metadata=False)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ModelFileError(f"{name}: the model table cannot be decoded ({e})") from e
    if meta.digest is not None:
        values = {c: np.ascontiguousarray(table.column(c).to_numpy(), dtype=np.float64) for c in columns}
        if meta.integrity(values, columns) != meta.digest:
            raise ModelFileError(f"{name}: the model file is corrupted (its integrity digest does not "
                                 "match its state and metadata); train it again from the bundle")
    state = {}
    for sname, info in meta.state.items():
        shape = tuple(info.shape)
        if (info.columns is None) == (info.values is None):
            raise ModelFileError(f"{name}: state {sname!r} must have either columns or values")
        if info.columns is not None:
            cols = [table.column(c) for c in info.columns]
            if any(c.null_count for c in cols):
                raise ModelFileError(f"{name}: state {sname!r} has null values")
            arr = np.column_stack([c.to_numpy() for c in cols]) if len(shape) == 2 else cols[0].to_numpy()
            arr = np.array(arr, dtype=np.float64)
        else:
            arr = np.asarray(info.values, dtype=np.float64)
            if arr.size != int(np.prod(shape)):
                raise ModelFileError(f"{name}: state {sname!r} has {arr.size} values for shape {list(shape)}")
            arr = arr.reshape(shape)
        if arr.shape != shape:
            raise ModelFileError(f"{name}: state {sname!r} has shape {list(arr.shape)}, the metadata says {list(shape)}")
        state[sname] = arr
    absent = [r for r in meta.key.key.row_state if r not in state]
    if absent:
        raise ModelFileError(f"{name}: the {meta.key.algorithm} state lacks {', '.join(map(repr, absent))}")
    if meta.key.n_features != len(meta.features):
        raise ModelFileError(f"{name}: the key has {meta.key.n_features} features, the metadata names {len(meta.features)}")
    model = _trained_class(meta.key)(**meta.key.build().get_params())
    model.state_ = state
    if isinstance(model, TrainedClassifier):
        k = state["coef"].shape[1] if state.get("coef") is not None and state["coef"].ndim == 2 else 0
        classes = meta.key.classes
        if classes is None or len(classes) != k:
            raise ModelFileError(f"{name}: the classification key's state has {k} class columns, its "
                                 f"encoding names {classes}")
        model.classes_ = np.asarray(classes)
    model.params_ = dict(meta.key.hyperparameters)
    model.preprocessing_ = meta.key.preprocessing
    model.n_features_in_ = len(meta.features)
    model.feature_names_ = list(meta.features)
    model.target_name_ = meta.target
    model.bundle_id_ = meta.bundle_id
    model.signer_fingerprint_ = meta.signer_fingerprint
    model.columns_ = meta.key.columns  # a v2/v3 key reads raw tables, as when it was saved
    return model
