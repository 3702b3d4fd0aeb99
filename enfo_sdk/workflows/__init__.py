"""The workflows behind the command-line tools: one module per job, over the library.

=====================  ==========================================  =========================
module                 job                                         CLI
=====================  ==========================================  =========================
:mod:`.owner_data`     read, check and split the owner's table     (every owner command)
:mod:`.forge_run`      encapsulate, forge, evaluate, sign, write   ``enfo-owner forge``
:mod:`.evaluate_run`   the full evaluation and its report          ``enfo-owner evaluate``
:mod:`.sweep_run`      one bundle per forging weight               ``enfo-owner evaluate --sweep``
:mod:`.partner_steps`  verify, train and save, predict (files)     ``enfo-partner``
=====================  ==========================================  =========================

A CLI command parses its options, calls one function here and prints the typed result it
returns (each has ``to_json()``). The library below (``forge``, ``encapsulate``, ``bundle``,
``partner``, ``evaluate``) knows nothing of contracts or terminals. Submodules load on first
use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "OwnerSplit": "owner_data", "load_owner_split": "owner_data",
    "PHASES": "forge_run", "ForgeRun": "forge_run", "run_forge": "forge_run",
    "EVALUATE_PHASES": "evaluate_run", "EvaluateRun": "evaluate_run", "run_evaluate": "evaluate_run",
    "SWEEP_PHASES": "sweep_run", "SweepRun": "sweep_run", "run_sweep": "sweep_run",
    "TrainRun": "partner_steps", "PredictRun": "partner_steps", "verify_bundle": "partner_steps",
    "train_bundle": "partner_steps", "predict_file": "partner_steps",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
