"""Baselines (the paper's Table 1) do what docs/metrics.md says."""

from __future__ import annotations

import numpy as np
import pytest

from enfo_sdk.evaluate.baselines import BASELINES, make_baseline, round_significant


def _train(n=400, seed=0):
    g = np.random.default_rng(seed)
    X = g.uniform(1, 100, size=(n, 3))
    return np.column_stack([X, X @ [1.0, -2.0, 0.5] + g.standard_normal(n)])


def test_round_significant_known_values():
    got = round_significant([123.4, 0.04567, -9.87, 0.0, 5.0, 99.6])
    assert got == pytest.approx([120.0, 0.046, -9.9, 0.0, 5.0, 100.0])


@pytest.mark.parametrize("name", BASELINES)
def test_shape_and_seed(name):
    train = _train()
    a = make_baseline(name, train, 50, seed=3)
    b = make_baseline(name, train, 50, seed=3)
    assert a.shape == (50, 4) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_sampled_rows_are_real_rows():
    train = _train()
    rows = make_baseline("sampled", train, 40, seed=1)
    real = {tuple(r) for r in train}
    assert all(tuple(r) in real for r in rows) and len({tuple(r) for r in rows}) == 40


def test_top_coding_caps_at_95th_percentile():
    train = _train()
    rows = make_baseline("top_coding", train, 200, seed=0)
    cap = np.percentile(train, 95, axis=0)
    assert (rows <= cap + 1e-12).all()
    assert (np.isclose(rows, cap).sum(axis=0) > 0).all()  # something was capped in each column


@pytest.mark.parametrize("name,share", [("swap_20", 0.2), ("swap_50", 0.5)])
def test_swapping_moves_features_keeps_targets(name, share):
    train = _train()
    base = make_baseline("sampled", train, 100, seed=4)
    swapped = make_baseline(name, train, 100, seed=4)
    np.testing.assert_array_equal(swapped[:, -1], base[:, -1])
    changed = (swapped[:, :3] != base[:, :3]).any(axis=1)
    assert changed.sum() == int(share * 100)
    # the feature rows are a permutation of the sampled ones
    assert sorted(map(tuple, swapped[:, :3])) == sorted(map(tuple, base[:, :3]))


def test_noise_scale():
    train = _train(4000)
    base = make_baseline("sampled", train, 3000, seed=2)
    noisy = make_baseline("noise", train, 3000, seed=2)
    ratio = (noisy - base).std(axis=0) / train.std(axis=0)
    assert ratio == pytest.approx([0.1] * 4, rel=0.06)


def test_gaussian_copula_keeps_marginals_and_correlation():
    g = np.random.default_rng(0)
    z = g.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=3000)
    train = np.column_stack([np.exp(z[:, 0]), z[:, 1]])  # a skewed margin
    rows = make_baseline("gaussian_copula", train, 3000, seed=1)
    assert rows[:, 0].min() >= train[:, 0].min() and rows[:, 0].max() <= train[:, 0].max()
    assert np.median(rows[:, 0]) == pytest.approx(np.median(train[:, 0]), rel=0.08)
    from scipy.stats import spearmanr
    assert spearmanr(rows[:, 0], rows[:, 1])[0] == pytest.approx(spearmanr(train[:, 0], train[:, 1])[0], abs=0.03)
