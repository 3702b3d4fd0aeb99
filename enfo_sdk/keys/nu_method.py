r"""The nu-method (Lo Gerfo, Rosasco, Odone, De Vito, Verri 2008), the paper's main key.

An accelerated Landweber iteration in a Gaussian RKHS. With K the m x m kernel matrix of
the training rows and t their targets, c_0 = c_{-1} = 0 and for s = 1..T

    c_s = c_{s-1} + u_s (c_{s-1} - c_{s-2}) + (w_s / m) (t - K c_{s-1}),

    u_1 = 0,  w_1 = (4 nu + 2) / (4 nu + 1),
    u_s = (s-1)(2s-3)(2s+2nu-1) / ((s+2nu-1)(2s+4nu-1)(2s+2nu-3)),      s >= 2
    w_s = 4 (2s+2nu-1)(s+nu-1) / ((s+2nu-1)(2s+4nu-1)),                  s >= 2

and f(z) = sum_i c_{T,i} k(z, z_i). The iteration count T is the regulariser.

Modules. The recursion itself (coefficients, numpy fit) is :mod:`.nu_recursion`; the
differentiable fits forging uses are :mod:`.nu_adjoint` (adjoint recursion, plain unroll) and
:mod:`.nu_spectral` (eigendecomposition), both torch, imported by ``torch_fit`` only, so the
key fits and predicts without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .base import Hyperparameter, Key, SearchResult, _summarise, check_search_names
from .kernels import gaussian
from .nu_recursion import nu_coefficients, nu_fit_numpy


#: Longest iteration path scored by the default search (and when a search names no maximum).
DEFAULT_MAX_ITERATIONS = 2000
#: Most iterations a key may run (each costs a kernel product; a billion would exhaust memory
#: in the coefficient tables before the first one ran).
MAX_ITERATIONS = 100_000


class NuMethod(Key):
    name = "nu-method"
    version = 1
    hyperparameters = (
        Hyperparameter("bandwidth", float, None, 1e-6, low_inclusive=True, high=1e6,
                       doc="Gaussian kernel bandwidth s in [1e-6, 1e6] (standardized units)"),
        Hyperparameter("iterations", int, None, 1, low_inclusive=True, high=MAX_ITERATIONS,
                       doc=f"iterations T in [1, {MAX_ITERATIONS:,}]"),
        Hyperparameter("nu", float, 1.0, 0.0, high=100.0, doc="acceleration nu in (0, 100]"),
    )
    row_state = ("train_rows", "coef")
    estimator_defaults = {"bandwidth": 1.0, "iterations": 50}
    search_budgets = ("iterations",)  # the default path ends at DEFAULT_MAX_ITERATIONS (docs/keys.md)

    def fit(self, Z, t, params):
        K = gaussian(Z, Z, params["bandwidth"])
        c = nu_fit_numpy(K, np.asarray(t, dtype=np.float64), params["iterations"], params["nu"])
        return {"train_rows": np.array(Z, dtype=np.float64), "coef": c}

    def predict(self, state, Z, params):
        return gaussian(Z, state["train_rows"], params["bandwidth"]) @ state["coef"]

    def torch_fit(self, Zs, ts, params):
        from .kernels_torch import gaussian_torch
        from .nu_spectral import nu_fit_fast  # spectral or adjoint, by size (see there)

        s = params["bandwidth"]
        c = nu_fit_fast(gaussian_torch(Zs, Zs, s), ts, params["iterations"], params["nu"])
        return lambda Zq: gaussian_torch(Zq, Zs, s) @ c

    # -- encapsulation -----------------------------------------------------------------
    def default_search(self, n_rows: int) -> dict[str, list]:
        return {
            "bandwidth": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
            "iterations": {"max": DEFAULT_MAX_ITERATIONS},
        }

    def widen(self, name, values, side):
        if name == "bandwidth":
            v = sorted(values)
            ratio = v[1] / v[0] if len(v) > 1 else 2.0
            if side == "low" and v[0] > 1e-3:
                return [v[0] / ratio**k for k in (3, 2, 1)] + v
            if side == "high" and v[-1] < 1e3:
                return v + [v[-1] * ratio**k for k in (1, 2, 3)]
        if name == "iterations" and isinstance(values, Mapping) and values["max"] < 20000:
            return {"max": int(values["max"] * 2)}
        return None

    def cv_search(self, Z, t, folds, search, progress=None, cache=None) -> SearchResult:
        """Search bandwidth (and nu) on a grid and T along the iteration path.

        * Iteration path: for each bandwidth one computation gives the validation error of
          every T up to ``iterations["max"]``; it stops early once T exceeds
          1.5 * (best T so far) + 50, since the error has turned up by then. (The spectral
          path scores a coarse grid of T and every T around its minimum, so the search
          table lists those T only.)
        * Path method (:mod:`enfo_sdk.keys.nu_path`): when a pivoted Cholesky factor of the
          kernel matrix to pivot tolerance 1e-8 has rank <= n / 4 (the wider bandwidths), one
          eigendecomposition of that rank per fold scores the whole path in float64; otherwise
          all folds iterate together, one float32 product K @ C per iteration
          (:func:`~enfo_sdk.keys.nu_path.symmetric_product`, half of K read). (The key itself
          is always fitted in float64.) A bandwidth whose factor is too large makes every
          narrower one skip the factorisation (their rank is larger still).
        * Bandwidth walk: the grid is scored lazily, starting from the value nearest 1
          (standardized units): the wider neighbour is scored first and the walk moves to the
          first neighbour with lower error, until neither neighbour of the current value is
          better (or it is a grid end). A unimodal CV curve then costs its minimum plus its
          two neighbours and the values on the way.
        * ``cache`` (a dict, optional): paths already computed by an earlier call with the
          same rows and folds (encapsulation widens the grid and calls again); a path is
          reused when it was computed to the same ``iterations`` maximum or stopped early.
        """
        from .nu_path import LOWRANK_MAX_FRACTION, SpectralPath, lowrank_factor

        check_search_names(self, search)
        search = dict(search)
        bws = sorted(float(b) for b in _as_list(search.pop("bandwidth")))
        nus = [float(v) for v in _as_list(search.pop("nu", [1.0]))]
        iters = search.pop("iterations", {"max": DEFAULT_MAX_ITERATIONS})
        T_max, T_list, adaptive = _iteration_grid(iters)
        n = len(t)
        cache = {} if cache is None else cache
        # (bandwidth, nu) -> SpectralPath, or (T_max, adaptive, mse) of an iterative path
        paths = cache.setdefault("paths", {})
        max_rank = int(LOWRANK_MAX_FRACTION * n)
        # the spectral path scores one target column; a subclass scoring its own path keeps it
        own_path = type(self).path_mse is NuMethod.path_mse
        table: list[dict] = []
        scores: dict[int, float] = {}

        def spectral(path) -> dict[int, float]:
            if adaptive:
                return path.path(T_max, adaptive)
            return dict(zip(T_list, map(float, path.scores(T_list))))

        def cached(bw, nu):
            hit = paths.get((bw, nu))
            if isinstance(hit, SpectralPath):
                return spectral(hit)
            if hit is not None:
                T_c, adaptive_c, mse = hit
                if T_c == T_max and adaptive_c == adaptive:
                    return dict(enumerate(mse))
                if adaptive and adaptive_c and len(mse) - 1 < T_c <= T_max:  # stopped by the rule
                    return dict(enumerate(mse))
            return None

        def paths_for(bw) -> dict[float, dict[int, float]]:
            out = {nu: cached(bw, nu) for nu in nus}
            todo = [nu for nu, mse in out.items() if mse is None]
            if not todo:
                return out
            K = gaussian(Z, Z, bw)
            K32 = K.astype(np.float32)
            L = None
            if own_path and bw > cache.get("full_rank_below", 0.0):
                L = lowrank_factor(K, max_rank=max_rank)  # overwrites K
                if L is None:
                    cache["full_rank_below"] = bw
            del K
            for nu in todo:
                if L is not None:
                    paths[(bw, nu)] = path = SpectralPath(L, t, folds, nu)
                    out[nu] = spectral(path)
                else:
                    mse = self.path_mse(K32, t, folds, T_max, nu, adaptive)
                    paths[(bw, nu)] = (T_max, adaptive, mse)
                    out[nu] = dict(enumerate(mse))
            return out

        def score(i: int) -> float:
            if i in scores:
                return scores[i]
            best_i = np.inf
            wanted = set(T_list)
            for nu, mse in paths_for(bws[i]).items():
                for T, v in mse.items():
                    if T in wanted:
                        table.append({"bandwidth": bws[i], "iterations": T, "nu": nu, "cv_mse": float(v)})
                        best_i = min(best_i, float(v))
            scores[i] = best_i
            if progress:
                progress(min(1.0, len(scores) / max(3, len(bws) // 2)))
            return best_i

        i = int(np.argmin([abs(np.log(b)) for b in bws]))
        score(i)
        moved = True
        while moved:
            moved = False
            for j in (i + 1, i - 1):  # the wider (cheaper) neighbour first
                if 0 <= j < len(bws) and score(j) < scores[i]:
                    i, moved = j, True
                    break
        if progress:
            progress(1.0)
        result = _summarise(table, ["bandwidth", "nu"], [bws, nus])
        if result.best_params["iterations"] >= T_list[-1] or (
            adaptive and result.best_params["iterations"] >= T_max
        ):
            result.at_edge.append("iterations")
        return result


    def path_mse(self, K, t, folds, T_max: int, nu: float, adaptive: bool) -> np.ndarray:
        """Validation MSE along the iteration path, all folds at once (:meth:`cv_search`)."""
        n = len(t)
        train_mask = np.ones((n, len(folds)), dtype=bool)
        for f, val in enumerate(folds):
            train_mask[val, f] = False
        m = train_mask.sum(0).astype(np.float64)
        tt = np.where(train_mask, t[:, None], 0.0)
        return _path_mse(K, t[:, None], tt, train_mask, ~train_mask, m, T_max, nu, adaptive)


def _path_mse(K, target, tt, train_mask, val_mask, m, T_max, nu, adaptive):
    """Validation MSE (mean over all rows, each validated once) for T = 0..T_stop.

    Columns are (fold) paths; ``target`` broadcasts against them (``t[:, None]``, or one column
    of targets per path), ``tt`` is the target on each path's training rows and 0 elsewhere.
    """
    from .nu_path import symmetric_product

    n, F = tt.shape
    u, w = nu_coefficients(T_max, nu)
    C_prev2 = np.zeros((n, F))
    C_prev = np.zeros((n, F))
    out = []
    best, best_T = np.inf, 0
    product = symmetric_product(K)  # K is the symmetric float32 kernel matrix
    for s in range(T_max + 1):
        R = product(C_prev.astype(np.float32)).astype(np.float64)
        resid = np.where(val_mask, R - target, 0.0)
        mse = float((resid * resid).sum()) / n
        out.append(mse)
        if mse < best:
            best, best_T = mse, s
        if s == T_max or (adaptive and s > 1.5 * best_T + 50):
            break
        step = (w[s] / m) * (tt - np.where(train_mask, R, 0.0))
        C = C_prev + u[s] * (C_prev - C_prev2) + step
        C_prev2, C_prev = C_prev, C
    return np.array(out)


def _iteration_grid(spec) -> tuple[int, list[int], bool]:
    from ..errors import HyperparameterError

    if isinstance(spec, Mapping):
        extra = set(spec) - {"max"}
        if extra:
            raise HyperparameterError(f"iterations search takes only 'max', got {sorted(extra)}")
        raw = spec.get("max", DEFAULT_MAX_ITERATIONS)
        if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)) or not 1 <= raw <= MAX_ITERATIONS:
            raise HyperparameterError(f"iterations max must be a whole number in 1..{MAX_ITERATIONS:,}, got {raw!r}")
        T_max = int(raw)
        return T_max, list(range(1, T_max + 1)), True
    listed = _as_list(spec)
    if any(isinstance(v, bool) or float(v) != int(v) for v in listed):
        raise HyperparameterError(f"iterations must be whole numbers, got {listed}")
    values = sorted(int(v) for v in listed)
    if not values or values[0] < 1 or values[-1] > MAX_ITERATIONS:
        raise HyperparameterError(f"iterations must be in 1..{MAX_ITERATIONS:,}, got {values}")
    return values[-1], values, False


def _as_list(v) -> list:
    if isinstance(v, (list, tuple, np.ndarray)):
        return list(v)
    return [v]
