"""The names of earlier versions' ``enfo_sdk.pipeline``, now in :mod:`enfo_sdk.workflows`.

Kept so that programs written against it keep working; new code imports from
:mod:`enfo_sdk.workflows` (the workflows) and :mod:`enfo_sdk.signing` (key creation).
"""

from __future__ import annotations

from .signing import SignerInfo, create_signing_key
from .workflows.evaluate_run import EVALUATE_PHASES, EvaluateRun, run_evaluate
from .workflows.forge_run import PHASES, ForgeRun, run_forge
from .workflows.partner_steps import PredictRun, TrainRun, predict_file, train_bundle, verify_bundle
from .workflows.sweep_run import SWEEP_PHASES, SweepRun, run_sweep

__all__ = [
    "PHASES", "EVALUATE_PHASES", "SWEEP_PHASES", "ForgeRun", "EvaluateRun", "SweepRun",
    "SignerInfo", "TrainRun", "PredictRun", "run_forge", "run_evaluate", "run_sweep",
    "create_signing_key", "verify_bundle", "train_bundle", "predict_file",
]
