"""Evaluation of a bundle: utility, rivalry, divergence and privacy metrics, baselines, report.

Definitions and sources are in ``docs/metrics.md``. Modules:

:mod:`.utility`     key test RMSE, stability, rivalry w.r.t. external data
:mod:`.attackers`   the attacker zoo, tuned by CV on the bundle alone
:mod:`.divergence`  KL, Jensen-Shannon, Wasserstein (per column, standardized)
:mod:`.privacy`     Monte Carlo attack accuracy (Hilprecht et al. 2019), distance to closest record
:mod:`.baselines`   sampled, noise, rounding, top coding, swapping, Gaussian copula, CTGAN (bench extra)
:mod:`.core`        :func:`evaluate` (all of the above) and :func:`rows_curve`
:mod:`.sweep`       :func:`.sweep.sweep`: one bundle per value of a forging weight (paper appendix F)
:mod:`.plots`, :mod:`.report`  PNG figures, metrics.json and a self-contained report.html

``enfo_sdk.workflows.evaluate_run.run_evaluate`` runs a contract's evaluation (``enfo-owner evaluate``),
``enfo_sdk.workflows.sweep_run.run_sweep`` its sweep (``enfo-owner evaluate --sweep``).
"""

from .attackers import ZOO, attacker_zoo
from .baselines import BASELINES, make_baseline
from .core import evaluate, rows_curve, split_holdout
from .divergence import divergences
from .privacy import distance_to_closest_record, monte_carlo_attack
from .sweep import SWEEPABLE, sweepable_params  # not sweep(): it would hide the module .sweep
from .utility import external_rivalry, key_rmse, stability

__all__ = [
    "BASELINES", "SWEEPABLE", "ZOO", "attacker_zoo", "distance_to_closest_record", "divergences", "evaluate",
    "external_rivalry", "key_rmse", "make_baseline", "monte_carlo_attack", "rows_curve",
    "split_holdout", "stability", "sweepable_params",
]
