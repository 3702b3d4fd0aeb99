"""The rival dial's least-visible move (enfo_sdk/forging/dial.py) and the dial end to end
(enfo_sdk/forging/calibration.py): exact key cost, the budget, the unmet-target line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from enfo_sdk import encapsulate, forge
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import ForgeError
from enfo_sdk.forging.calibration import CONTINUE_LR_FACTORS, RIVAL_WEIGHTS, calibrate, choose
from enfo_sdk.forging.dial import MOVE_GRID, key_matrix, least_visible, plan, targets_at
from enfo_sdk.forging.owner_rows import owner_rows
from enfo_sdk.spec import KeySpec

ALGORITHMS = {
    "nu-method": {"bandwidth": 1.0, "iterations": 40, "nu": 1.0},  # multi-output fit
    "krr": {"bandwidth": 1.0, "alpha": 1e-3},
    "ridge": {"alpha": 0.1},  # no multi-output fit: one unit vector at a time
}


@pytest.fixture(scope="module")
def owner():
    df = friedman3(n=300, seed=4)
    return df.drop(columns="y"), df["y"]


@pytest.fixture(scope="module")
def forged(owner):
    X, y = owner
    spec = encapsulate(X, y, seed=0, search={"bandwidth": [1.0], "iterations": {"max": 40}})
    return spec, forge(X, y, spec, rows=15, steps=20, seed=0)


def _spec(algorithm, X, y):
    from enfo_sdk.preprocessing import Preprocessing

    pre = Preprocessing.fit(np.asarray(X, np.float64), np.asarray(y, np.float64))
    return KeySpec(algorithm=algorithm, version=1, hyperparameters=ALGORITHMS[algorithm], preprocessing=pre)


def _validation(X, y, spec, seed=0, validation=0.2):
    data = owner_rows(X, y, spec, validation, seed, torch.device("cpu"), False)
    pre = spec.preprocessing
    return pre.inverse_X(data.Zval.numpy()), pre.inverse_y(data.tval.numpy())


def _refit_rmse(spec, Xf, yf, Xv, yv):
    pred = spec.build().fit(np.asarray(Xf, np.float64), np.asarray(yf, np.float64)).predict(Xv)
    return float(np.sqrt(np.mean((pred - yv) ** 2)))


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_key_cost_from_A_equals_a_refit(owner, algorithm):
    X, y = owner
    spec = _spec(algorithm, X, y)
    pre = spec.preprocessing
    rng = np.random.default_rng(1)
    Xa = np.asarray(X, np.float64)
    Zf = pre.transform_X(Xa[rng.choice(len(Xa), 12, replace=False)])
    tf = rng.standard_normal(12)
    Zv, tv = pre.transform_X(Xa[:80]), pre.transform_y(np.asarray(y, np.float64)[:80])
    A = key_matrix(spec, Zf, Zv, tf)
    v, sigma = least_visible(A, A @ tf - tv)
    assert sigma == pytest.approx(np.linalg.svd(A, compute_uv=False).min(), rel=1e-12)
    assert float((A @ tf - tv) @ (A @ v)) <= 0  # signed not to raise the error at first order
    box = (-0.5, 0.5)
    for eps, b in [(0.3, None), (2.0, box)]:
        t_new = targets_at(tf, v, eps, b)
        if b is not None:
            assert t_new.min() >= box[0] and t_new.max() <= box[1] and np.any(t_new == box[1])
        # the cost from A (no refit) against the key refitted on the moved rows, original units
        from_A = np.sqrt(np.mean((A @ t_new - tv) ** 2)) * pre.target_scale
        refit = _refit_rmse(spec, pre.inverse_X(Zf), pre.inverse_y(t_new), pre.inverse_X(Zv), pre.inverse_y(tv))
        assert from_A == pytest.approx(refit, rel=1e-8, abs=0)


def test_budget_is_respected_on_the_validation_split(owner, forged):
    X, y = owner
    spec, result = forged
    budget = 0.02
    new, rec = calibrate(result, X, y, target=1.2, max_key_cost=budget, validation=0.2, seed=0,
                         seconds=0.01, attackers=("ridge",), weights=())  # the move alone
    Xv, yv = _validation(X, y, spec)
    base = _refit_rmse(spec, result.X, result.y, Xv, yv)
    assert rec.validation_rows == len(yv) == 60
    assert 0 < rec.move_max and [c["kind"] for c in rec.candidates] == ["base", "move"]
    for c in rec.candidates:
        assert c["key_cost"] <= budget and c["settled_cost"] <= budget
    # the plan's exact costs against refits on forging's validation split: the largest move
    # is within the budget, the next grid move is not
    p, (Xv2, yv2) = plan(result, X, y, validation=0.2, seed=0)
    np.testing.assert_allclose(Xv2, Xv, rtol=0, atol=0)
    pre = spec.preprocessing
    nxt = float(MOVE_GRID[MOVE_GRID > rec.move_max][0])
    for move in (rec.move_max, nxt):
        refit = _refit_rmse(spec, result.X, pre.inverse_y(p.targets(move)), Xv, yv) / base - 1.0
        assert refit == pytest.approx(p.cost(move), abs=1e-8)
    assert p.budget_cost(rec.move_max) <= budget < p.budget_cost(nxt)
    # the cost without luck against refits on all the owner rows (here fewer than 5,000: no sample)
    data = owner_rows(X, y, spec, 0.2, 0, torch.device("cpu"), False)
    Zo = np.vstack([data.Ztr.numpy(), data.Zval.numpy()])
    to = np.concatenate([data.ttr.numpy(), data.tval.numpy()])
    Xo = pre.inverse_X(Zo)
    before = pre.transform_y(spec.build().fit(result.X, result.y).predict(Xo))
    after = pre.transform_y(spec.build().fit(result.X, pre.inverse_y(p.targets(nxt))).predict(Xo))
    d, r = after - before, before - to
    assert p.settled_cost(nxt) == pytest.approx(np.sqrt(1 + (d @ d) / (r @ r)) - 1, abs=1e-8)
    # the rows returned, refitted as a partner would: the recorded cost, within the budget
    cost = _refit_rmse(spec, new.X, new.y, Xv, yv) / base - 1.0
    assert cost == pytest.approx(rec.key_cost, abs=1e-8) and cost <= budget + 1e-12
    assert new.settings["dial_move"] == rec.move and new.settings["dial_key_cost"] == rec.key_cost
    np.testing.assert_array_equal(new.X, result.X)  # only the targets move
    # the chosen candidate: the unmoved rows, or the move when its paired gain is confirmed
    assert rec.ratio == choose(rec.candidates, budget)["ratio"] and rec.base_ratio == rec.candidates[0]["ratio"]
    assert rec.kind == ("move" if rec.candidates[1]["gain_low"] > 0 else "base")
    assert rec.clipped is False  # no column encoding: nothing bounds the target


def test_unmet_target_is_said_plainly(owner, forged):
    X, y = owner
    _, result = forged
    _, rec = calibrate(result, X, y, target=50.0, max_key_cost=0.01, validation=0.2, seed=0,
                       seconds=0.01, attackers=("ridge",), steps=20)
    assert rec.met is False and rec.settings()["dial_met"] is False
    msg = rec.message()
    assert "target x50 NOT met within the key-cost budget 1.0%" in msg
    assert f"reached x{rec.ratio:.3f} (ridge)" in msg and "validation rows" in msg
    _, easy = calibrate(result, X, y, target=0.01, max_key_cost=0.01, validation=0.2, seed=0,
                        seconds=0.01, attackers=("ridge",), weights=())
    assert easy.met and "target x0.01 met" in easy.message()


def test_dial_refuses_bad_requests(owner, forged):
    X, y = owner
    _, result = forged
    with pytest.raises(ForgeError, match="max_key_cost > 0"):
        calibrate(result, X, y, target=1.2, max_key_cost=0.0, validation=0.2, seed=0, seconds=1)
    with pytest.raises(ForgeError, match="seconds > 0"):
        calibrate(result, X, y, target=1.2, max_key_cost=0.03, validation=0.2, seed=0, seconds=0)


@pytest.mark.parametrize("value", [0, -0.1, 1.0, 2, "0.03", True])
def test_schema_and_loader_reject_bad_max_key_cost(value):
    import json
    from pathlib import Path

    from pydantic import ValidationError

    from enfo_sdk.contract import ForgeSection

    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (in the dev extra) is not installed")
    schema = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "contract.schema.json").read_text())
    contract = {"version": 1, "data": {"source": "builtin:friedman3", "target": "y"},
                "key": {"algorithm": "nu-method"}, "output": {"bundle": "b.parquet"},
                "forge": {"rows": 10, "rivalry": {"max_key_cost": value}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(contract, schema)
    with pytest.raises(ValidationError, match="max_key_cost"):
        ForgeSection(rows=10, rivalry={"max_key_cost": value})
    contract["forge"]["rivalry"]["max_key_cost"] = 0.03
    jsonschema.validate(contract, schema)  # a good value passes both
    assert ForgeSection(rows=10, rivalry={"max_key_cost": 0.03}).rivalry.max_key_cost == 0.03


def test_loader_refuses_the_dial_without_attackers_or_outside_mode_rival():
    from pydantic import ValidationError

    from enfo_sdk.contract import ForgeSection

    with pytest.raises(ValidationError, match="seconds must be > 0"):
        ForgeSection(rows=10, rivalry={"max_key_cost": 0.03, "seconds": 0})
    with pytest.raises(ValidationError, match="mode rival only"):
        ForgeSection(rows=10, mode="augment", rivalry={"max_key_cost": 0.03})


@pytest.mark.filterwarnings("ignore::enfo_sdk.encapsulate.EdgeOfGridWarning")  # a one-point grid, on purpose
def test_moved_rows_stay_in_the_target_range_and_a_partner_rebuilds_them(tmp_path):
    """Partner exactness with moved targets: the bundle of the moved rows verifies (its probes are
    the key trained on exactly those rows) and holds them; clipped into the target's box."""
    from enfo_sdk.bundle import verify, write_bundle
    from enfo_sdk.data.columns import ColumnTransform, infer_schema
    from enfo_sdk.signing import TrustStore, generate_private_key

    df = friedman3(n=300, seed=6)
    columns = ColumnTransform.fit(df, infer_schema(df, "y", where="t"), "y", where="t")
    X, y = columns.encode_frame(df), df["y"]
    spec = encapsulate(X, y, seed=0, search={"bandwidth": [1.0], "iterations": {"max": 40}}).with_columns(columns)
    result = forge(X, y, spec, rows=15, steps=20, seed=0)
    p, _ = plan(result, X, y, validation=0.2, seed=0)
    lo, hi = columns.target.min, columns.target.max
    assert p.box is not None and (lo, hi) == (df["y"].min(), df["y"].max())
    moved = p.moved(result, 3.0)  # far enough that the box clips
    ym = moved.y
    assert lo <= ym.min() and ym.max() <= hi and np.any(np.isclose(ym, hi) | np.isclose(ym, lo))
    assert np.abs(ym - result.y).max() > 0.1 * (hi - lo)
    np.testing.assert_array_equal(moved.X, result.X)
    key = generate_private_key()
    write_bundle(tmp_path / "b.parquet", moved, signing_key=key, owner_name="acme")
    store = TrustStore()
    store.add("acme", key.public_key())
    bundle = verify(tmp_path / "b.parquet", store)  # the probes reproduce on the moved rows
    np.testing.assert_array_equal(bundle.data["y"].to_numpy(), ym)


def test_selection_last_keeps_the_rows_after_the_last_step(owner, forged):
    X, y = owner
    spec, result = forged
    last = forge(X, y, spec, rows=15, steps=40, eval_every=10, seed=0, selection="last", init_rows=result.data)
    assert last.metrics["best_step"] == 40 and last.settings["selection"] == "last"
    assert last.metrics["best_val_rmse"] == last.history["val_rmse"].iloc[-1]
    # the same run with one more evaluation's worth of steps: its step-40 rows are these rows
    longer = forge(X, y, spec, rows=15, steps=40, eval_every=40, seed=0, selection="last", init_rows=result.data)
    np.testing.assert_allclose(longer.data.to_numpy(), last.data.to_numpy(), rtol=1e-12, atol=1e-12)
    assert not np.allclose(last.data.to_numpy(), result.data.to_numpy())


def _key_on(spec, Xf, yf, Zrows):
    pre = spec.preprocessing
    Z, t = pre.transform_X(np.asarray(Xf, np.float64)), pre.transform_y(np.asarray(yf, np.float64))
    return np.asarray(spec.key.predict(spec.key.fit(Z, t, spec.hyperparameters), Zrows, spec.hyperparameters))


def test_calibrate_candidates_costs_and_choice(owner, forged):
    X, y = owner
    spec, result = forged
    budget = 0.05
    new, rec = calibrate(result, X, y, target=1.2, max_key_cost=budget, validation=0.2, seed=0,
                         seconds=0.01, attackers=("ridge", "knn"), steps=30)
    kinds = [c["kind"] for c in rec.candidates]
    assert kinds[:4] == ["base", "rival", "rival", "rival"] and set(kinds[4:]) <= {"move"}
    assert [c["rival_weight"] for c in rec.candidates[1:4]] == list(RIVAL_WEIGHTS)
    # every candidate's costs against refits on forging's own split and the plan's owner rows
    data = owner_rows(X, y, spec, 0.2, 0, torch.device("cpu"), False)
    Zo = np.vstack([data.Ztr.numpy(), data.Zval.numpy()])
    to = np.concatenate([data.ttr.numpy(), data.tval.numpy()])
    n_val = len(data.tval)
    base = _key_on(spec, result.X, result.y, Zo)
    p, _ = plan(result, X, y, validation=0.2, seed=0)
    for c in rec.candidates[1:]:
        if c["kind"] == "rival":  # the continuation, rebuilt through the public API
            tried = [(k, f) for f in CONTINUE_LR_FACTORS for k in (30, 15)]  # 15 // 2 < MIN_CONTINUE_STEPS
            assert (c["steps"], c["lr"] / result.settings["lr"]) in tried
            over = max(c["key_cost"], c["settled_cost"]) > budget  # over the budget: the last one tried
            assert not over or (c["steps"], c["lr"] / result.settings["lr"]) == tried[-1]
            rows = forge(X, y, spec, rows=15, mode="rival", rival_weight=c["rival_weight"], steps=c["steps"],
                         eval_every=c["steps"],
                         selection="last", lr=c["lr"], batch_size=result.settings["batch_size"],
                         validation=0.2, seed=0, init_rows=result.data)
            Xc, yc = rows.X, rows.y
        else:
            assert c["move"] == rec.move_max > 0
            Xc, yc = result.X, spec.preprocessing.inverse_y(p.targets(c["move"]))
            assert c["key_cost"] == pytest.approx(p.cost(c["move"]), abs=1e-8)  # A's exact cost
            assert c["settled_cost"] == pytest.approx(p.settled_cost(c["move"]), abs=1e-8)
        pred = _key_on(spec, Xc, yc, Zo)
        r, d = base - to, pred - base
        val = (pred - to)[-n_val:]
        assert c["key_cost"] == pytest.approx(np.sqrt(np.mean(val ** 2) / np.mean(r[-n_val:] ** 2)) - 1, abs=1e-10)
        assert c["settled_cost"] == pytest.approx(np.sqrt(1 + d @ d / (r @ r)) - 1, abs=1e-10)
        over = max(c["key_cost"], c["settled_cost"]) > budget
        assert (c["ratio"] is None) == over  # only candidates within the budget are scored
    chosen = choose(rec.candidates, budget)
    assert (rec.kind, rec.rival_weight, rec.ratio) == (chosen["kind"], chosen["rival_weight"], chosen["ratio"])
    assert rec.base_ratio == rec.candidates[0]["ratio"]
    s = new.settings
    assert s["dial_kind"] == rec.kind and s["dial_rival_weight"] == rec.rival_weight and s["dial_steps"] == rec.steps
    assert rec.steps == (chosen["steps"] if rec.kind == "rival" else 0)
    assert s["dial_gain_low"] == rec.gain_low and s["dial_key_cost"] == rec.key_cost
    # the kept rows, refitted as a partner would: the recorded cost
    pred = _key_on(spec, new.X, new.y, Zo)
    kept = np.sqrt(np.mean((pred - to)[-n_val:] ** 2) / np.mean((base - to)[-n_val:] ** 2)) - 1
    assert kept == pytest.approx(rec.key_cost, abs=1e-10)


def test_calibrate_keeps_a_confirmed_rival_candidate(owner, forged):
    """With a generous budget and an easy bar the rows the dial returns are a rival candidate's
    when one is confirmed, and the record says which."""
    X, y = owner
    _, result = forged
    new, rec = calibrate(result, X, y, target=1.2, max_key_cost=0.5, validation=0.2, seed=0, seconds=0.01,
                         attackers=("knn",), steps=30, move=False)
    assert len(rec.candidates) == 4 and rec.move_max == 0
    confirmed = [c for c in rec.candidates[1:] if c["gain_low"] is not None and c["gain_low"] > 0]
    if confirmed:
        assert rec.kind == "rival" and rec.gain_low > 0 and rec.ratio == max(c["ratio"] for c in confirmed
                                                                              if c["ratio"] > rec.base_ratio)
        assert not np.allclose(new.data.to_numpy(), result.data.to_numpy())
        assert f"rows forged {rec.steps} steps on with rival weight {rec.rival_weight:g}" in rec.message()
    else:
        assert rec.kind == "base" and new.data is result.data


def test_calibrate_refuses_bad_requests(owner, forged):
    X, y = owner
    _, result = forged
    with pytest.raises(ForgeError, match="steps >= 10"):
        calibrate(result, X, y, target=1.2, max_key_cost=0.03, validation=0.2, seed=0, seconds=1, steps=0)


def test_stop_at_target_keeps_rows_that_meet_it(owner, forged):
    """forge.rivalry.dial: auto stops when the forged rows meet the target on the validation
    split: one candidate scored, the rows unchanged; below the target it tries them all."""
    X, y = owner
    _, result = forged
    new, rec = calibrate(result, X, y, target=0.01, max_key_cost=0.03, validation=0.2, seed=0, seconds=0.01,
                         attackers=("ridge",), steps=20, stop_at_target=True)
    assert rec.stopped_at_target and len(rec.candidates) == 1 and rec.kind == "base" and new.data is result.data
    assert rec.met and "they meet the target, no candidate tried" in rec.message()
    assert new.settings["dial_stopped_at_target"] is True
    _, rec2 = calibrate(result, X, y, target=50.0, max_key_cost=0.03, validation=0.2, seed=0, seconds=0.01,
                        attackers=("ridge",), steps=20, stop_at_target=True, move=False)
    assert not rec2.stopped_at_target and len(rec2.candidates) == 1 + len(RIVAL_WEIGHTS)
