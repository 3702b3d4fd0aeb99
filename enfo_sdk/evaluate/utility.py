"""Utility and rivalry w.r.t. external data, measured with the key model itself.

* utility (paper section 5.3): test RMSE, in original units, of the key (fixed KeySpec
  hyperparameters and preprocessing, ``KeySpec.build()``) trained on a table and scored on the
  owner's held-out rows;
* stability (section 5.3.1): the sample standard deviation (ddof=1) of those RMSEs over
  independently seeded runs;
* rivalry w.r.t. external data (section 5.1.1, "resistance to external augmentation"): the
  key's test RMSE when trained on the bundle plus k real rows the bundle was not made from,
  against the bundle alone, both scored on the same held-out rows (k = 1,000 in the paper).
  ``change`` = augmented / bundle - 1; positive means outside data makes the key worse.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["rmse", "key_predictions", "key_rmse", "predict_blocks", "stability", "external_rivalry"]


#: Rows predicted at a time by :func:`rmse`: a kernel key's prediction builds a (rows x training
#: rows) block, 4 GB for 100,000 test rows against 5,000 training rows in one piece.
PREDICT_BLOCK = 4096


def predict_blocks(model, X, block: int = PREDICT_BLOCK) -> np.ndarray:
    """``model.predict(X)`` in float64, ``block`` rows at a time (each row's prediction depends
    on that row only, so memory stays bounded)."""
    X = np.asarray(X, dtype=np.float64)
    if not len(X):
        return np.empty(0)
    return np.concatenate([np.asarray(model.predict(X[i:i + block]), dtype=np.float64)
                           for i in range(0, len(X), block)])


def rmse(model, X, y, block: int = PREDICT_BLOCK) -> float:
    """Root mean squared error of ``model.predict(X)`` against ``y``, predicted ``block`` rows
    at a time (:func:`predict_blocks`)."""
    r = predict_blocks(model, X, block) - np.asarray(y, dtype=np.float64)
    return float(math.sqrt(float(np.mean(r * r))))


def key_predictions(spec, X_train, y_train, X_test) -> np.ndarray:
    """The key ``spec`` trained on (X_train, y_train), predicting ``X_test`` (float64)."""
    model = spec.build().fit(np.asarray(X_train, dtype=np.float64), np.asarray(y_train, dtype=np.float64))
    return predict_blocks(model, X_test)


def key_rmse(spec, X_train, y_train, X_test, y_test) -> float:
    """Test RMSE of the key ``spec`` trained on (X_train, y_train)."""
    r = key_predictions(spec, X_train, y_train, X_test) - np.asarray(y_test, dtype=np.float64)
    return float(math.sqrt(float(np.mean(r * r))))


def stability(values) -> float | None:
    """Standard deviation (ddof=1) of RMSEs over runs; None for fewer than two runs."""
    v = np.asarray(list(values), dtype=np.float64)
    return float(np.std(v, ddof=1)) if len(v) >= 2 else None


def external_rivalry(spec, X_bundle, y_bundle, X_ext, y_ext, X_test, y_test) -> dict:
    """Key RMSE on bundle alone and on bundle + external rows, same test rows.

    Returns
    -------
    dict
        ``bundle``, ``augmented`` (RMSEs), ``change`` (augmented / bundle - 1), ``external_rows``.
    """
    alone = key_rmse(spec, X_bundle, y_bundle, X_test, y_test)
    Xa = np.vstack([np.asarray(X_bundle, dtype=np.float64), np.asarray(X_ext, dtype=np.float64)])
    ya = np.concatenate([np.asarray(y_bundle, dtype=np.float64), np.asarray(y_ext, dtype=np.float64)])
    mixed = key_rmse(spec, Xa, ya, X_test, y_test)
    return {"bundle": alone, "augmented": mixed, "change": mixed / alone - 1.0,
            "external_rows": int(len(y_ext))}
