"""ForgeSettings: one validated object with every default and the rows, lr and thread rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.contract import parse_contract
from enfo_sdk.errors import ConfigError, ForgeError
from enfo_sdk.forge import ForgeSettings, forge
from enfo_sdk.forging.settings import (
    ONE_SE, SMALL_BUNDLE_ROWS, SMALL_TABLE_LR_FACTOR, SMALL_VALIDATION_ROWS, UPDATE_LR_FACTOR,
)


@pytest.fixture(scope="module")
def small():
    g = np.random.default_rng(0)
    X = pd.DataFrame(g.uniform(-1, 1, (300, 3)), columns=["a", "b", "c"])
    y = pd.Series(np.sin(2 * X["a"]) + X["b"] ** 2 + 0.05 * g.standard_normal(300), name="y")
    spec = encapsulate(X, y, algorithm="nu-method", search={"bandwidth": [1.0], "iterations": {"max": 50}})
    return X, y, spec


def test_defaults_are_the_documented_ones():
    s = ForgeSettings()
    assert (s.rows, s.mode, s.steps, s.batch_size, s.lr, s.init, s.validation, s.seed) == (
        100, "rival", 2000, 256, None, "kmeans", 0.2, 0)
    assert (s.eval_every, s.patience, s.checkpoint_every, s.rival_weight) == (25, 40, 100, 0.0)


def test_settings_are_frozen_and_replace_validates_again():
    s = ForgeSettings(rows=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.rows = 20  # type: ignore[misc]
    assert s.replace(rows=20).rows == 20 and s.rows == 10
    with pytest.raises(ForgeError, match="rival_weight applies to mode 'rival' only"):
        s.replace(mode="augment", rival_weight=0.1)


@pytest.mark.parametrize("bad, match", [
    ({"rows": 0}, "rows must be a positive whole number"),
    ({"rows": 2.5}, "rows must be a positive whole number"),
    ({"mode": "greedy"}, "unknown mode"),
    ({"init": "zeros"}, "unknown init"),
    ({"rival_weight": -1.0}, "rival_weight must be a finite number"),
    ({"rival_weight": float("nan")}, "rival_weight must be a finite number"),
    ({"lr": 0.0}, "lr > 0"),
    ({"steps": 0}, "steps, batch_size and eval_every"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"resume": True}, "resume=True needs checkpoint"),
    ({"validation": 1.0}, "validation must be a fraction"),
])
def test_bad_settings_are_refused_when_made(bad, match):
    with pytest.raises(ForgeError, match=match):
        ForgeSettings(**bad)


def test_an_unknown_override_is_named_with_a_hint():
    with pytest.raises(ForgeError, match=r"'step' \(did you mean 'steps'\?\)"):
        ForgeSettings.build(step=10)


def test_the_rows_rule():
    s = ForgeSettings(rows=79, validation=0.2)
    assert s.validation_rows(100) == 20 and s.usable_rows(100) == 80
    s.check_rows(s.usable_rows(100))
    with pytest.raises(ForgeError, match=r"rows \(80\) must be smaller than the 80 owner rows"):
        s.replace(rows=80).check_rows(s.usable_rows(100), total=100)
    with pytest.raises(ConfigError, match=r"^key.yaml:3: rows \(80\)"):
        s.replace(rows=80).check_rows(80, where="key.yaml:3", error=ConfigError)


def test_the_learning_rate_and_thread_rules(small):
    _, _, spec = small
    s = ForgeSettings()
    assert s.learning_rate(spec) == pytest.approx(0.01 * spec.hyperparameters["bandwidth"])
    assert s.learning_rate(spec, update=True) == pytest.approx(0.01 * UPDATE_LR_FACTOR * spec.hyperparameters["bandwidth"])
    assert ForgeSettings(lr=0.5).learning_rate(spec, update=True) == 0.5
    # small tables (issue 15, item 0): a quarter of the rate for a fresh run, never below the
    # update's own factor, and never when the owner set lr
    assert s.learning_rate(spec, small=True) == pytest.approx(0.01 * SMALL_TABLE_LR_FACTOR * spec.hyperparameters["bandwidth"])
    assert s.learning_rate(spec, update=True, small=True) == s.learning_rate(spec, update=True)
    assert ForgeSettings(lr=0.5).learning_rate(spec, small=True) == 0.5
    assert ForgeSettings(rows=SMALL_BUNDLE_ROWS).torch_threads() == 1
    assert ForgeSettings(rows=SMALL_BUNDLE_ROWS + 1).torch_threads() is None
    assert ForgeSettings(rows=10, threads=2).torch_threads() == 2


def test_a_settings_object_and_keyword_overrides_forge_the_same_rows(small):
    X, y, spec = small
    a = forge(X, y, spec, ForgeSettings(rows=12, steps=60, seed=4))
    b = forge(X, y, spec, rows=12, steps=60, seed=4)
    c = forge(X, y, spec, ForgeSettings(rows=12, steps=10), steps=60, seed=4)
    for other in (b, c):
        np.testing.assert_array_equal(a.data.to_numpy(), other.data.to_numpy())
        assert a.settings == other.settings


def test_the_contract_builds_the_settings(tmp_path):
    text = (
        "version: 1\ndata: {source: builtin:friedman3, target: y}\nkey: {algorithm: nu-method}\n"
        "forge: {rows: 30, steps: 40, rival_weight: 0.2}\noutput: {bundle: b.parquet}\n"
    )
    contract = parse_contract(text, file=tmp_path / "key.yaml")
    s = contract.forge.settings()
    assert (s.rows, s.steps, s.rival_weight, s.batch_size) == (30, 40, 0.2, ForgeSettings().batch_size)
    assert contract.forge.settings(rows=10).rows == 10


# -- selection: what the rows are kept and stopped by (issue 15, item 0) -------------------------
def test_selection_resolves_by_the_validation_split_size():
    s = ForgeSettings()
    assert s.selection == "auto"  # the default: one_se on small validation splits
    assert s.small_table(SMALL_VALIDATION_ROWS - 1) and not s.small_table(SMALL_VALIDATION_ROWS)
    assert not s.small_table(10, in_memory=False)  # a streamed source is never "small"
    assert s.selection_for(SMALL_VALIDATION_ROWS - 1) == "one_se"
    assert s.selection_for(SMALL_VALIDATION_ROWS) == "validation"
    assert s.selection_for(10, in_memory=False) == "validation"
    assert s.replace(selection="validation").selection_for(10) == "validation"
    assert s.replace(selection="one_se").selection_for(10_000) == "one_se"
    assert s.replace(selection="pooled").selection_for(10_000) == "pooled"
    for name in ("pooled", "one_se"):
        with pytest.raises(ForgeError, match="needs the owner's rows in memory"):
            s.replace(selection=name).selection_for(10, in_memory=False)
    with pytest.raises(ForgeError, match="unknown selection"):
        ForgeSettings(selection="best")


def test_a_small_table_records_its_resolved_rule(small):
    X, y, spec = small  # 300 rows: a validation split of 60, a small table
    res = forge(X, y, spec, rows=12, steps=30, eval_every=10, seed=2)
    bw = spec.hyperparameters["bandwidth"]
    assert res.settings["selection"] == "one_se" and res.settings["one_se"] == ONE_SE
    assert res.settings["lr"] == pytest.approx(0.01 * SMALL_TABLE_LR_FACTOR * bw)
    plain = forge(X, y, spec, rows=12, steps=30, eval_every=10, seed=2, selection="validation", lr=0.01 * bw)
    assert "selection" not in plain.settings and plain.settings["lr"] == pytest.approx(0.01 * bw)


def test_one_se_keeps_the_earliest_rows_within_one_standard_error_of_the_lowest(small):
    X, y, spec = small
    kw = dict(rows=12, steps=200, eval_every=5, patience=1000, seed=2, lr=0.05, refit=False,
              polish=False)  # the kept rows themselves
    res = forge(X, y, spec, selection="one_se", **kw)
    low = forge(X, y, spec, selection="validation", **kw)
    # the same path (selection only chooses among its evaluations): same history
    np.testing.assert_array_equal(res.history["val_rmse"], low.history["val_rmse"])
    assert res.metrics["lowest_step"] == low.metrics["best_step"]
    # an independent reference: the kept and the lowest rows refitted (numpy side) and scored
    # row by row on the validation split (the seeded permutation's first 20%)
    pre = spec.preprocessing
    val = np.random.default_rng(2).permutation(len(y))[:60]
    Xv, tv = X.iloc[val], (y.to_numpy()[val] - pre.target_mean) / pre.target_scale

    def errors(frame):
        m = spec.build().fit(frame[list(X.columns)], frame["y"])
        return ((m.predict(Xv) - pre.target_mean) / pre.target_scale - tv) ** 2

    e_low = errors(low.data)
    e_kept = errors(res.data)
    d = e_kept - e_low
    assert d.mean() <= ONE_SE * d.std(ddof=1) / np.sqrt(len(d)) + 1e-12
    assert res.metrics["best_step"] < low.metrics["best_step"]  # here the rule chose earlier rows
    h = res.history.set_index("step")["val_rmse"]
    assert res.metrics["best_val_rmse"] == h[res.metrics["best_step"]]
    assert np.sqrt(e_kept.mean()) * pre.target_scale == pytest.approx(res.metrics["best_val_rmse"], rel=1e-9)


def test_one_se_keeps_the_starting_rows_only_when_they_are_the_lowest():
    """The rule on a made-up trail: per-row errors of 40 validation rows at steps 0, 5, 10."""
    import torch

    from enfo_sdk.forging.state import ForgeState

    rng = np.random.default_rng(0)
    low = rng.uniform(0.5, 1.5, 40)
    noise = rng.normal(0.0, 0.2, 40)
    near = low + 0.01 + noise - noise.mean()  # mean 0.01 above the lowest, SE about 0.03
    S = torch.zeros(3, 2, dtype=torch.float64)
    st = ForgeState.fresh(S, float(np.sqrt(near.mean())), float(near.mean()), errors=(near, 0.0))
    st.loss_n = 1  # one step's loss since the last evaluation
    st.observe(5, float(np.sqrt(near.mean())), float(near.mean()) + 1e-9, S, 0.0, 100, errors=(near, 0.0))
    st.loss_n = 1
    st.observe(10, float(np.sqrt(low.mean())), float(low.mean()), S, 0.0, 100, errors=(low, 0.0))
    d = near - low
    assert d.mean() <= d.std(ddof=1) / np.sqrt(len(d))  # steps 0 and 5 are both within one SE
    assert st.best_step == 10 and st.one_se(1.0) == 5  # the earliest forged step, not the start
    first = ForgeState.fresh(S, float(np.sqrt(low.mean())), float(low.mean()), errors=(low, 0.0))
    first.loss_n = 1
    first.observe(5, float(np.sqrt(near.mean())), float(near.mean()), S, 0.0, 100, errors=(near, 0.0))
    assert first.best_step == 0 and first.one_se(1.0) == 0  # the start kept when it is the lowest


def test_pooled_selection_keeps_the_rows_with_the_lowest_error_on_all_owner_rows(small):
    X, y, spec = small  # 300 rows: a validation split of 60
    kw = dict(rows=12, steps=60, eval_every=5, patience=100, seed=2, polish=False)  # the kept rows themselves
    pooled = forge(X, y, spec, selection="pooled", **kw)
    valid = forge(X, y, spec, selection="validation", **kw)
    assert pooled.settings["selection"] == "pooled" and "selection" not in valid.settings
    # the kept rows are those of the lowest pooled error in the history, and that error is the
    # key's RMSE on all 300 owner rows, refitted independently (numpy side) on the kept rows
    h = pooled.history
    best = int(h.loc[h["val_objective"].idxmin(), "step"])
    assert pooled.metrics["best_step"] == best
    r = spec.build().fit(pooled.X, pooled.y).predict(X.to_numpy()) - y.to_numpy()
    assert float(h["val_objective"].min()) == pytest.approx(float(np.sqrt(np.mean(r * r))), rel=1e-9)
    # the reported validation RMSE stays the split's: the same in both runs at the start rows
    assert pooled.history["val_rmse"].iloc[0] == valid.history["val_rmse"].iloc[0]
    assert not np.allclose(h["val_objective"], h["val_rmse"])


def test_large_tables_forge_exactly_as_before(small):
    X, y, spec = small
    # a validation split of 250 rows or more: auto is the paper's validation early stopping, bit for bit
    # (learning rate included: the small-table rate applies below 250 validation rows only)
    big_X = pd.concat([X] * 5, ignore_index=True)
    big_y = pd.concat([y] * 5, ignore_index=True)
    kw = dict(rows=10, steps=30, eval_every=10, seed=0)
    a = forge(big_X, big_y, spec, **kw)  # auto, the default
    b = forge(big_X, big_y, spec, selection="validation", **kw)
    np.testing.assert_array_equal(a.data.to_numpy(), b.data.to_numpy())
    assert a.settings == b.settings and "selection" not in a.settings


# -- start targets and refit: the two further small-table rules -----------------------------------
def _start_rows(X, y, spec, **kw):
    """The forged rows of a run that cannot move them (one step at a vanishing learning rate, no
    polish of the targets)."""
    return forge(X, y, spec, rows=12, steps=1, lr=1e-300, eval_every=1, seed=3, **{"polish": False, **kw})


def test_key_start_targets_are_the_key_fitted_on_the_rows_forging_learns_from(small):
    X, y, spec = small  # 300 rows: a validation split of 60, a small table
    res = _start_rows(X, y, spec, refit=False)
    assert res.settings["start_targets"] == "predicted" and "refit" not in res.settings
    # an independent reference: the key refitted on the numpy side on the training rows alone
    # (the seeded permutation's last 240), predicting at the forged rows' features
    train = np.random.default_rng(3).permutation(len(y))[60:]
    on_train = spec.build().fit(X.iloc[train], y.iloc[train]).predict(res.X)
    np.testing.assert_allclose(res.y, on_train, rtol=0, atol=1e-8 * float(y.std()))
    on_all = spec.build().fit(X, y).predict(res.X)
    assert np.max(np.abs(res.y - on_all)) > 1e-4  # the validation rows did not teach the start
    own = _start_rows(X, y, spec, refit=False, start_targets="own")
    assert "start_targets" not in own.settings
    np.testing.assert_allclose(own.X, res.X, atol=1e-12)  # the same centroids ...
    assert np.max(np.abs(own.y - res.y)) > 1e-3  # ... with their own mean targets


def test_refit_forges_the_rows_again_on_every_owner_row(small):
    X, y, spec = small
    res = _start_rows(X, y, spec)  # auto: key start targets and refit on a small table
    assert res.settings["refit"] is True and res.settings["start_targets"] == "predicted"
    assert res.metrics["refit_steps"] == res.metrics["best_step"] <= 1
    # the refit's start: centroids of all 300 rows, targets from the key fitted on all of them
    on_all = spec.build().fit(X, y).predict(res.X)
    np.testing.assert_allclose(res.y, on_all, rtol=0, atol=1e-8 * float(y.std()))
    held = _start_rows(X, y, spec, refit=False)
    assert np.max(np.abs(held.X - res.X)) > 1e-3  # other centroids
    # the rows kept learn from the validation rows: shifting only their targets moves the rows
    val = np.random.default_rng(0).permutation(len(y))[:60]
    shifted = y.copy()
    shifted.iloc[val] += 3.0
    kw = dict(rows=12, steps=40, eval_every=5, seed=0)
    a, b = forge(X, y, spec, **kw), forge(X, shifted, spec, **kw)
    assert b.metrics["refit_steps"] == b.metrics["best_step"]
    assert float(b.y.mean() - a.y.mean()) > 0.2  # about 3 x 60/300 = 0.6 through the refit
    c, e = forge(X, y, spec, refit=False, **kw), forge(X, shifted, spec, refit=False, **kw)
    assert abs(float(e.y.mean() - c.y.mean())) < 0.05  # without it the split only selects


def test_start_targets_and_refit_resolve_by_the_table(small):
    s = ForgeSettings()
    small_rule = dict(in_memory=True, regression=True, update=False)
    assert s.start_targets_for(SMALL_VALIDATION_ROWS - 1, **small_rule) == "predicted"
    assert s.refit_for(SMALL_VALIDATION_ROWS - 1, **small_rule) is True
    assert s.start_targets_for(SMALL_VALIDATION_ROWS, **small_rule) == "own"
    assert s.refit_for(SMALL_VALIDATION_ROWS, **small_rule) is False
    for other in (dict(small_rule, regression=False), dict(small_rule, update=True), dict(small_rule, in_memory=False)):
        assert s.start_targets_for(10, **other) == "own" and s.refit_for(10, **other) is False
    assert s.replace(selection="pooled").refit_for(10, **small_rule) is False
    assert s.replace(refit=False).refit_for(10, **small_rule) is False
    assert s.replace(refit=True).refit_for(10_000, **small_rule) is True
    assert s.replace(start_targets="predicted").start_targets_for(10_000, **small_rule) == "predicted"
    with pytest.raises(ForgeError, match="needs a regression key"):
        s.replace(refit=True).refit_for(10, **dict(small_rule, regression=False))
    with pytest.raises(ForgeError, match="needs a regression key"):
        s.replace(start_targets="predicted").start_targets_for(10, **dict(small_rule, in_memory=False))
    with pytest.raises(ForgeError, match="not to given starting rows"):
        s.replace(start_targets="predicted").start_targets_for(10, **dict(small_rule, update=True))
    with pytest.raises(ForgeError, match="unknown start_targets"):
        ForgeSettings(start_targets="mean")
    with pytest.raises(ForgeError, match="refit must be"):
        ForgeSettings(refit="yes")


def test_the_rival_dial_keeps_its_validation_split_unseen(tmp_path):
    from enfo_sdk.workflows.owner_data import load_owner_split

    text = ("version: 1\ndata: {source: builtin:friedman3, target: y}\nkey: {algorithm: nu-method}\n"
            "forge: {rows: 20, rivalry: {max_key_cost: 0.03}}\noutput: {bundle: b.parquet}\n")
    contract = parse_contract(text, file=tmp_path / "key.yaml")
    split = load_owner_split(contract)
    assert split.forge_settings(contract).refit is False
    plain = parse_contract(text.replace(", rivalry: {max_key_cost: 0.03}", ""), file=tmp_path / "key.yaml")
    assert load_owner_split(plain).forge_settings(plain).refit is None  # auto
    both = parse_contract(text.replace("rows: 20,", "rows: 20, refit: true,"), file=tmp_path / "key.yaml")
    assert load_owner_split(both).forge_settings(both).refit is True  # the owner's own word stands
