"""The nu-method's CV path: the fast paths against a plain per-fold float64 refit path."""

import numpy as np
import pytest

from enfo_sdk.keys import get_key
from enfo_sdk.keys.kernels import gaussian
from enfo_sdk.keys.nu_method import nu_coefficients
from enfo_sdk.keys.nu_path import (
    COARSE_STEP,
    DENSE_UPTO,
    SYMMETRIC_BLOCK,
    SpectralPath,
    coarse_grid,
    lowrank_factor,
    spectral_path_mse,
    stop_index,
    symmetric_product,
)


def _problem(n=150, d=3, F=4, seed=0):
    g = np.random.default_rng(seed)
    Z = g.uniform(-1.7, 1.7, (n, d))
    t = np.sin(2 * Z[:, 0]) + Z[:, 1] * Z[:, 2] + 0.3 * g.standard_normal(n)
    t = (t - t.mean()) / t.std()
    folds = np.array_split(g.permutation(n), F)
    return Z, t, folds


def _plain_path(Z, t, folds, bw, T_max, nu=1.0):
    """Reference: per fold, the recursion of docs/keys.md on its own training rows in float64,
    the validation error summed over folds after every step (no shared product, no factor)."""
    n = len(t)
    sse = np.zeros(T_max + 1)
    u, w = nu_coefficients(T_max, nu)
    for val in folds:
        tr = np.setdiff1d(np.arange(n), val)
        K, Kv, tf, tv = gaussian(Z[tr], Z[tr], bw), gaussian(Z[val], Z[tr], bw), t[tr], t[val]
        c2 = np.zeros(len(tr))
        c1 = np.zeros(len(tr))
        sse[0] += tv @ tv
        for s in range(T_max):
            c = c1 + u[s] * (c1 - c2) + (w[s] / len(tr)) * (tf - K @ c1)
            c2, c1 = c1, c
            r = Kv @ c - tv
            sse[s + 1] += r @ r
    return sse / n


def _iterative(Z, t, folds, bw, T_max, adaptive=False):
    K32 = gaussian(Z, Z, bw).astype(np.float32)
    return get_key("nu-method").path_mse(K32, t, folds, T_max, 1.0, adaptive)


@pytest.mark.parametrize("bw", [0.5, 1.0, 2.0])
def test_spectral_path_matches_plain_refits(bw):
    Z, t, folds = _problem()
    T_max = 400
    ref = _plain_path(Z, t, folds, bw, T_max)
    # full rank (tolerance below round-off): exact up to the eigendecompositions
    full = spectral_path_mse(lowrank_factor(gaussian(Z, Z, bw), tol=1e-15), t, folds, T_max, 1.0)
    assert len(full) == T_max + 1
    np.testing.assert_allclose(full, ref, rtol=1e-9, atol=0)
    assert full.argmin() == ref.argmin()
    # the search's tolerance (1e-8): a truncated factor, still far inside float32's error
    L = lowrank_factor(gaussian(Z, Z, bw))
    fast = spectral_path_mse(L, t, folds, T_max, 1.0)
    np.testing.assert_allclose(fast, ref, rtol=1e-6, atol=0)
    assert fast.argmin() == ref.argmin()
    if bw >= 2.0:
        assert L.shape[1] < len(t)  # the factor is really low-rank here
    # the float32 iterative path (kept for high-rank kernels) is the less accurate one
    it = _iterative(Z, t, folds, bw, T_max)
    np.testing.assert_allclose(it, ref, rtol=1e-3, atol=0)
    assert np.abs(fast - ref).max() < np.abs(it - ref).max()


def test_adaptive_stop_is_the_same_rule_for_both_paths():
    Z, t, folds = _problem(seed=3)
    bw, T_max = 0.5, 2000
    ref = _plain_path(Z, t, folds, bw, 700)
    stop, (best, best_T) = stop_index(ref, T_max, True)
    assert stop is not None and stop < 700  # the rule fires well before the maximum here
    it = _iterative(Z, t, folds, bw, T_max, adaptive=True)
    assert len(it) == stop + 1 and it.argmin() == best_T
    # the spectral path applies the rule on its coarse grid: it stops at the first grid
    # value past it, and finds the same minimum
    fast = SpectralPath(lowrank_factor(gaussian(Z, Z, bw), tol=1e-15), t, folds, 1.0).path(T_max, True)
    T_stop = max(fast)
    assert T_stop in coarse_grid(T_max)
    assert T_stop > 1.5 * best_T + 50 and T_stop <= stop * (1 + COARSE_STEP) + 1
    assert min(fast, key=fast.get) == best_T
    np.testing.assert_allclose([fast[T] for T in fast if T <= 700], ref[[T for T in fast if T <= 700]],
                               rtol=1e-9, atol=0)


@pytest.mark.parametrize("bw", [0.5, 1.0, 2.0, 4.0])
def test_coarse_to_fine_path_finds_the_minimum_of_every_t(bw):
    """The search's path (coarse grid, then every T next to its minimum) against the plain
    float64 reference scored at every T: same argmin, same values (1e-9 relative)."""
    Z, t, folds = _problem(n=200, seed=5)
    T_max = 1500
    ref = _plain_path(Z, t, folds, bw, T_max)
    path = SpectralPath(lowrank_factor(gaussian(Z, Z, bw), tol=1e-15), t, folds, 1.0).path(T_max, False)
    assert max(path) == T_max
    assert len(path) < T_max / 4  # far fewer counts scored than the path has
    assert min(path, key=path.get) == ref.argmin()
    Ts = sorted(path)
    np.testing.assert_allclose([path[T] for T in Ts], ref[Ts], rtol=1e-9, atol=0)


def test_coarse_grid():
    assert coarse_grid(10) == list(range(11))
    g = coarse_grid(2000)
    assert g[: DENSE_UPTO + 1] == list(range(DENSE_UPTO + 1)) and g[-1] == 2000
    steps = np.diff(g[DENSE_UPTO:]) / np.array(g[DENSE_UPTO:-1])
    assert steps.max() <= COARSE_STEP + 1 / DENSE_UPTO and np.all(np.diff(g) >= 1)
    assert coarse_grid(2000, start=1000) == [T for T in g if T > 1000]


def test_spectral_path_extends_as_if_computed_at_once():
    Z, t, folds = _problem(seed=1)
    L = lowrank_factor(gaussian(Z, Z, 1.0))
    once = SpectralPath(L, t, folds, 1.0).path(700, False)
    path = SpectralPath(L, t, folds, 1.0)
    first = path.path(300, False)
    assert set(coarse_grid(300)) <= set(first) and max(first) == 300
    again = path.path(700, False)
    assert set(once) <= set(again)
    np.testing.assert_allclose([again[T] for T in once], [once[T] for T in once], rtol=1e-12)
    assert min(again, key=again.get) == min(once, key=once.get)


def test_lowrank_factor_bounds_and_refusal():
    Z, _, _ = _problem(n=200)
    K = gaussian(Z, Z, 1.5)
    L = lowrank_factor(K.copy(), tol=1e-8)
    E = K - L @ L.T
    assert np.abs(E).max() <= 1e-8 * (1 + 1e-6)  # a PSD residual with diagonal < tol
    assert np.linalg.eigvalsh(E).min() > -1e-12
    assert lowrank_factor(K.copy(), tol=1e-8, max_rank=L.shape[1] - 1) is None
    assert lowrank_factor(K.copy(), tol=1e-8, max_rank=L.shape[1]).shape == L.shape


@pytest.mark.parametrize("bw,max_rank", [(0.3, 60), (0.3, 300), (3.0, 60), (3.0, 300)])
def test_lowrank_factor_precheck_agrees_with_the_whole_factor(bw, max_rank):
    """n = 400 > PRECHECK_ROWS * max_rank: the submatrix is factored first; the answer (None,
    or the factor itself) is the one the whole matrix gives."""
    Z, _, _ = _problem(n=400, d=4, seed=5)
    K = gaussian(Z, Z, bw)
    whole = lowrank_factor(K.copy())
    got = lowrank_factor(K.copy(), max_rank=max_rank)
    if whole.shape[1] > max_rank:
        assert got is None
    else:
        np.testing.assert_array_equal(got, whole)


def test_cv_search_cache_changes_nothing_but_the_work():
    Z, t, folds = _problem(n=160, seed=2)
    key = get_key("nu-method")
    grid = {"bandwidth": [0.5, 1.0, 2.0, 4.0], "iterations": {"max": 300}}
    plain = key.cv_search(Z, t, folds, grid)
    cache: dict = {}
    key.cv_search(Z, t, folds, {**grid, "iterations": {"max": 150}}, cache=cache)
    again = key.cv_search(Z, t, folds, grid, cache=cache)
    assert again.best_params == plain.best_params
    assert [r["cv_mse"] for r in again.table] == [r["cv_mse"] for r in plain.table]


def test_cv_search_walk_finds_the_grid_minimum():
    """On a unimodal CV curve the walk ends where scoring every bandwidth would."""
    Z, t, folds = _problem(n=160, seed=4)
    bws = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    res = get_key("nu-method").cv_search(Z, t, folds, {"bandwidth": bws, "iterations": {"max": 500}})
    best = {bw: _plain_path(Z, t, folds, bw, 500).min() for bw in bws}
    curve = [best[b] for b in bws]
    i = int(np.argmin(curve))
    assert all(np.diff(curve[: i + 1]) < 0) and all(np.diff(curve[i:]) > 0)  # unimodal
    assert res.best_params["bandwidth"] == bws[i]
    # narrow bandwidths take the float32 iterative path here (rank > n / 4): ~1e-3 accurate
    assert res.best_score == pytest.approx(best[bws[i]], rel=2e-3)
    assert len({r["bandwidth"] for r in res.table}) < len(bws)  # not every value was scored


@pytest.mark.parametrize("n,k", [(1, 1), (31, 5), (32, 5), (33, 1), (200, 15), (517, 5)])
def test_symmetric_product_equals_the_float64_product(n, k):
    """Blocks of SYMMETRIC_BLOCK rows, a last partial block, one and many right-hand sides;
    K above its diagonal blocks is never read (it is poisoned here)."""
    g = np.random.default_rng(n)
    Z = g.standard_normal((n, 3))
    K = gaussian(Z, Z, 1.0)
    C = g.standard_normal((n, k)).astype(np.float32)
    K32 = K.astype(np.float32)
    i, j = np.indices((n, n))
    K32[j >= (i // SYMMETRIC_BLOCK + 1) * SYMMETRIC_BLOCK] = np.nan
    R = symmetric_product(K32)(C)
    assert R.dtype == np.float32 and R.shape == (n, k)
    ref = K @ C.astype(np.float64)
    # float32 products of n terms: |error| <~ n eps32 |K| |C|
    assert np.all(np.abs(R - ref) <= 4 * n * 6e-8 * (np.abs(K) @ np.abs(C).astype(np.float64)) + 1e-30)
