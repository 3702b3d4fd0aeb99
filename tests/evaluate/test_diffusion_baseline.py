"""The optional diffusion baseline (Forest-Flow, ``bench`` extra): shape, float64, range, seeding,
no side effects, and a clear error when the package is missing."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import EnfoError
from enfo_sdk.evaluate.baselines import (
    BASELINES,
    CORE_BASELINES,
    BaselineUnavailableError,
    available_baselines,
    baselines_note,
    make_baseline,
)

TINY = {"n_t": 4, "duplicate_k": 4}  # 300 rows: four small XGBoost fits, about a second in all


@pytest.fixture(scope="module")
def train():
    return friedman3(300, seed=0).to_numpy(np.float64)


@pytest.fixture(scope="module")
def fitted(train):
    pytest.importorskip("ForestDiffusion")
    return make_baseline("forest_diffusion", train, 120, seed=3, **TINY)


def test_default_list_has_forest_diffusion_only_when_installed():
    installed = importlib.util.find_spec("ForestDiffusion") is not None
    assert ("forest_diffusion" in BASELINES) == installed
    assert BASELINES[: len(CORE_BASELINES)] == CORE_BASELINES


def test_without_forest_diffusion_asking_for_it_is_a_clear_error(monkeypatch, train):
    monkeypatch.setitem(sys.modules, "ForestDiffusion", None)  # `import ForestDiffusion` raises
    with pytest.raises(BaselineUnavailableError, match=r"pip install 'enfo-sdk\[bench\]'") as info:
        make_baseline("forest_diffusion", train, 10, **TINY)
    assert "'ForestDiffusion' package" in str(info.value)
    assert isinstance(info.value, EnfoError) and isinstance(info.value, ImportError)
    assert info.value.__cause__ is not None
    assert "forest_diffusion" not in available_baselines()
    note = baselines_note(CORE_BASELINES)
    assert "No diffusion baseline: forest_diffusion skipped" in note
    assert "pip install 'enfo-sdk[bench]'" in note


def test_bad_settings_are_refused(train):
    with pytest.raises(ValueError, match="n_t >= 2"):
        make_baseline("forest_diffusion", train, 10, n_t=1)
    with pytest.raises(ValueError, match="duplicate_k >= 1"):
        make_baseline("forest_diffusion", train, 10, duplicate_k=0)


def test_shape_finite_float64_within_training_range(fitted, train):
    assert fitted.shape == (120, train.shape[1])
    assert fitted.dtype == np.float64 and np.isfinite(fitted).all()
    assert len({tuple(r) for r in fitted}) == len(fitted)  # no repeated rows
    # samples are clipped to each column's training range (documented)
    assert (fitted >= train.min(axis=0)).all() and (fitted <= train.max(axis=0)).all()
    assert not {tuple(r) for r in fitted} & {tuple(r) for r in train}  # generated, not copied


def test_same_seed_same_rows_other_seed_other_rows(fitted, train):
    np.testing.assert_array_equal(make_baseline("forest_diffusion", train, 120, seed=3, **TINY), fitted)
    assert not np.array_equal(make_baseline("forest_diffusion", train, 120, seed=4, **TINY), fitted)


def test_leaves_global_rng_and_xgboost_config_alone(train):
    pytest.importorskip("ForestDiffusion")
    import xgboost

    np.random.seed(11)
    before = np.random.get_state()
    config = xgboost.get_config()
    make_baseline("forest_diffusion", train, 20, seed=0, **TINY)
    after = np.random.get_state()
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2:] == before[2:]
    assert xgboost.get_config() == config


def test_note_names_what_ran():
    pytest.importorskip("ForestDiffusion")
    from importlib.metadata import version

    assert f"Diffusion baseline: ForestDiffusion {version('ForestDiffusion')}" in baselines_note(BASELINES)
    assert "No diffusion baseline: forest_diffusion not among the requested" in baselines_note(CORE_BASELINES)
