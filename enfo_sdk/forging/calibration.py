r"""The rival dial: the strongest rivalry the owner's validation split confirms within a key-cost budget.

``forge.rivalry: {target: 1.2, max_key_cost: 0.03}`` asks :func:`calibrate`, after forging, for
candidate rows more rival than the forged ones, and keeps the strongest one the validation
split confirms within the budget.

**Candidates.** Besides the forged rows as they are (the *base*):

* ``rival`` -- forging continued from the kept rows with the rival term
  (docs/keys.md, "Rival strength") at each weight of :data:`RIVAL_WEIGHTS`, at the base run's
  learning rate and batch size (warm start: ``init_rows`` are the kept rows; selection ``last``:
  the rows after the last step, since the dial measures the key's cost itself), for
  :data:`CONTINUE_STEPS` steps, or, when those rows cost more than the budget, half as many,
  and so on down to :data:`MIN_CONTINUE_STEPS` -- the farthest point along the weight's path
  (each shorter run retraces the longer one's first steps exactly) within the budget -- and
  when even that costs too much, the same at each smaller learning rate of
  :data:`CONTINUE_LR_FACTORS` (on small tables a few steps at forging's rate can cost the key
  a fifth of its accuracy);
* ``move`` -- the forged targets moved along the direction the key sees least, as far as the
  budget allows (:mod:`enfo_sdk.forging.dial`, ``move_max``).

**Key cost.** For each candidate the key is refitted on its rows and predicts the owner rows of
the plan (:func:`enfo_sdk.forging.dial.plan`: the training rows forging learned from, at most
5,000, and the validation split), all in the key's standardized space: ``key_cost`` is its
validation RMSE over the base rows' minus 1; ``settled_cost``, the cost without luck,
``sqrt(1 + |d|^2 / |r|^2) - 1`` over all those owner rows (``d`` the change of the key's
predictions, ``r`` the base key's residuals: the cost were the change uncorrelated with the
key's errors). A candidate is *within the budget* when both are at most ``max_key_cost``; the
others are not scored.

**Rivalry, paired.** Each candidate within the budget is scored by the forge's fast attacker zoo
(:func:`enfo_sdk.evaluate.rivalry.rivalry_check`, tuned by CV on the candidate's rows) on the
validation split -- never the test rows. Its *ratio* is the best attacker's validation RMSE over
its key's. Its gain over the base is confirmed by a paired bootstrap (:func:`paired_gain`): on
each of :data:`GAIN_RESAMPLES` resamples of the validation rows (one resample scores every model
of both candidates), the best-attacker ratio -- the lowest attacker RMSE over the key's RMSE on
that resample -- of the candidate minus the base's; the gain is *confirmed* when the
:data:`GAIN_QUANTILE` quantile of those differences (a one-sided 95% lower bound) is above 0.

**Choice** (:func:`choose`): of the base and the confirmed candidates within the budget, the one
with the highest ratio (the base on a tie). Its kind, rival weight, move, costs, ratios and
lower bound go into the bundle's settings record (:meth:`DialRecord.settings`);
:attr:`DialRecord.met` says whether the target was reached.

**When it runs** (:func:`dial_applies`, ``forge.rivalry.dial``): ``auto`` (the default) only when
the contract sets ``max_key_cost``; ``small`` on small tables only (a validation split under 250
rows), where it also stops after scoring the forged rows when they already meet the target
(``stop_at_target``); ``on`` always; ``off`` never. ``small`` was the default for a while; the
small-table refit (docs/keys.md, "Small tables") forges again on the validation split the dial
scores on, and gained more on the same tables, so the dial is opt-in. Measured across public
tables in ``benchmarks/RESULTS.md`` ("Rival dial, calibrated", issue 15).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ForgeError

__all__ = ["CONTINUE_LR_FACTORS", "CONTINUE_STEPS", "DEFAULT_MAX_KEY_COST", "dial_applies", "MIN_CONTINUE_STEPS", "GAIN_QUANTILE", "GAIN_RESAMPLES", "RIVAL_WEIGHTS", "DialRecord", "best_ratio",
           "calibrate", "choose", "paired_gain"]

#: Weights of the rival term the dial continues forging with (docs/keys.md, "Rival strength":
#: 0.03 raised Friedman #3's best attacker / key from 1.02 to 1.25 at +1.9% key cost).
RIVAL_WEIGHTS = (0.01, 0.03, 0.1)

#: Steps of each continuation from the kept rows, at most and at least (halved while over the
#: budget; on small tables forging over-fits within tens of steps, issue 15 item 0).
CONTINUE_STEPS = 320
MIN_CONTINUE_STEPS = 10

#: The continuations' learning rates as fractions of the base run's, tried in turn.
CONTINUE_LR_FACTORS = (1.0, 0.25, 0.0625)

#: The budget of the dial when ``forge.rivalry.dial`` turns it on without ``max_key_cost``.
DEFAULT_MAX_KEY_COST = 0.03

#: Resamples of the validation rows in :func:`paired_gain`, their seed, and the quantile of the
#: paired differences that must be above 0 (0.05: a one-sided 95% lower bound).
GAIN_RESAMPLES = 1000
GAIN_SEED = 20261201
GAIN_QUANTILE = 0.05


def best_ratio(y: np.ndarray, predictions: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """The best attacker's RMSE over the key's on each resample ``idx`` (B, n) of the rows of
    ``y``: ``min_a sqrt(mean e_a^2) / sqrt(mean e_key^2)`` per resample. ``predictions`` maps
    ``"key"`` and each attacker to predictions on those rows."""
    y = np.asarray(y, np.float64)
    err = {k: (np.asarray(v, np.float64) - y) ** 2 for k, v in predictions.items()}
    key = err.pop("key")[idx].mean(axis=1)
    if not err:
        raise ForgeError("best_ratio needs at least one attacker's predictions beside the key's")
    low = np.min([e[idx].mean(axis=1) for e in err.values()], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(low / key)


def paired_gain(y, base: dict[str, np.ndarray], candidate: dict[str, np.ndarray], *,
                resamples: int = GAIN_RESAMPLES, seed: int = GAIN_SEED,
                quantile: float = GAIN_QUANTILE) -> tuple[float, float]:
    """The candidate's best-attacker ratio minus the base's on the rows of ``y``, and the
    ``quantile`` of that difference over ``resamples`` paired bootstrap resamples (the same
    resampled rows score both candidates' key and attackers).

    Returns
    -------
    (gain, low)
    """
    n = len(np.asarray(y))
    idx = np.vstack([np.arange(n), np.random.default_rng(seed).integers(0, n, size=(int(resamples), n))])
    d = best_ratio(y, candidate, idx) - best_ratio(y, base, idx)
    return float(d[0]), float(np.nanquantile(d[1:], quantile))


def dial_applies(dial: str, settings, task: str, y, *, seconds: float) -> bool:
    """Whether ``forge.rivalry.dial`` runs the dial: ``"on"`` always (the contract's checks
    refuse what it cannot do), ``"off"`` and ``"auto"`` (its contract's ``max_key_cost`` unset)
    never, ``"small"`` on regression keys in mode rival with
    attackers (``seconds`` > 0) and the owner's rows in memory (``y`` not None) whose
    validation split is small (:meth:`ForgeSettings.small_table`: fewer than 250 rows), where
    the benchmark found its gains and its time stays a few attacker runs
    (``benchmarks/RESULTS.md``, "Rival dial, calibrated")."""
    if dial != "small":
        return dial == "on"  # "auto" without max_key_cost, and "off": the dial does not run
    if task != "regression" or settings.mode != "rival" or seconds <= 0 or y is None:
        return False
    return settings.small_table(settings.validation_rows(len(y)))


def choose(candidates: list[dict[str, Any]], max_key_cost: float) -> dict[str, Any]:
    """The dial's choice: ``candidates[0]`` is the base; of it and the others within the budget
    (``key_cost`` and ``settled_cost`` at most ``max_key_cost``) whose gain is confirmed
    (``gain_low > 0``), the one with the highest ``ratio``, the earliest on a tie. The base when
    it has no ratio (no attacker ran)."""
    base = candidates[0]
    if base.get("ratio") is None:
        return base
    ok = [base] + [c for c in candidates[1:]
                   if c.get("ratio") is not None and c.get("gain_low") is not None and c["gain_low"] > 0
                   and max(c["key_cost"], c["settled_cost"]) <= max_key_cost]
    return max(ok, key=lambda c: c["ratio"])


@dataclass
class DialRecord:
    """What :func:`calibrate` chose and measured (all on the validation split).

    Attributes
    ----------
    target, max_key_cost : float
        What was asked.
    kind : str
        The candidate kept: ``"base"`` (the forged rows unchanged), ``"rival"`` or ``"move"``.
    rival_weight : float
        Its rival term's weight (0 unless ``kind`` is ``"rival"``).
    move : float
        Its move along the least-visible direction, RMS in target standard deviations (0 unless
        ``kind`` is ``"move"``; before clipping into the target's box).
    key_move : float
        The RMS change of the key's predictions on the plan's owner rows over the base key's RMS
        error there.
    key_cost, settled_cost : float
        The key's validation RMSE on the kept rows over that on the base rows, minus 1, and the
        cost without luck (module docstring).
    ratio, base_ratio : float or None
        Best attacker's validation RMSE over the key's, on the kept rows and on the base rows
        (None when no attacker ran).
    gain_low : float or None
        The kept candidate's one-sided 95% paired lower bound on ``ratio - base_ratio`` (None
        for the base).
    best : str or None
        The best attacker on the kept rows.
    move_max : float
        The largest move along the least-visible direction within the budget (0: none).
    steps, lr : int, float
        The kept rival continuation's steps and learning rate (0 unless ``kind`` is ``"rival"``).
    candidates : list of dict
        Every candidate: kind, rival_weight, steps, lr, move, key_cost, settled_cost, key_move, best,
        ratio, gain, gain_low (None where not scored: over the budget, or the base).
    validation_rows : int
    clipped : bool
        Whether the target's box bounded the moved targets.
    stopped_at_target : bool
        The forged rows met the target on the validation split and ``stop_at_target`` kept them
        without trying a candidate.
    seconds : float
    """

    target: float
    max_key_cost: float
    kind: str
    rival_weight: float
    move: float
    key_move: float
    key_cost: float
    settled_cost: float
    ratio: float | None
    base_ratio: float | None
    gain_low: float | None
    best: str | None
    move_max: float
    steps: int
    lr: float
    validation_rows: int
    clipped: bool
    candidates: list[dict[str, Any]] = field(default_factory=list)
    stopped_at_target: bool = False
    seconds: float = 0.0

    @property
    def met(self) -> bool:
        return self.ratio is not None and self.ratio >= self.target

    def settings(self) -> dict[str, Any]:
        """The flat entries a bundle's settings record carries."""
        def opt(v):
            return None if v is None else float(v)

        return {
            "dial_target": float(self.target), "dial_max_key_cost": float(self.max_key_cost),
            "dial_kind": self.kind, "dial_rival_weight": float(self.rival_weight), "dial_steps": int(self.steps),
            "dial_lr": float(self.lr),
            "dial_move": float(self.move), "dial_key_move": float(self.key_move),
            "dial_key_cost": float(self.key_cost), "dial_settled_cost": float(self.settled_cost),
            "dial_val_ratio": opt(self.ratio), "dial_base_val_ratio": opt(self.base_ratio),
            "dial_gain_low": opt(self.gain_low),
            "dial_validation_rows": int(self.validation_rows), "dial_met": bool(self.met),
            "dial_stopped_at_target": bool(self.stopped_at_target),
        }

    def message(self) -> str:
        """One line: what the dial did, and plainly whether the target was met within the budget."""
        reached = "no attacker ran" if self.ratio is None else f"x{self.ratio:.3f} ({self.best})"
        if self.kind == "rival":
            kept = f"rows forged {self.steps} steps on with rival weight {self.rival_weight:g}"
        elif self.kind == "move":
            kept = f"targets moved {self.move:.3g} sd"
        elif self.stopped_at_target:
            kept = "rows unchanged: they meet the target, no candidate tried"
        elif any(c["ratio"] is not None for c in self.candidates[1:]):
            kept = "rows unchanged: no candidate within the budget was confirmed more rival"
        else:
            kept = "rows unchanged: every candidate costs more than the budget"
        where = (f"on the {self.validation_rows:,} validation rows at key cost {100 * self.key_cost:+.1f}% "
                 f"({kept}; budget {100 * self.max_key_cost:.1f}%)")
        if self.met:
            return f"rival dial: best attacker / key {reached} {where}, target x{self.target:g} met"
        return (f"rival dial: target x{self.target:g} NOT met within the key-cost budget "
                f"{100 * self.max_key_cost:.1f}%: reached {reached} {where}")

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["met"] = self.met
        out["message"] = self.message()
        return out


def _continue(result, X, y, weight: float, steps: int, lr: float, validation: float, seed: int):
    """``result``'s rows forged on for ``steps`` steps with the rival term at ``weight`` (warm
    start, learning rate ``lr``, the base run's batch size, the rows after the last step)."""
    from ..forge import forge

    s = result.settings
    return forge(X, y, result.spec, rows=len(result.data), mode="rival", rival_weight=float(weight),
                 steps=int(steps), eval_every=int(steps), selection="last", lr=float(lr),
                 batch_size=int(s["batch_size"]), validation=validation, seed=seed, init_rows=result.data)


class _Costs:
    """The key's predictions (standardized) on the plan's owner rows, per candidate rows."""

    def __init__(self, p, spec) -> None:
        self.p, self.spec, self.pre = p, spec, spec.preprocessing
        self.n_val = len(p.t_val)
        self.base = p.A_owner @ p.t  # the key on the base rows (A is exact: tested to 1e-8)

    def of(self, X_rows, y_rows) -> dict[str, float]:
        key, params, p = self.spec.key, self.spec.hyperparameters, self.p
        Zc, tc = self.pre.transform_X(np.asarray(X_rows, np.float64)), self.pre.transform_y(np.asarray(y_rows, np.float64))
        pred = np.asarray(key.predict(key.fit(Zc, tc, params), p.Z_owner, params), np.float64)
        d, r = pred - self.base, self.base - p.t_owner
        val = slice(len(d) - self.n_val, None)
        rv, cv = r[val], pred[val] - p.t_owner[val]
        return {"key_cost": float(np.sqrt(np.mean(cv * cv) / np.mean(rv * rv)) - 1.0),
                "settled_cost": float(np.sqrt(1.0 + (d @ d) / (r @ r)) - 1.0),
                "key_move": float(np.sqrt((d @ d) / (r @ r)))}


def _continue_within(result, X, y, weight: float, steps: int, costs: _Costs, max_key_cost: float,
                     validation: float, seed: int):
    """The first continuation within the budget, trying ``steps``, ``steps // 2``, ... (at least
    :data:`MIN_CONTINUE_STEPS`) at each learning rate of :data:`CONTINUE_LR_FACTORS` in turn, or
    the last one tried: ``(candidate, rows)``."""
    for factor in CONTINUE_LR_FACTORS:
        lr = float(result.settings["lr"]) * factor
        k = int(steps)
        while k >= MIN_CONTINUE_STEPS:
            rows = _continue(result, X, y, weight, k, lr, validation, seed)
            c = {"kind": "rival", "rival_weight": float(weight), "steps": k, "lr": lr, "move": 0.0,
                 **costs.of(rows.X, rows.y)}
            if max(c["key_cost"], c["settled_cost"]) <= max_key_cost:
                return c, rows
            k //= 2
    return c, rows


def calibrate(result, X, y, *, target: float, max_key_cost: float, validation: float, seed: int,
              seconds: float, attackers=None, weights=RIVAL_WEIGHTS, steps: int = CONTINUE_STEPS,
              move: bool = True, stop_at_target: bool = False):
    """Run the rival dial (module docstring) on ``result``'s rows; return the kept rows as a
    result and the :class:`DialRecord`.

    Parameters
    ----------
    result : ForgeResult
        Rows forged (regression key, linear in its targets) from ``X, y``.
    X, y : DataFrame/array-like
        The owner's training rows exactly as given to :func:`enfo_sdk.forge`; with ``validation``
        and ``seed`` (the forging run's) they give the same validation split forging used.
    target : float
        The best attacker / key ratio asked for (> 0).
    max_key_cost : float
        Largest rise of the key's validation RMSE allowed, as a fraction (> 0).
    seconds : float
        The attacker zoo's time budget per candidate (> 0).
    attackers : sequence of str, optional
        The zoo (default :data:`enfo_sdk.evaluate.rivalry.FAST_ZOO`).
    weights : sequence of float
        Rival weights to continue forging with (empty: no ``rival`` candidates).
    steps : int
        Most steps of each continuation (halved while over the budget, then at smaller rates).
    move : bool
        Whether to try the least-visible move.
    stop_at_target : bool
        Score the forged rows first and keep them, trying no candidate, when their validation
        ratio already meets ``target`` (``forge.rivalry.dial: small``).

    Returns
    -------
    (ForgeResult, DialRecord)
    """
    from ..evaluate.rivalry import FAST_ZOO, rivalry_check
    from .dial import plan

    t0 = time.perf_counter()
    if not (max_key_cost > 0 and target > 0 and seconds > 0 and steps >= MIN_CONTINUE_STEPS):
        raise ForgeError(f"the rival dial needs target > 0, max_key_cost > 0, seconds > 0 and steps >= "
                         f"{MIN_CONTINUE_STEPS}; got "
                         f"{target!r}, {max_key_cost!r}, {seconds!r}, {steps!r}")
    p, (Xval, yval) = plan(result, X, y, validation=validation, seed=seed)
    costs = _Costs(p, result.spec)
    names = FAST_ZOO if attackers is None else tuple(attackers)
    candidates: list[dict[str, Any]] = []
    rows: list[Any] = []
    preds: list[dict[str, np.ndarray] | None] = []

    def score(c: dict[str, Any], res) -> None:
        c = {**c, "best": None, "ratio": None, "gain": None, "gain_low": None}
        check = None
        if res is result or max(c["key_cost"], c["settled_cost"]) <= max_key_cost:  # within the budget
            check = rivalry_check(result.spec, res.X, res.y, Xval, yval, seconds=seconds, target=target,
                                  names=names, seed=seed)
            c["best"], c["ratio"] = check.best, None if check.ratio is None else check.ratio[0]
            if res is not result and c["ratio"] is not None and candidates[0]["ratio"] is not None:
                c["gain"], c["gain_low"] = paired_gain(yval, preds[0], check.predictions)
        candidates.append(c)
        rows.append(res)
        preds.append(None if check is None else check.predictions)

    score({"kind": "base", "rival_weight": 0.0, "steps": 0, "lr": 0.0, "move": 0.0,
           "key_cost": 0.0, "settled_cost": 0.0, "key_move": 0.0}, result)
    met = candidates[0]["ratio"] is not None and candidates[0]["ratio"] >= target
    move_max = p.move_max(max_key_cost) if move and not (stop_at_target and met) else 0.0
    if not (stop_at_target and met):
        for w in weights:
            score(*_continue_within(result, X, y, w, steps, costs, max_key_cost, validation, seed))
        if move_max > 0:
            moved = p.moved(result, move_max)
            score({"kind": "move", "rival_weight": 0.0, "steps": 0, "lr": 0.0, "move": move_max,
                   **costs.of(moved.X, moved.y)}, moved)
    chosen = choose(candidates, max_key_cost)
    kept = rows[candidates.index(chosen)]
    base = candidates[0]
    record = DialRecord(
        target=float(target), max_key_cost=float(max_key_cost), kind=chosen["kind"],
        rival_weight=chosen["rival_weight"], move=chosen["move"], key_move=chosen["key_move"],
        key_cost=chosen["key_cost"], settled_cost=chosen["settled_cost"], ratio=chosen["ratio"],
        base_ratio=base["ratio"], gain_low=chosen["gain_low"], best=chosen["best"], move_max=move_max,
        steps=chosen["steps"], lr=chosen["lr"], validation_rows=len(yval), clipped=p.box is not None,
        candidates=candidates, stopped_at_target=bool(stop_at_target and met), seconds=time.perf_counter() - t0,
    )
    settings = {**result.settings, **record.settings()}
    out = dataclasses.replace(result, data=kept.data) if kept is not result else result
    return dataclasses.replace(out, settings=settings), record
