"""The optional generative baselines (``bench`` extra: CTGAN and Forest-Flow diffusion): shape,
float64, seeding, no side effects, and a clear error when the package is missing. What both share
runs once per baseline; what only one of them promises has its own test."""

from __future__ import annotations

import functools
import importlib.util
import sys

import numpy as np
import pytest
import torch

from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import EnfoError
from enfo_sdk.evaluate.baselines import (
    BASELINES,
    CORE_BASELINES,
    OPTIONAL_BASELINES,
    BaselineUnavailableError,
    available_baselines,
    baselines_note,
    make_baseline,
)

#: Per baseline: training rows, fast settings, and the note's sentence starts (skipped, ran, absent).
CASES = {
    # 400 rows: one 500-row batch per epoch, a few seconds in all
    "ctgan": dict(rows=400, fast={"epochs": 5}, skipped="CTGAN baseline skipped",
                  ran="CTGAN baseline: ctgan {v}", absent="not among the requested"),
    # 300 rows: four small XGBoost fits, about a second in all
    "forest_diffusion": dict(rows=300, fast={"n_t": 4, "duplicate_k": 4},
                             skipped="No diffusion baseline: forest_diffusion skipped",
                             ran="Diffusion baseline: ForestDiffusion {v}",
                             absent="No diffusion baseline: forest_diffusion not among the requested"),
}


def module_of(name: str) -> str:
    return OPTIONAL_BASELINES[name][0]


@functools.cache
def train_of(name: str) -> np.ndarray:
    return friedman3(CASES[name]["rows"], seed=0).to_numpy(np.float64)


@functools.cache
def fitted_of(name: str) -> np.ndarray:
    return make_baseline(name, train_of(name), 120, seed=3, **CASES[name]["fast"])


def needs(name: str) -> None:
    pytest.importorskip(module_of(name))


def test_every_optional_baseline_is_covered():
    assert set(CASES) == set(OPTIONAL_BASELINES)


@pytest.mark.parametrize("name", CASES)
def test_default_list_has_it_only_when_installed(name):
    installed = importlib.util.find_spec(module_of(name)) is not None
    assert (name in BASELINES) == installed
    assert BASELINES[: len(CORE_BASELINES)] == CORE_BASELINES


@pytest.mark.parametrize("name", CASES)
def test_without_its_package_asking_for_it_is_a_clear_error(monkeypatch, name):
    module = module_of(name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` raise ImportError
    with pytest.raises(BaselineUnavailableError, match=r"pip install 'enfo-sdk\[bench\]'") as info:
        make_baseline(name, train_of(name), 10, **CASES[name]["fast"])
    assert f"{module!r} package" in str(info.value)
    assert isinstance(info.value, EnfoError) and isinstance(info.value, ImportError)
    assert info.value.__cause__ is not None
    assert name not in available_baselines()
    assert set(available_baselines()) >= set(CORE_BASELINES)
    note = baselines_note(CORE_BASELINES)
    assert CASES[name]["skipped"] in note and "pip install 'enfo-sdk[bench]'" in note


@pytest.mark.parametrize("name", CASES)
def test_shape_finite_float64(name):
    needs(name)
    fitted = fitted_of(name)
    assert fitted.shape == (120, train_of(name).shape[1])
    assert fitted.dtype == np.float64 and np.isfinite(fitted).all()
    assert len({tuple(r) for r in fitted}) == len(fitted)  # no repeated rows


@pytest.mark.parametrize("name", CASES)
def test_same_seed_same_rows_other_seed_other_rows(name):
    needs(name)
    train, fast = train_of(name), CASES[name]["fast"]
    np.testing.assert_array_equal(make_baseline(name, train, 120, seed=3, **fast), fitted_of(name))
    assert not np.array_equal(make_baseline(name, train, 120, seed=4, **fast), fitted_of(name))


@pytest.mark.parametrize("name", CASES)
def test_note_names_what_ran(name):
    needs(name)
    from importlib.metadata import version

    assert CASES[name]["ran"].format(v=version(module_of(name))) in baselines_note(BASELINES)
    assert CASES[name]["absent"] in baselines_note(CORE_BASELINES)


# -- CTGAN only --------------------------------------------------------------------------------
def test_ctgan_leaves_global_rng_and_thread_count_alone():
    needs("ctgan")
    np.random.seed(11)
    torch.manual_seed(12)
    np_before, torch_before = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    threads = torch.get_num_threads()
    make_baseline("ctgan", train_of("ctgan"), 20, seed=0, epochs=1)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)
    assert torch.equal(torch.get_rng_state(), torch_before)
    assert torch.get_num_threads() == threads


# -- Forest-Flow diffusion only ----------------------------------------------------------------
def test_diffusion_bad_settings_are_refused():
    train = train_of("forest_diffusion")
    with pytest.raises(ValueError, match="n_t >= 2"):
        make_baseline("forest_diffusion", train, 10, n_t=1)
    with pytest.raises(ValueError, match="duplicate_k >= 1"):
        make_baseline("forest_diffusion", train, 10, duplicate_k=0)


def test_diffusion_rows_within_training_range_and_not_copied():
    needs("forest_diffusion")
    fitted, train = fitted_of("forest_diffusion"), train_of("forest_diffusion")
    # samples are clipped to each column's training range (documented)
    assert (fitted >= train.min(axis=0)).all() and (fitted <= train.max(axis=0)).all()
    assert not {tuple(r) for r in fitted} & {tuple(r) for r in train}  # generated, not copied


def test_diffusion_leaves_global_rng_and_xgboost_config_alone():
    needs("forest_diffusion")
    import xgboost

    np.random.seed(11)
    before = np.random.get_state()
    config = xgboost.get_config()
    make_baseline("forest_diffusion", train_of("forest_diffusion"), 20, seed=0, n_t=4, duplicate_k=4)
    after = np.random.get_state()
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2:] == before[2:]
    assert xgboost.get_config() == config
