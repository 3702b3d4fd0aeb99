"""Encapsulation: pick the key's hyperparameters by cross-validation on the owner's rows.

The owner's rows are standardized (the preprocessing becomes part of the KeySpec), split
into ``cv`` folds by a seeded permutation, and the key's search grid is scored by mean
validation MSE. The nu-method scores every iteration count along one run per bandwidth
(its iteration path), see :meth:`enfo_sdk.keys.nu_method.NuMethod.cv_search`.

When the best value sits on the edge of a grid, the grid is widened past that edge (up to
``max_widen`` times); if it is still on the edge an :class:`EdgeOfGridWarning` is issued.
A key's ``search_budgets`` (the nu-method's iteration count) are the exception: their default
range is a cost budget, and a best value at its end is kept without widening or warning
(it stays listed in the search result's ``at_edge``); a range the caller gives warns as usual.

Large tables: the search runs on a seeded random subsample of ``max_rows`` rows (default
5,000, documented in the returned report); the preprocessing is always fitted on all rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._random import rng as make_rng
from ._validation import check_Xy
from .errors import HyperparameterError
from .keys import SearchResult, get_key
from .keys.base import check_search_names
from .preprocessing import Preprocessing
from .spec import KeySpec


class EdgeOfGridWarning(UserWarning):
    """The chosen hyperparameter is on the edge of its search grid."""


@dataclass
class Encapsulation:
    """A KeySpec with the search that produced it."""

    spec: KeySpec
    search: SearchResult
    grid: dict[str, Any]
    rows_searched: int


def encapsulate(
    X,
    y,
    algorithm: str = "nu-method",
    search: Mapping[str, Any] | None = None,
    cv: int = 5,
    seed: int = 0,
    *,
    version: int | None = None,
    max_rows: int | None = 5000,
    max_widen: int = 3,
    progress: Callable[[float], None] | None = None,
    return_search: bool = False,
) -> KeySpec | Encapsulation:
    """Choose the key's hyperparameters by ``cv``-fold cross-validation.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : Series or array-like of shape (n_samples,)
    algorithm : str
        Registered key name.
    search : dict, optional
        Grid per hyperparameter (a list of values). For the nu-method ``iterations`` may be
        ``{"max": T}`` (the whole path 1..T is scored) or a list. Fixed values may be given as
        scalars. Default: the key's ``default_search``.
    cv : int
        Number of folds (>= 2).
    seed : int
        Seeds the fold split and the subsample.
    max_rows : int or None
        Search on a seeded subsample of at most this many rows (None: all rows).
    progress : callable, optional
        Called with the fraction done (0..1).
    return_search : bool
        Return an :class:`Encapsulation` (spec plus search table) instead of the KeySpec.

    Returns
    -------
    KeySpec or Encapsulation
    """
    Xa, ya, _, _ = check_Xy(X, y, min_rows=2)
    key = get_key(algorithm, version)
    if int(cv) < 2:
        raise HyperparameterError(f"cv must be >= 2, got {cv}")
    classify = key.task == "classification"
    if classify:  # one-hot targets, not standardized (docs/keys.md, "Classification keys")
        from .keys.classify import one_hot

        pre = Preprocessing.fit(Xa, np.zeros(len(ya)))
        Z, t = pre.transform_X(Xa), one_hot(_class_codes(ya), int(ya.max()) + 1)
    else:
        pre = Preprocessing.fit(Xa, ya)
        Z, t = pre.transform_X(Xa), pre.transform_y(ya)
    g = make_rng(seed)
    if max_rows is not None and len(t) > max_rows:
        sub = g.choice(len(t), int(max_rows), replace=False)
        Z, t = Z[sub], t[sub]
    if len(t) < cv:
        raise HyperparameterError(f"cv={cv} folds need at least {cv} rows, got {len(t)}")
    folds = np.array_split(g.permutation(len(t)), int(cv))

    grid = dict(key.default_search(len(t)))
    user_fixed = set()
    if search:
        check_search_names(key, search)
        for name, values in search.items():
            grid[name] = values if isinstance(values, (list, tuple, dict)) else [values]
            user_fixed.add(name)

    cache: dict = {}  # scores a key keeps between the calls on widened grids
    for attempt in range(max_widen + 1):
        result = key.cv_search(Z, t, folds, grid, progress=progress, cache=cache)
        widened = False
        for name in result.at_edge:
            if name in user_fixed or name in key.search_budgets:
                continue
            values = grid[name]
            side = _edge_side(result.best_params[name], values)
            new = key.widen(name, values, side) if attempt < max_widen else None
            if new is not None:
                grid[name] = new
                widened = True
        if not widened:
            break
    edges = [n for n in result.at_edge if n in user_fixed or n not in key.search_budgets]
    if edges:
        warnings.warn(
            f"encapsulation of {key.name!r}: best {', '.join(f'{n}={result.best_params[n]}' for n in edges)} "
            f"is on the edge of the search grid; consider a wider search",
            EdgeOfGridWarning,
            stacklevel=2,
        )
    params = result.best_params
    if classify:  # the temperature, on the chosen key's out-of-fold scores
        from .keys.classify import fit_temperature

        checked = key.check_params(params)
        params = {**params, "temperature": fit_temperature(key.oof_scores(Z, t, folds, checked), t.argmax(1))}
    spec = KeySpec(algorithm=key.name, version=key.version, hyperparameters=params, preprocessing=pre)
    if return_search:
        return Encapsulation(spec=spec, search=result, grid=grid, rows_searched=len(t))
    return spec


def _class_codes(y: np.ndarray) -> np.ndarray:
    """Class codes 0..k-1 (each present) of a classification target given as numbers."""
    if not (np.all(y == np.round(y)) and y.min() >= 0):
        raise HyperparameterError("a classification key needs class codes 0..k-1 as the target "
                                  "(ColumnTransform.target_values gives them)")
    codes = y.astype(np.int64)
    absent = sorted(set(range(int(codes.max()) + 1)) - set(codes.tolist()))
    if absent or codes.max() < 1:
        raise HyperparameterError(f"a classification key needs every class 0..k-1 (k >= 2) in the "
                                  f"training rows; absent: {absent or 'all but one'}")
    return codes


def _edge_side(best, values) -> str:
    if isinstance(values, Mapping):
        return "high"
    return "low" if best == min(values) else "high"
