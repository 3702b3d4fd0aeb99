"""What every key algorithm provides, and hyperparameter checking.

A key works in the standardized space of :mod:`enfo_sdk.preprocessing`. It gives

* ``fit(Z, t, params) -> state``: the exact float64 fit (numpy), whose state is a dict of
  arrays that can be saved as Parquet and rebuilt anywhere;
* ``predict(state, Z, params)``;
* ``torch_fit(Zs, ts, params) -> predict_fn``: the same fit written in torch so forging can
  differentiate the fitted model's predictions w.r.t. the training rows *and* targets (the
  only method that needs torch: keys import it there, so ``fit`` and ``predict`` work
  without torch installed);
* ``default_search(...)`` and ``cv_search(...)`` for encapsulation.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import HyperparameterError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: its type, default (None: required), lower and upper bound.

    The bounds are the *sane* range, not just the mathematical one: a bandwidth of 1e-300 is
    positive but its square underflows to zero, and a billion iterations exhaust memory, so
    both are refused when the contract is read, at their line.
    """

    name: str
    kind: type  # int or float
    default: float | int | None
    low: float
    low_inclusive: bool = False
    doc: str = ""
    high: float = math.inf  # inclusive

    def check(self, value: Any, algorithm: str) -> float | int:
        where = f"hyperparameter {self.name!r} of key {algorithm!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise HyperparameterError(f"{where} must be a number, got {value!r}")
        if self.kind is int:
            if float(value) != int(value):
                raise HyperparameterError(f"{where} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise HyperparameterError(f"{where} must be finite, got {value!r}")
        ok = value >= self.low if self.low_inclusive else value > self.low
        if not ok:
            op = ">=" if self.low_inclusive else ">"
            raise HyperparameterError(f"{where} must be {op} {self.low:g}, got {value!r}")
        if value > self.high:
            raise HyperparameterError(f"{where} must be <= {self.high:g}, got {value!r}")
        return value


@dataclass
class SearchResult:
    """Outcome of a cross-validated search: the best params and every tried point."""

    best_params: dict[str, float | int]
    best_score: float  # mean validation MSE in standardized space
    table: list[dict[str, float]] = field(default_factory=list)  # params + "cv_mse"
    at_edge: list[str] = field(default_factory=list)  # names whose best value is on the grid's edge


class Key(ABC):
    """A key algorithm, identified by ``name`` and ``version``."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: what the key predicts: "regression" (one standardized target) or "classification"
    #: (one-hot targets, multi-output; :mod:`enfo_sdk.keys.classify`)
    task: ClassVar[str] = "regression"
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()
    #: state entries that are arrays over training rows (saved as table columns)
    row_state: ClassVar[tuple[str, ...]] = ()
    #: required hyperparameters for a ``KeyRegressor`` built without any of them
    estimator_defaults: ClassVar[dict[str, float | int]] = {}
    #: hyperparameters whose *default* search range is a budget, not a guess to widen: a best
    #: value on its end is accepted without widening or warning (a user's range still warns)
    search_budgets: ClassVar[tuple[str, ...]] = ()

    # -- hyperparameters ---------------------------------------------------------------
    def check_params(self, params: Mapping[str, Any] | None) -> dict[str, float | int]:
        """Fill defaults and validate; unknown, missing or out-of-range values raise."""
        params = dict(params or {})
        known = {h.name: h for h in self.hyperparameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            raise HyperparameterError(
                f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for key "
                f"{self.name!r} (allowed: {allowed})"
            )
        out: dict[str, float | int] = {}
        for h in self.hyperparameters:
            if h.name not in params:
                if h.default is None:
                    raise HyperparameterError(
                        f"key {self.name!r} needs hyperparameter {h.name!r} ({h.doc})"
                    )
                out[h.name] = h.default
            else:
                out[h.name] = h.check(params[h.name], self.name)
        return out

    # -- the model ---------------------------------------------------------------------
    @abstractmethod
    def fit(self, Z: np.ndarray, t: np.ndarray, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Exact float64 fit on standardized rows Z (m, d) and targets t (m,)."""

    @abstractmethod
    def predict(self, state: Mapping[str, np.ndarray], Z: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        """Predictions (n,) in standardized space."""

    @abstractmethod
    def torch_fit(
        self, Zs: torch.Tensor, ts: torch.Tensor, params: Mapping[str, Any]
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable fit: returns ``predict(Zq) -> (n,)``, differentiable w.r.t. Zs, ts."""

    # -- encapsulation -----------------------------------------------------------------
    def default_search(self, n_rows: int) -> dict[str, list]:
        """The default search grid (values per hyperparameter)."""
        return {}

    def widen(self, name: str, values: list, side: str) -> list | None:
        """Extend a grid past an edge; None when it cannot be widened further."""
        return None

    def cv_score(self, Z: np.ndarray, t: np.ndarray, folds: Sequence[np.ndarray], params) -> float:
        """Mean validation MSE of ``params`` over the folds (what :meth:`cv_search` ranks)."""
        return _cv_mse(self, Z, t, folds, params)

    def cv_search(
        self,
        Z: np.ndarray,
        t: np.ndarray,
        folds: Sequence[np.ndarray],
        search: Mapping[str, Sequence],
        progress: Callable[[float], None] | None = None,
        cache: dict | None = None,
    ) -> SearchResult:
        """Grid search by K-fold CV; ``folds`` holds the validation indices of each fold.

        ``cache`` is a dict a key may keep results in between calls on the same rows and
        folds (encapsulation calls again after widening a grid); this plain search ignores it.
        """
        names = list(search)
        grids = [list(search[n]) for n in names]
        table = []
        combos = list(itertools.product(*grids)) or [()]
        for i, combo in enumerate(combos):
            params = self.check_params(dict(zip(names, combo)))
            mse = self.cv_score(Z, t, folds, params)
            table.append({**params, "cv_mse": mse})
            if progress:
                progress((i + 1) / len(combos))
        return _summarise(table, names, grids)


def check_search_names(key: Key, names) -> None:
    """Raise naming every search key that is not one of ``key``'s hyperparameters, and (when
    ``names`` is a mapping of grids) every listed value outside its hyperparameter's range."""
    known = {h.name for h in key.hyperparameters}
    unknown = sorted(set(names) - known)
    if unknown:
        raise HyperparameterError(
            f"unknown search key(s) {', '.join(map(repr, unknown))} for key {key.name!r} "
            f"(allowed: {', '.join(sorted(known)) or 'none'})"
        )
    if isinstance(names, Mapping):
        check_search_values(key, names)


def check_search_values(key: Key, search: Mapping[str, Any]) -> None:
    """Check every value of a search grid (a value, a list, or ``{max: T}`` for an integer
    hyperparameter) against its hyperparameter's type and range; raise naming the first bad one."""
    by_name = {h.name: h for h in key.hyperparameters}
    for name, values in search.items():
        hp = by_name.get(name)
        if hp is None:
            continue
        if isinstance(values, Mapping):
            if hp.kind is not int or set(values) != {"max"}:
                raise HyperparameterError(f"{name}: {{max: T}} applies only to a whole-number "
                                          f"hyperparameter, got {dict(values)!r}")
            hp.check(values["max"], key.name)
            if isinstance(values["max"], float):
                raise HyperparameterError(f"{name}: max must be a whole number, got {values['max']!r}")
            continue
        listed = list(values) if isinstance(values, (list, tuple)) else [values]
        if not listed:
            raise HyperparameterError(f"{name}: the search grid is empty")
        for v in listed:
            hp.check(v, key.name)


def _cv_mse(key: Key, Z, t, folds, params) -> float:
    n = len(t)
    errs, counts = 0.0, 0
    for val in folds:
        train = np.setdiff1d(np.arange(n), val)
        state = key.fit(Z[train], t[train], params)
        r = key.predict(state, Z[val], params) - t[val]
        errs += float(r @ r)
        counts += len(val)
    return errs / counts


def _summarise(table: list[dict], names: list[str], grids: list[list]) -> SearchResult:
    best = min(table, key=lambda r: (r["cv_mse"] if np.isfinite(r["cv_mse"]) else np.inf))
    at_edge = []
    for name, grid in zip(names, grids):
        if len(grid) > 1 and best[name] in (grid[0], grid[-1]):
            at_edge.append(name)
    params = {k: v for k, v in best.items() if k != "cv_mse"}
    return SearchResult(best_params=params, best_score=best["cv_mse"], table=table, at_edge=at_edge)
