"""Forging: input errors, determinism, early stopping, and the paper's claim in small."""

import numpy as np
import pandas as pd
import pytest

from enfo_sdk import ForgeProgress, encapsulate, forge
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import DataError, ForgeError, ShapeError


@pytest.fixture(scope="module")
def small():
    df = friedman3(n=2400, noise=0.1, seed=3)
    train, test = df.iloc[:1200], df.iloc[1200:]
    X, y = train.drop(columns="y"), train["y"]
    spec = encapsulate(X, y, search={"iterations": {"max": 800}})
    return X, y, test.drop(columns="y"), test["y"], spec


def tuned_attackers():
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    gammas = np.geomspace(0.01, 10, 7)
    return {
        "kernel ridge": GridSearchCV(
            make_pipeline(StandardScaler(), KernelRidge(kernel="rbf")),
            {"kernelridge__alpha": np.geomspace(1e-6, 1, 7), "kernelridge__gamma": gammas}, cv=5,
            scoring="neg_mean_squared_error"),
        "SVR": GridSearchCV(
            make_pipeline(StandardScaler(), SVR(kernel="rbf")),
            {"svr__C": np.geomspace(0.1, 1000, 5), "svr__gamma": gammas, "svr__epsilon": [0.01, 0.05, 0.1]},
            cv=5, scoring="neg_mean_squared_error"),
    }


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - np.asarray(y)) ** 2)))


def test_forged_rows_beat_sampled_rows_and_approach_full_data(small):
    """The paper's central claim, small and fast: 60 forged rows of 1,200."""
    X, y, Xte, yte, spec = small
    seen = []
    res = forge(X, y, spec, rows=60, steps=1200, lr=0.03, seed=0, callback=seen.append)
    full = rmse(spec.build().fit(X, y), Xte, yte)
    forged = rmse(res.model(), Xte, yte)
    rng = np.random.default_rng(0)
    sampled = []
    for _ in range(5):
        idx = rng.choice(len(X), 60, replace=False)
        sampled.append(rmse(spec.build().fit(X.iloc[idx], y.iloc[idx]), Xte, yte))
    assert forged < 0.75 * np.mean(sampled), (forged, sampled)
    assert forged < 1.15 * full, (forged, full)
    # rivalry w.r.t. models: kernel ridge and SVR tuned by CV on the forged rows only
    for name, attacker in tuned_attackers().items():
        r = rmse(attacker.fit(res.X, res.y), Xte.to_numpy(), yte)
        assert r > 1.10 * forged, (name, r, forged)
    # result shape and bookkeeping
    assert list(res.data.columns) == ["x1", "x2", "x3", "x4", "y"]
    assert len(res.data) == 60 and res.data.dtypes.eq(np.float64).all()
    assert res.history["val_rmse"].iloc[0] > res.metrics["best_val_rmse"]
    # the kept rows' validation RMSE is the history's at the kept step; a validation split
    # under 250 rows (240 here) keeps the earliest evaluation within one standard error of the
    # lowest (the rule itself: tests/test_forge_settings.py), else the lowest
    h = res.history.set_index("step")["val_rmse"]
    assert res.metrics["best_val_rmse"] == h[res.metrics["best_step"]]
    lowest = res.metrics.get("lowest_step", res.metrics["best_step"])
    assert h[lowest] == h.min() and res.metrics["best_step"] <= lowest
    assert seen and isinstance(seen[0], ForgeProgress) and seen[-1].step == res.metrics["steps_run"]


def test_forging_is_deterministic(small):
    X, y, _, _, spec = small
    a = forge(X, y, spec, rows=15, steps=40, seed=7)
    b = forge(X, y, spec, rows=15, steps=40, seed=7)
    c = forge(X, y, spec, rows=15, steps=40, seed=8)
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    assert not np.allclose(a.data.to_numpy(), c.data.to_numpy())


def test_kept_rows_are_the_best_validation_rows(small):
    X, y, _, _, spec = small
    res = forge(X, y, spec, rows=15, steps=60, lr=0.5, eval_every=5, patience=3, seed=1)
    # a huge learning rate makes validation error go up; the returned rows are the best seen
    hist = res.history
    assert res.metrics["best_val_rmse"] == pytest.approx(hist["val_rmse"].min())
    best_step = int(hist.loc[hist["val_rmse"].idxmin(), "step"])
    assert res.metrics["best_step"] == best_step


@pytest.mark.parametrize("init", ["kmeans", "sample", "noise"])
def test_init_options(small, init):
    X, y, _, _, spec = small
    res = forge(X, y, spec, rows=10, steps=5, init=init)
    assert res.settings["init"] == init and len(res.data) == 10


def test_modes_run_and_are_recorded(small):
    X, y, _, _, spec = small
    for mode in ("augment", "adaptable"):
        res = forge(X, y, spec, rows=10, steps=10, mode=mode)
        assert res.settings["mode"] == mode


def test_input_errors_name_the_problem(small):
    X, y, _, _, spec = small
    with pytest.raises(ForgeError, match=r"rows \(1000\) must be smaller"):
        forge(X, y, spec, rows=1000)
    bad = X.copy()
    bad.loc[bad.index[4], "x2"] = np.nan
    with pytest.raises(DataError, match=r"x2 \(1 NaN"):
        forge(bad, y, spec, rows=10, steps=2)
    txt = X.copy()
    txt["x3"] = "a"
    with pytest.raises(DataError, match="non-numeric column.*x3"):
        forge(txt, y, spec, rows=10, steps=2)
    with pytest.raises(ShapeError, match="rows"):
        forge(X, y.iloc[:-1], spec, rows=10, steps=2)
    with pytest.raises(DataError, match="4 features"):
        forge(X.iloc[:, :3], y, spec, rows=10, steps=2)
    with pytest.raises(ForgeError, match="mode"):
        forge(X, y, spec, rows=10, steps=2, mode="greedy")
    with pytest.raises(ForgeError, match="init"):
        forge(X, y, spec, rows=10, steps=2, init="zeros")
    allnan = X.copy()
    allnan["x1"] = np.nan
    with pytest.raises(DataError, match="x1 \\(all NaN\\)"):
        forge(allnan, y, spec, rows=10, steps=2)
    same = pd.DataFrame(np.ones((50, 4)), columns=X.columns)
    with pytest.raises(DataError, match="distinct rows"):
        forge(same, np.ones(50), spec, rows=10, steps=2)


def test_rival_surrogate_is_the_nadaraya_watson_smoother():
    from enfo_sdk.forge import rival_surrogate_mse

    g = np.random.default_rng(0)
    Zs, ts, Zq, tq = g.normal(size=(7, 3)), g.normal(size=7), g.normal(size=(11, 3)), g.normal(size=11)
    h = 0.8
    d2 = ((Zq[:, None, :] - Zs[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * h * h))
    pred = (w @ ts) / w.sum(1)
    expected = np.mean((pred - tq) ** 2)
    import torch

    got = rival_surrogate_mse(*(torch.tensor(a) for a in (Zs, ts, Zq, tq)), h)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_rival_weight_raises_the_surrogates_held_out_error(small):
    from enfo_sdk.forge import RIVAL_SMOOTHER_SCALE

    X, y, Xte, yte, spec = small
    pre, s = spec.preprocessing, spec.hyperparameters["bandwidth"] * RIVAL_SMOOTHER_SCALE
    Zte, tte = pre.transform_X(Xte.to_numpy()), pre.transform_y(yte.to_numpy())

    def smoother_mse(res):
        Zs, ts = pre.transform_X(res.X), pre.transform_y(res.y)
        d2 = ((Zte[:, None, :] - Zs[None, :, :]) ** 2).sum(-1)
        w = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * s * s))
        return float(np.mean(((w @ ts) / w.sum(1) - tte) ** 2))

    # the term itself, on the rows its run kept (this 1,200-row table is small: refit would forge
    # both runs again on every owner row; measured with it 0.575 -> 0.680, x1.18, without 0.545
    # -> 0.698, x1.28)
    kw = dict(rows=20, steps=150, eval_every=10, patience=100, seed=2, refit=False)
    base = forge(X, y, spec, **kw, polish=False)  # the rival run has no polish either
    rival = forge(X, y, spec, **kw, rival_weight=0.2)
    assert base.settings["rival_weight"] == 0.0 and rival.settings["rival_weight"] == 0.2
    assert smoother_mse(rival) > 1.2 * smoother_mse(base)


def test_rival_weight_errors(small):
    X, y, _, _, spec = small
    with pytest.raises(ForgeError, match="rival_weight applies to mode 'rival' only"):
        forge(X, y, spec, rows=10, steps=2, mode="augment", rival_weight=0.1)
    with pytest.raises(ForgeError, match="rival_weight must be a finite number >= 0"):
        forge(X, y, spec, rows=10, steps=2, rival_weight=-1.0)


def test_kept_rows_minimise_the_validation_objective_of_the_mode(small):
    X, y, _, _, spec = small
    kw = dict(rows=15, steps=80, eval_every=10, patience=100, seed=3)
    rival = forge(X, y, spec, **kw)
    h = rival.history
    assert np.allclose(h["val_objective"], h["val_rmse"])  # rival: the key's RMSE decides
    for mode, weight in (("augment", {"alignment_weight": 5.0}), ("adaptable", {"adaptability_weight": 5.0})):
        res = forge(X, y, spec, mode=mode, **kw, **weight)
        h = res.history
        scale = spec.preprocessing.target_scale
        # objective = squared standardized RMSE + the mode's (non-negative) term
        assert (h["val_objective"] >= (h["val_rmse"] / scale) ** 2 - 1e-12).all()
        best = int(h.loc[h["val_objective"].idxmin(), "step"])
        # a small table (240 validation rows): the lowest objective is lowest_step, and the rows
        # kept are the one-SE rule's, never later than it (docs/keys.md, "Small tables")
        assert res.settings["selection"] == "one_se" and res.metrics["lowest_step"] == best
        kept = res.metrics["best_step"]
        assert kept <= best
        assert res.metrics["best_val_rmse"] == pytest.approx(float(h.loc[h["step"] == kept, "val_rmse"].iloc[0]))


def test_penalty_equal_to_the_rival_term_gives_the_rival_weight_run(small):
    import torch

    from enfo_sdk import PenaltyContext
    from enfo_sdk.forge import RIVAL_SMOOTHER_SCALE, rival_surrogate_mse

    X, y, _, _, spec = small
    h = RIVAL_SMOOTHER_SCALE * spec.hyperparameters["bandwidth"]
    seen = []

    def rival_term(ctx: PenaltyContext):
        seen.append(ctx.step)
        return -0.2 * torch.log(rival_surrogate_mse(ctx.Z, ctx.t, ctx.Zb, ctx.tb, h) + 1e-300)

    kw = dict(rows=20, steps=60, eval_every=10, patience=100, seed=2)
    built_in = forge(X, y, spec, **kw, rival_weight=0.2)
    custom = forge(X, y, spec, **kw, penalty=rival_term)
    # every step of the run, then every step of the refit on all owner rows (a small table)
    assert seen == list(range(1, 61)) + list(range(1, custom.metrics["refit_steps"] + 1))
    np.testing.assert_allclose(custom.data.to_numpy(), built_in.data.to_numpy(), rtol=0, atol=1e-12)
    assert custom.settings["penalty"] == (
        f"test_penalty_equal_to_the_rival_term_gives_the_rival_weight_run.<locals>.rival_term(h={h!r}, seen=list)")
    assert "penalty" not in built_in.settings
    plain = forge(X, y, spec, **kw)
    assert np.abs(plain.data.to_numpy() - custom.data.to_numpy()).max() > 1e-3  # the term acted


def test_penalty_sees_the_rows_and_can_fit_the_key_on_other_rows(small):
    import torch

    X, y, _, _, spec = small
    kw = dict(rows=15, steps=60, eval_every=10, patience=100, seed=4)

    def shrink_targets(ctx):
        return 5.0 * (ctx.t * ctx.t).mean()

    def mixed_fit(ctx):  # the key trained on the rows plus half the minibatch, scored on the rest
        k = ctx.Zb.shape[0] // 2
        idx = torch.randperm(ctx.Zb.shape[0], generator=ctx.generator)
        fit = ctx.key_fit(torch.cat([ctx.Z, ctx.Zb[idx[:k]]]), torch.cat([ctx.t, ctx.tb[idx[:k]]]))
        r = fit(ctx.Zb[idx[k:]]) - ctx.tb[idx[k:]]
        return 0.1 * (r * r).mean()

    plain = forge(X, y, spec, **kw)
    shrunk = forge(X, y, spec, **kw, penalty=shrink_targets)
    t_plain = spec.preprocessing.transform_y(plain.y)
    t_shrunk = spec.preprocessing.transform_y(shrunk.y)
    assert np.mean(t_shrunk ** 2) < 0.8 * np.mean(t_plain ** 2)
    a = forge(X, y, spec, **kw, penalty=mixed_fit)
    b = forge(X, y, spec, **kw, penalty=mixed_fit)  # draws from ctx.generator: still reproducible
    assert a.data.equals(b.data)


def test_penalty_errors(small):
    X, y, _, _, spec = small
    with pytest.raises(ForgeError, match="penalty must be a callable"):
        forge(X, y, spec, rows=10, steps=2, penalty=3.0)
    with pytest.raises(ForgeError, match="penalty must return a scalar tensor"):
        forge(X, y, spec, rows=10, steps=2, penalty=lambda ctx: ctx.t)
    with pytest.raises(ForgeError, match="penalty must return a scalar tensor"):
        forge(X, y, spec, rows=10, steps=2, penalty=lambda ctx: 1.0)


def test_a_bundle_of_penalty_forged_rows_records_the_penalty(small, tmp_path):
    from enfo_sdk.bundle import verify, write_bundle
    from enfo_sdk.signing import TrustStore, generate_private_key

    X, y, _, _, spec = small

    def smooth_targets(ctx):
        return 0.5 * (ctx.t * ctx.t).mean()

    res = forge(X, y, spec, rows=10, steps=20, eval_every=10, penalty=smooth_targets)
    key = generate_private_key()
    write_bundle(tmp_path / "b.parquet", res, signing_key=key, owner_name="acme")
    trust = TrustStore()
    trust.add("acme", key.public_key())
    manifest = verify(tmp_path / "b.parquet", trust).manifest
    assert manifest.forging.settings["penalty"].endswith("smooth_targets")


def test_penalty_name_records_plain_settings_only():
    import functools

    from enfo_sdk.forge import penalty_name

    def term(ctx, w=1.0, tag="a"):
        return w

    def make(a, helper=len):
        def inner(ctx):
            return helper(a)
        return inner

    assert penalty_name(term) == "test_penalty_name_records_plain_settings_only.<locals>.term"
    assert penalty_name(functools.partial(term, w=np.float64(0.5), tag="b")).endswith("term[tag='b', w=0.5]")
    assert penalty_name(make(3)).endswith("make.<locals>.inner(a=3)")  # the helper is not a setting
    assert penalty_name(make(np.zeros(2))).endswith("inner(a=ndarray)")  # named by type only
