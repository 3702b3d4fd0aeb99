"""Consortium planning (CoCoGen+ for EnFo bundles): who forges how many rows, who pays whom.

Pure numpy/scipy, no torch. The maths is in docs/consortium.md: :mod:`.model` (members,
learning curve, utilities), :mod:`.game` (potential, KKT residuals, best-response iteration,
welfare optimum), :mod:`.mechanism` (budget-balanced transfers, individual rationality, the
planner's rate), :mod:`.config` (the strict YAML schema), :mod:`.plan` (the plan the CLI prints
and writes) and :mod:`.plots` (its figures).
"""

from .game import Equilibrium, equilibrium, kkt_residuals, potential, welfare_optimum
from .mechanism import Outcome, RateChoice, choose_rate, outcome
from .model import Consortium, LearningCurve, fit_learning_curve

__all__ = ["Consortium", "Equilibrium", "LearningCurve", "Outcome", "RateChoice", "choose_rate",
           "equilibrium", "fit_learning_curve", "kkt_residuals", "outcome", "potential",
           "welfare_optimum"]
