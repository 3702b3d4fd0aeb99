"""sweep(): structure, the paper's alignment effect, gain against an independent recomputation.

Tiny settings (600 Friedman #3 rows, a fixed krr key, 50 forged rows, 60 steps) so a sweep of
two values takes a few seconds. ``init="sample"`` and ``lr=0.05`` make the alignment effect
robust at this scale: over seeds 0-3, alignment_weight=100 against 0 gave KL ratios
0.68-0.74 and Wasserstein ratios 0.44-0.60. With the default k-means start the best rows on
validation were sometimes the starting ones (best_step 0), and then the weight changes
nothing. ``selection="validation"`` for the same reason: the small-table rule (one_se, the
default below 250 validation rows) keeps early rows, before the weight has acted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from enfo_sdk import KeySpec, Preprocessing
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import ConfigError
from enfo_sdk.evaluate import split_holdout
from enfo_sdk.evaluate.sweep import SWEEPABLE, sweep, sweepable_params
from enfo_sdk.forge import forge

FORGE = {"rows": 50, "steps": 60, "init": "sample", "lr": 0.05, "selection": "validation"}
OWN = 100


@pytest.fixture(scope="module")
def data():
    df = friedman3(n=600, seed=0)
    X, y = df[["x1", "x2", "x3", "x4"]].to_numpy(), df["y"].to_numpy()
    Xtr, ytr = X[:300], y[:300]
    spec = KeySpec(algorithm="krr", version=1, hyperparameters={"bandwidth": 1.0, "alpha": 1e-2},
                   preprocessing=Preprocessing.fit(Xtr, ytr))
    return spec, Xtr, ytr, X[300:], y[300:]


@pytest.fixture(scope="module")
def swept(data):
    spec, Xtr, ytr, Xh, yh = data
    seen = []
    out = sweep(spec, Xtr, ytr, Xh, yh, param="alignment_weight", values=[0, 100],
                forge_kwargs=FORGE, own_rows=OWN, progress=seen.append)
    return out, seen


def test_result_structure(swept):
    out, seen = swept
    assert out["param"] == "alignment_weight" and out["mode"] == "augment"
    assert out["values"] == [0.0, 100.0]
    assert out["split"] == {"train": 300, "own": OWN, "test": 200}
    assert out["forge"]["mode"] == "augment" and out["forge"]["rows"] == 50
    assert "alignment_weight" not in out["forge"]  # it varies; each result has its value
    assert [r["value"] for r in out["results"]] == [0.0, 100.0]
    for r in out["results"]:
        assert set(r) == {"value", "key_rmse", "key_rmse_change", "divergence", "augmentation", "forge"}
        assert set(r["divergence"]) == {"kl", "js", "wasserstein"}
        assert all(math.isfinite(v) and v >= 0 for v in r["divergence"].values())
        assert r["augmentation"]["own"] == out["reference"]["own_key_rmse"]
    assert out["results"][0]["key_rmse_change"] == 0.0
    second = out["results"][1]
    assert second["key_rmse_change"] == pytest.approx(second["key_rmse"] / out["results"][0]["key_rmse"] - 1)
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    import json

    json.dumps(out, allow_nan=False)  # JSON-ready


def test_alignment_brings_the_bundle_closer_to_the_real_rows(swept):
    """The paper's appendix F: a larger alignment weight gives a smaller divergence."""
    at0, at100 = (r["divergence"] for r in swept[0]["results"])
    assert at100["wasserstein"] < 0.8 * at0["wasserstein"]
    assert at100["kl"] < at0["kl"]
    assert at100["js"] < at0["js"]


def _rmse(spec, X, y, Xt, yt):
    model = spec.build().fit(X, y)
    return float(np.sqrt(np.mean((model.predict(Xt) - yt) ** 2)))


def test_gain_and_rmse_match_an_independent_recomputation(data, swept):
    spec, Xtr, ytr, Xh, yh = data
    out = swept[0]
    own, test = split_holdout(len(yh), OWN, seed=0)
    bundle = forge(Xtr, ytr, spec, mode="augment", alignment_weight=100.0, seed=0, **FORGE).data.to_numpy()
    Xb, yb = bundle[:, :4], bundle[:, 4]
    alone = _rmse(spec, Xh[own], yh[own], Xh[test], yh[test])
    mixed = _rmse(spec, np.vstack([Xh[own], Xb]), np.r_[yh[own], yb], Xh[test], yh[test])
    r = out["results"][1]
    assert r["augmentation"]["own"] == pytest.approx(alone, rel=1e-9)
    assert r["augmentation"]["own_plus_bundle"] == pytest.approx(mixed, rel=1e-9)
    assert r["augmentation"]["gain"] == pytest.approx(1 - mixed / alone, rel=1e-9, abs=1e-12)
    assert r["key_rmse"] == pytest.approx(_rmse(spec, Xb, yb, Xh[test], yh[test]), rel=1e-9)
    full = _rmse(spec, Xtr, ytr, Xh[test], yh[test])
    assert out["reference"]["full_key_rmse"] == pytest.approx(full, rel=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    ({"param": "blur", "values": [0, 1]}, "choose one of alignment_weight, adaptability_weight"),
    ({"param": "alignment_weight", "values": [0, -1]}, ">= 0"),
    ({"param": "alignment_weight", "values": [0, float("inf")]}, "finite"),
    ({"param": "alignment_weight", "values": ["a"]}, "not a number"),
    ({"param": "alignment_weight", "values": []}, "at least 1"),
    ({"param": "alignment_weight", "values": [1], "forge_kwargs": {"mode": "rival"}},
     "names mode 'rival'"),
    ({"param": "adaptability_weight", "values": [1], "forge_kwargs": {"mode": "augment"}},
     "'adaptable'"),
])
def test_bad_requests_raise_before_forging(data, kwargs, match):
    spec, Xtr, ytr, Xh, yh = data
    with pytest.raises(ValueError, match=match) as info:
        sweep(spec, Xtr, ytr, Xh, yh, **kwargs)
    assert isinstance(info.value, ConfigError)


def test_sweepable_params_follow_the_forge_settings(monkeypatch):
    import dataclasses

    from enfo_sdk.forging import settings as settings_module

    names = {f.name for f in dataclasses.fields(settings_module.ForgeSettings)}
    assert set(sweepable_params()) == {p for p in SWEEPABLE if p in names}

    @dataclasses.dataclass(frozen=True)
    class WithoutAdaptability:
        rows: int = 100
        alignment_weight: float = 1.0
        rival_weight: float = 0.0

        names = classmethod(lambda cls: tuple(f.name for f in dataclasses.fields(cls)))

    monkeypatch.setattr(settings_module, "ForgeSettings", WithoutAdaptability)
    assert sweepable_params() == ("alignment_weight", "rival_weight")


def test_the_weight_axis_is_symlog_log_or_linear():
    from enfo_sdk.evaluate.plots import _figure, _weight_axis

    for values, scale in (([0, 1, 10, 100], "symlog"), ([0.1, 1, 10], "log"), ([0, 0.5, 2], "linear")):
        plt, fig = _figure()
        ax = fig.add_subplot(111)
        ax.plot(values, values)
        _weight_axis(ax, values)
        assert ax.get_xscale() == scale
        lo, hi = ax.get_xlim()
        assert lo < min(values) and hi > max(values)
        plt.close(fig)


def test_sweep_plot_writes_a_png(swept, tmp_path):
    from enfo_sdk.evaluate.plots import sweep_plot

    png = sweep_plot(swept[0], tmp_path / "s.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and (tmp_path / "s.png").read_bytes() == png


def test_sweep_plot_draws_the_attacker_ratio_when_measured(swept, tmp_path):
    import copy

    from enfo_sdk.evaluate.plots import sweep_plot

    result = copy.deepcopy(swept[0])
    for i, r in enumerate(result["results"]):
        r["attackers"] = {"best": "mlp", "best_rmse": 1.0, "best_ratio": 1.0 + 0.1 * i}
    with_att = sweep_plot(result)
    assert with_att.startswith(b"\x89PNG") and with_att != sweep_plot(swept[0])
