"""Partner-side augment and check against independent computations."""

import numpy as np
import pytest

from enfo_sdk import partner
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import DataError


@pytest.fixture(scope="module")
def own():
    return friedman3(n=300, noise=0.1, seed=11)


def test_augment_matches_a_hand_written_cross_validation(verified, own):
    rep = partner.augment(verified, own, cv=4, seed=3)
    X = own[["x1", "x2", "x3", "x4"]].to_numpy()
    y = own["y"].to_numpy()
    spec = verified.manifest.key
    Xb, yb = verified.X, verified.y
    # the bundle-only model does not depend on the folds: its pooled CV RMSE is its RMSE on all rows
    alone = spec.build().fit(Xb, yb).predict(X) - y
    assert rep.bundle_only_rmse == pytest.approx(np.sqrt(np.mean(alone**2)), rel=1e-12)
    # own rows alone and own + bundle, by a separate loop over the same seeded folds
    perm = np.random.default_rng(3).permutation(len(y))
    sse_own = sse_aug = 0.0
    for val in np.array_split(perm, 4):
        tr = np.array(sorted(set(perm) - set(val)))
        sse_own += np.sum((spec.build().fit(X[tr], y[tr]).predict(X[val]) - y[val]) ** 2)
        both = spec.build().fit(np.concatenate([X[tr], Xb]), np.concatenate([y[tr], yb]))
        sse_aug += np.sum((both.predict(X[val]) - y[val]) ** 2)
    assert rep.own_rmse == pytest.approx(np.sqrt(sse_own / len(y)), rel=1e-10)
    assert rep.augmented_rmse == pytest.approx(np.sqrt(sse_aug / len(y)), rel=1e-10)
    assert rep.helped == (rep.augmented_rmse < rep.own_rmse)
    assert rep.own_rows == 300 and rep.bundle_rows == len(yb)


def test_check_scores_families_trained_on_the_bundle(verified, own):
    from enfo_sdk.evaluate import split_holdout

    res = partner.check(verified, own, families=["krr", "ridge"], cv=3)
    assert isinstance(res, partner.CheckReport)
    assert res.to_json()["best_ratio"] == res.best_ratio
    assert set(res["models"]) == {"krr", "ridge"}
    # the owner's protocol on the partner's 300 rows: 150 outside rows, 150 test rows (seed 0)
    outside, test = split_holdout(300, 1000, 0)
    X = own[["x1", "x2", "x3", "x4"]].to_numpy()
    y = own["y"].to_numpy()
    key = partner.train(verified)
    assert res["key_rmse"] == pytest.approx(np.sqrt(np.mean((key.predict(X[test]) - y[test]) ** 2)), rel=1e-12)
    assert (res.rivalry["test_rows"], res.rivalry["outside_rows"]) == (150, 150)
    mixed = verified.manifest.key.build().fit(np.vstack([verified.X, X[outside]]), np.r_[verified.y, y[outside]])
    mixed_rmse = np.sqrt(np.mean((mixed.predict(X[test]) - y[test]) ** 2))
    assert res.rivalry["outside"]["value"] == pytest.approx(mixed_rmse / res["key_rmse"], rel=1e-9)
    assert res.record is None  # this bundle was written without a record
    everything = partner.check(verified, own, families=["ridge"], cv=3, outside_rows=0)
    assert everything["key_rmse"] == pytest.approx(np.sqrt(np.mean((key.predict(X) - y) ** 2)), rel=1e-12)
    assert everything.rivalry["outside"] is None
    assert res["best_ratio"] == pytest.approx(res["best_rmse"] / res["key_rmse"])
    assert res["best_rmse"] == min(m["rmse"] for m in res["models"].values())


def test_own_rows_errors_name_the_problem(verified, own):
    with pytest.raises(DataError, match="missing column.*'y'"):
        partner.augment(verified, own.drop(columns="y"))
    with pytest.raises(DataError, match="at least 10"):
        partner.augment(verified, own.head(5))
    bad = own.copy()
    bad.loc[3, "x2"] = np.nan
    with pytest.raises(DataError, match="x2"):
        partner.check(verified, bad, families=["ridge"])
    with pytest.raises(DataError, match="unknown model family"):
        partner.check(verified, own, families=["xgboost"])
