"""The rival dial's choice (enfo_sdk/forging/calibration.py): the paired bootstrap against a loop
reference, and the choice rule (the dial end to end: tests/test_dial.py)."""

from __future__ import annotations

import numpy as np
import pytest

from enfo_sdk.errors import ForgeError
from enfo_sdk.forging.calibration import GAIN_QUANTILE, GAIN_RESAMPLES, GAIN_SEED, best_ratio, choose, paired_gain


def _reference_gain(y, base, cand, resamples, seed, quantile):
    """The paired bootstrap written out row by row: the same resamples (numpy's generator drawn
    the same way), each model's RMSE by a loop, the best attacker per resample."""
    y = np.asarray(y, np.float64)
    n = len(y)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))

    def ratio(preds, rows):
        rmse = {}
        for name, p in preds.items():
            total = 0.0
            for i in rows:
                total += (p[i] - y[i]) ** 2
            rmse[name] = (total / len(rows)) ** 0.5
        return min(v for k, v in rmse.items() if k != "key") / rmse["key"]

    point = ratio(cand, range(n)) - ratio(base, range(n))
    diffs = sorted(ratio(cand, rows) - ratio(base, rows) for rows in draws)
    # numpy's default quantile: linear interpolation between order statistics
    h = (len(diffs) - 1) * quantile
    lo = int(np.floor(h))
    low = diffs[lo] + (h - lo) * (diffs[min(lo + 1, len(diffs) - 1)] - diffs[lo])
    return point, low


def test_paired_gain_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    y = rng.standard_normal(40)
    base = {"key": y + 0.3 * rng.standard_normal(40), "ridge": y + 0.31 * rng.standard_normal(40),
            "knn": y + 0.5 * rng.standard_normal(40)}
    cand = {"key": y + 0.3 * rng.standard_normal(40), "ridge": y + 0.45 * rng.standard_normal(40),
            "knn": y + 0.4 * rng.standard_normal(40)}
    gain, low = paired_gain(y, base, cand, resamples=300, seed=11, quantile=0.05)
    ref_gain, ref_low = _reference_gain(y, base, cand, 300, 11, 0.05)
    assert gain == pytest.approx(ref_gain, rel=1e-12, abs=1e-12)
    assert low == pytest.approx(ref_low, rel=1e-12, abs=1e-12)
    assert low < gain  # a lower bound
    # the defaults are the module's constants
    assert paired_gain(y, base, cand) == paired_gain(y, base, cand, resamples=GAIN_RESAMPLES, seed=GAIN_SEED,
                                                     quantile=GAIN_QUANTILE)


def test_paired_gain_confirms_a_gain_every_row_shares():
    """The reason for pairing: the same resampled rows score both candidates, so a gain every
    row shares is confirmed however widely each ratio alone wanders over the resamples."""
    rng = np.random.default_rng(5)
    y = rng.standard_normal(30)
    noise = rng.standard_normal(30)
    base = {"key": y + 0.2 * noise, "mlp": y - 0.1 * noise + 0.2 * rng.standard_normal(30)}
    cand = {"key": base["key"], "mlp": base["mlp"] + 0.3 * (base["mlp"] - y)}  # every error x1.3
    gain, low = paired_gain(y, base, cand)
    idx = np.vstack([np.arange(30), np.random.default_rng(GAIN_SEED).integers(0, 30, size=(GAIN_RESAMPLES, 30))])
    alone = best_ratio(y, base, idx)
    assert np.ptp(alone) > 0.3  # each ratio alone is uncertain on 30 rows
    np.testing.assert_allclose(best_ratio(y, cand, idx), 1.3 * alone, rtol=1e-12)
    assert gain == pytest.approx(0.3 * alone[0], rel=1e-12) and low > 0


def test_best_ratio_needs_an_attacker():
    with pytest.raises(ForgeError, match="at least one attacker"):
        best_ratio(np.zeros(3), {"key": np.ones(3)}, np.arange(3)[None])


def _c(kind, ratio, gain_low=None, key_cost=0.0, settled_cost=0.0):
    return {"kind": kind, "ratio": ratio, "gain_low": gain_low, "key_cost": key_cost, "settled_cost": settled_cost}


def test_choice_rule():
    base = _c("base", 1.1)
    weak = _c("rival", 1.3, gain_low=-0.01)  # higher ratio, gain not confirmed
    costly = _c("rival", 1.5, gain_low=0.2, key_cost=0.031)  # over the budget on the split
    unlucky = _c("move", 1.6, gain_low=0.3, settled_cost=0.05)  # over the budget without luck
    good = _c("rival", 1.25, gain_low=0.02)
    better = _c("rival", 1.28, gain_low=0.001)
    unscored = _c("rival", None)
    assert choose([base, weak, costly, unlucky, good, better, unscored], 0.03) is better
    assert choose([base, weak, costly, unlucky], 0.03) is base
    assert choose([base, good], 0.03) is good
    assert choose([base, costly], 0.05) is costly  # a larger budget admits it
    assert choose([base, _c("rival", 1.1, gain_low=0.01)], 0.03) is base  # a tie keeps the base
    assert choose([_c("base", None), good], 0.03)["kind"] == "base"  # no attacker ran: nothing to compare
    assert choose([base, _c("rival", 1.2, gain_low=0.0)], 0.03) is base  # the bound must be above 0


def test_dial_applies_by_the_small_table_rule():
    from enfo_sdk.forging.calibration import dial_applies
    from enfo_sdk.forging.settings import SMALL_VALIDATION_ROWS, ForgeSettings

    s = ForgeSettings.build(rows=10)  # validation 0.2
    small, large = np.zeros(5 * SMALL_VALIDATION_ROWS - 5), np.zeros(5 * SMALL_VALIDATION_ROWS)
    assert s.validation_rows(len(small)) == SMALL_VALIDATION_ROWS - 1 and s.validation_rows(len(large)) == SMALL_VALIDATION_ROWS
    assert dial_applies("small", s, "regression", small, seconds=60)
    assert not dial_applies("small", s, "regression", large, seconds=60)  # the quick start's 1,000 rows: off
    assert not dial_applies("small", s, "classification", small, seconds=60)
    assert not dial_applies("small", s, "regression", small, seconds=0)  # no attackers to score it
    assert not dial_applies("small", s, "regression", None, seconds=60)  # a streamed source
    assert not dial_applies("small", ForgeSettings.build(rows=10, mode="augment"), "regression", small, seconds=60)
    assert dial_applies("on", s, "regression", large, seconds=60)
    assert not dial_applies("off", s, "regression", small, seconds=60)
    # auto reaches dial_applies only without max_key_cost (with it the workflow passes "on"): off
    assert not dial_applies("auto", s, "regression", small, seconds=60)


def test_contract_dial_settings():
    from pydantic import ValidationError

    from enfo_sdk.contract import ForgeSection

    r = ForgeSection(rows=10).rivalry
    assert r.dial == "auto" and r.max_key_cost is None and not r.explicit_dial and not r.scores_on_validation
    assert ForgeSection(rows=10, rivalry={"dial": "small"}).rivalry.scores_on_validation  # the refit stays off
    assert ForgeSection(rows=10, rivalry={"max_key_cost": 0.05}).rivalry.explicit_dial
    assert ForgeSection(rows=10, rivalry={"dial": "on"}).rivalry.explicit_dial
    assert ForgeSection(rows=10, mode="augment").rivalry.dial == "auto"  # auto skips other modes
    with pytest.raises(ValidationError, match="dial is off"):
        ForgeSection(rows=10, rivalry={"dial": "off", "max_key_cost": 0.03})
    with pytest.raises(ValidationError, match="seconds must be > 0"):
        ForgeSection(rows=10, rivalry={"dial": "on", "seconds": 0})
    with pytest.raises(ValidationError, match="mode rival only"):
        ForgeSection(rows=10, mode="augment", rivalry={"dial": "on"})
    with pytest.raises(ValidationError, match="dial"):
        ForgeSection(rows=10, rivalry={"dial": "yes"})


def test_a_streamed_contract_refuses_the_dial_before_any_work(tmp_path):
    """The dial scores on forging's in-memory validation split: with data.stream it was refused
    only after encapsulating and forging; now when the contract is read, naming both keys."""
    from enfo_sdk.contract import parse_contract
    from enfo_sdk.errors import ConfigError

    text = ("version: 1\ndata: {source: owner.parquet, target: y, stream: true}\n"
            "forge: {rows: 30, rivalry: RIVALRY}\noutput: {bundle: b.parquet}\n")
    for rivalry in ("{dial: on}", "{max_key_cost: 0.03}"):
        with pytest.raises(ConfigError, match=r"key.yaml.*needs the owner's rows in memory, and data.stream"):
            parse_contract(text.replace("RIVALRY", rivalry), file=tmp_path / "key.yaml")
    for rivalry in ("{dial: small}", "{dial: auto}", "{dial: off}"):  # small and auto skip streams
        assert parse_contract(text.replace("RIVALRY", rivalry), file=tmp_path / "key.yaml").data.stream
    # YAML reads a bare on / off as a boolean: the contract takes what the owner wrote
    memory = text.replace(", stream: true", "")
    for written, dial in (("on", "on"), ("off", "off"), ('"on"', "on"), ("small", "small")):
        c = parse_contract(memory.replace("RIVALRY", f"{{dial: {written}}}"), file=tmp_path / "key.yaml")
        assert c.forge.rivalry.dial == dial
