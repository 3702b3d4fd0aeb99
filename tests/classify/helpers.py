"""A small three-class table, its key and a forged classification bundle, made once per session."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

from enfo_sdk import encapsulate, forge
from enfo_sdk.data.columns import ColumnTransform, infer_schema


@lru_cache(maxsize=None)
def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, a categorical one, and a three-class label (strings)."""
    g = np.random.default_rng(seed)
    x1, x2 = g.standard_normal(n), g.standard_normal(n)
    region = g.choice(["north", "south"], n)
    score = x1 + 0.8 * x2 * (region == "north") - 0.5 * (region == "south")
    label = np.where(score < -0.5, "low", np.where(score < 0.6, "mid", "high"))
    return pd.DataFrame({"x1": x1, "x2": x2, "region": region, "label": label})


@lru_cache(maxsize=None)
def key(algorithm: str = "nu-method-classifier"):
    df = table()
    ct = ColumnTransform.fit(df, infer_schema(df, "label"), "label", task="classification")
    X, y = ct.encode_frame(df), pd.Series(ct.target_values(df), name="label")
    search = {"bandwidth": [1.0], "iterations": {"max": 60}} if algorithm.startswith("nu") else {"bandwidth": [1.0], "alpha": [1e-3]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-point grid is "on the edge"
        spec = encapsulate(X, y, algorithm=algorithm, search=search, cv=3)
    return ct, X, y, spec.with_columns(ct)


@lru_cache(maxsize=None)
def forged(algorithm: str = "nu-method-classifier", **settings):
    _, X, y, spec = key(algorithm)
    return forge(X, y, spec, rows=12, steps=60, eval_every=10, **settings)
