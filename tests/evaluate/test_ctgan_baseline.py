"""The optional CTGAN baseline (``bench`` extra): shape, float64, seeding, no side effects, and a
clear error when the package is missing."""

from __future__ import annotations

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
    BaselineUnavailableError,
    available_baselines,
    baselines_note,
    make_baseline,
)

EPOCHS = 5  # 400 rows: one 500-row batch per epoch, a few seconds in all


@pytest.fixture(scope="module")
def train():
    return friedman3(400, seed=0).to_numpy(np.float64)


@pytest.fixture(scope="module")
def fitted(train):
    pytest.importorskip("ctgan")
    return make_baseline("ctgan", train, 120, seed=3, epochs=EPOCHS)


def test_default_list_has_ctgan_only_when_installed():
    installed = importlib.util.find_spec("ctgan") is not None
    assert ("ctgan" in BASELINES) == installed
    assert BASELINES[: len(CORE_BASELINES)] == CORE_BASELINES


def test_without_ctgan_asking_for_it_is_a_clear_error(monkeypatch, train):
    monkeypatch.setitem(sys.modules, "ctgan", None)  # makes `import ctgan` raise ImportError
    with pytest.raises(BaselineUnavailableError, match=r"pip install 'enfo-sdk\[bench\]'") as info:
        make_baseline("ctgan", train, 10, epochs=1)
    assert isinstance(info.value, EnfoError) and isinstance(info.value, ImportError)
    assert info.value.__cause__ is not None
    assert "ctgan" not in available_baselines()
    assert set(available_baselines()) >= set(CORE_BASELINES)
    note = baselines_note(CORE_BASELINES)
    assert "CTGAN baseline skipped" in note and "pip install 'enfo-sdk[bench]'" in note


def test_shape_finite_float64(fitted, train):
    assert fitted.shape == (120, train.shape[1])
    assert fitted.dtype == np.float64 and np.isfinite(fitted).all()
    assert len({tuple(r) for r in fitted}) == len(fitted)  # no repeated rows


def test_same_seed_same_rows_other_seed_other_rows(fitted, train):
    np.testing.assert_array_equal(make_baseline("ctgan", train, 120, seed=3, epochs=EPOCHS), fitted)
    assert not np.array_equal(make_baseline("ctgan", train, 120, seed=4, epochs=EPOCHS), fitted)


def test_leaves_global_rng_and_thread_count_alone(train):
    pytest.importorskip("ctgan")
    np.random.seed(11)
    torch.manual_seed(12)
    np_before, torch_before = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    threads = torch.get_num_threads()
    make_baseline("ctgan", train, 20, seed=0, epochs=1)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)
    assert torch.equal(torch.get_rng_state(), torch_before)
    assert torch.get_num_threads() == threads


def test_note_names_what_ran():
    pytest.importorskip("ctgan")
    from importlib.metadata import version

    assert f"CTGAN baseline: ctgan {version('ctgan')}" in baselines_note(BASELINES)
    assert "not among the requested" in baselines_note(CORE_BASELINES)
