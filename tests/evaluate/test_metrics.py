"""Metrics with known answers (docs/metrics.md), against independent references."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from enfo_sdk.evaluate.divergence import divergences
from enfo_sdk.evaluate.privacy import (
    _expected_top_half_accuracy, distance_to_closest_record, monte_carlo_attack,
)
from enfo_sdk.evaluate.utility import stability


def _gauss(n, d=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


# -- Monte Carlo attack -------------------------------------------------------------------------
def test_copied_members_are_found():
    members, non = _gauss(300, seed=1), _gauss(300, seed=2)
    out = monte_carlo_attack(members.copy(), members, non)
    assert out["accuracy"] > 0.95
    assert out["candidates"] == 600


def test_independent_bundle_is_chance():
    members, non, bundle = _gauss(400, seed=1), _gauss(400, seed=2), _gauss(400, seed=3)
    out = monte_carlo_attack(bundle, members, non)
    # best of 8 thresholds on 800 candidates: chance is 0.5 with sd ~0.018 per threshold
    assert 0.44 < out["accuracy"] < 0.58
    assert all(0.4 < r["accuracy"] < 0.6 for r in out["per_eps"])


def test_partially_copied_bundle_is_in_between():
    members, non = _gauss(400, seed=1), _gauss(400, seed=2)
    bundle = np.vstack([members[:100], _gauss(300, seed=3)])  # a quarter of the members copied
    acc = monte_carlo_attack(bundle, members, non)["accuracy"]
    # the 100 copied members are found, the rest guessed: about (100 + 0.5 * 700) / 800
    assert 0.52 < acc < 0.66


def test_tie_break_expectation_matches_simulation():
    g = np.random.default_rng(0)
    score = g.integers(0, 4, size=60).astype(float)  # many ties
    is_member = np.zeros(60, bool)
    is_member[g.permutation(60)[:30]] = True
    sims = []
    for _ in range(4000):  # reference: break ties at random, take the top half
        order = np.lexsort((g.random(60), -score))
        pred = np.zeros(60, bool)
        pred[order[:30]] = True
        sims.append(np.mean(pred == is_member))
    assert _expected_top_half_accuracy(score, is_member) == pytest.approx(np.mean(sims), abs=0.005)
    assert _expected_top_half_accuracy(np.zeros(60), is_member) == pytest.approx(0.5)


def test_dcr_copy_is_zero_and_independent_is_balanced():
    members, non = _gauss(300, seed=1), _gauss(300, seed=2)
    copy = distance_to_closest_record(members[:50], members, non)
    assert copy["median"] == 0.0 and copy["share_exact"] == 1.0
    fresh = distance_to_closest_record(_gauss(200, seed=3), members, non)
    assert fresh["share_exact"] == 0.0
    assert 0.8 < fresh["ratio"] < 1.25


# -- divergences ----------------------------------------------------------------------------------
def test_identical_data_gives_zero():
    a = np.random.default_rng(0).gamma(2.0, size=(500, 3))
    out = divergences(a, a.copy())
    assert out["kl"] == 0.0 and out["js"] == 0.0 and out["wasserstein"] == 0.0


def test_unit_shift_against_closed_forms():
    g = np.random.default_rng(0)
    real = g.standard_normal(40000)
    shifted = g.standard_normal(40000) + 1.0
    out = divergences(real, shifted)
    # W1 between N(0,1) and N(1,1) is 1; KL(N(0,1)||N(1,1)) = 1/2; binning can only lower KL
    assert out["wasserstein"] == pytest.approx(1.0, abs=0.03)
    assert 0.40 < out["kl"] < 0.52
    p, q = norm(0, 1).pdf, norm(1, 1).pdf
    js_true = integrate.quad(
        lambda x: 0.5 * p(x) * np.log2(2 * p(x) / (p(x) + q(x)))
        + 0.5 * q(x) * np.log2(2 * q(x) / (p(x) + q(x))), -12, 13)[0]
    assert 0.8 * js_true < out["js"] < js_true + 0.01


def test_disjoint_supports_js_near_one():
    real = np.random.default_rng(0).uniform(0, 1, 5000)
    out = divergences(real, real + 100.0)
    assert out["js"] > 0.9
    assert out["wasserstein"] == pytest.approx(100.0 / real.std(), rel=1e-9)


def test_divergence_grows_with_distance():
    g = np.random.default_rng(1)
    real = g.standard_normal((3000, 2))
    near = divergences(real, g.standard_normal((3000, 2)) + 0.2)
    far = divergences(real, g.standard_normal((3000, 2)) + 1.0)
    for k in ("kl", "js", "wasserstein"):
        assert far[k] > near[k] > 0


def test_stability_is_sample_std():
    v = [1.0, 2.5, 2.0, 4.0]
    assert stability(v) == pytest.approx(statistics.stdev(v))
    assert stability([1.0]) is None


# -- RMSE, predicted in blocks --------------------------------------------------------------------
def test_rmse_in_blocks_equals_the_whole_prediction_and_bounds_the_block():
    from sklearn.kernel_ridge import KernelRidge

    from enfo_sdk.evaluate.utility import rmse

    X, Xt = _gauss(200, d=3, seed=3), _gauss(103, d=3, seed=4)
    y, yt = X.sum(axis=1), Xt.sum(axis=1) + 0.1
    model = KernelRidge(alpha=0.1, kernel="rbf").fit(X, y)
    seen = []

    class Recording:
        def predict(self, rows):
            seen.append(len(rows))
            return model.predict(rows)

    reference = float(np.sqrt(np.mean((model.predict(Xt) - yt) ** 2)))
    assert rmse(Recording(), Xt, yt, block=10) == pytest.approx(reference, rel=1e-12)
    assert seen == [10] * 10 + [3]
