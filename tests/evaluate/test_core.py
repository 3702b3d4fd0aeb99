"""evaluate() end to end on a fast key, with answers known from the construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.evaluate import evaluate, split_holdout


def test_a_bundle_that_is_the_members_is_the_full_data():
    g = np.random.default_rng(0)
    w = np.array([1.0, -1.0, 2.0])
    X, Xh = g.standard_normal((200, 3)), g.standard_normal((300, 3))
    y, yh = X @ w + 0.3 * g.standard_normal(200), Xh @ w + 0.3 * g.standard_normal(300)
    spec = encapsulate(pd.DataFrame(X, columns=["a", "b", "c"]), pd.Series(y), algorithm="ols")
    bundle = np.column_stack([X, y])
    out = evaluate(spec, X, y, Xh, yh, bundle, external_rows=100, baselines=("sampled",))
    assert out["split"] == {"train": 200, "external": 100, "test": 200}
    b = out["bundle"]
    # same rows as the full data: same key, same RMSE; all rows sampled: same again
    assert b["vs_full"] == pytest.approx(0.0, abs=1e-12)
    assert out["baselines"]["sampled"]["vs_bundle"] == pytest.approx(0.0, abs=1e-9)
    assert b["privacy"]["mc_attack"]["accuracy"] > 0.95
    assert b["privacy"]["dcr"]["share_exact"] == 1.0
    assert b["divergence"]["kl"] == b["divergence"]["js"] == b["divergence"]["wasserstein"] == 0.0
    # real rows are not rival: ridge (a linear model) matches the OLS key
    assert b["attackers"]["models"]["ridge"]["rmse"] / b["key_rmse"] < 1.02


def test_split_holdout_is_a_seeded_partition():
    ext, test = split_holdout(50, 1000, seed=3)
    assert len(ext) == 25 and len(test) == 25
    assert sorted(np.r_[ext, test]) == list(range(50))
    np.testing.assert_array_equal(split_holdout(50, 1000, seed=3)[0], ext)
