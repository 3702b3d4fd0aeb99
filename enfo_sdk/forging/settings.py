"""One validated description of a forging run: :class:`ForgeSettings`.

Every forging default lives here once, and so do the rules that used to be repeated
wherever forging was prepared:

* the **rows rule** -- the forged rows must be fewer than the owner rows forging learns from
  (the training rows less the validation split), :meth:`ForgeSettings.check_rows`;
* the **learning-rate rule** -- 0.01 times the key's length scale, a quarter of that for an
  update from earlier rows and on a small table, :meth:`ForgeSettings.learning_rate`;
* the **small-table rule** -- on an in-memory validation split of fewer than
  :data:`SMALL_VALIDATION_ROWS` rows the kept rows are chosen by the one-standard-error rule and
  the default learning rate is a quarter, :meth:`ForgeSettings.small_table`; a fresh regression
  run there also starts from the key's own predictions as targets and forges its rows again on
  every owner row for the chosen number of steps, :meth:`ForgeSettings.start_targets_for` and
  :meth:`ForgeSettings.refit_for`;
* the **thread rule** -- one torch thread for small bundles, :meth:`ForgeSettings.torch_threads`.

The contract's ``forge`` section builds one (:meth:`enfo_sdk.contract.ForgeSection.settings`);
the Python API takes one or keyword overrides (:func:`enfo_sdk.forge`). The object is frozen:
``settings.replace(rows=50)`` makes a changed copy, validated again.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import EnfoError, ForgeError, unknown_names

Mode = Literal["rival", "augment", "adaptable"]
ClassLoss = Literal["squared", "cross_entropy"]
Init = Literal["kmeans", "sample", "noise"]
Selection = Literal["auto", "validation", "one_se", "pooled", "last"]
StartTargets = Literal["auto", "own", "predicted"]

MODES = ("rival", "augment", "adaptable")
INITS = ("kmeans", "sample", "noise")
SELECTIONS = ("auto", "validation", "one_se", "pooled", "last")
START_TARGETS = ("auto", "own", "predicted")

#: ``selection="auto"`` (the default) keeps the rows by the one-standard-error rule (``one_se``)
#: when the validation split of in-memory rows is smaller than this, and by the lowest validation
#: error (``validation``) otherwise. 250 validation rows are 1,250 training rows at the default
#: ``validation`` 0.2: every table of the small-table measurements (``benchmarks/RESULTS.md``,
#: issue 15) is below it, the quick start (1,000 validation rows) above it.
SMALL_VALIDATION_ROWS = 250

#: ``one_se``: the rows kept are those of the earliest evaluation whose validation objective is
#: within this many standard errors of the lowest one (the standard error of the mean of the
#: per-row paired differences on the validation split).
ONE_SE = 1.0

#: Default learning rate of an update (``init_rows``, ``forge --from``) as a fraction of
#: :func:`default_lr`. Rows that were already forged for this key sit near an optimum, and a
#: fresh run's step size throws them off it. Measured with ``python benchmarks/scale.py
#: --skip-stream`` (Friedman #3, old and new data two 5,000-row draws, 100 rows, bandwidth 2):
#: at the fresh rate 0.02 an update first reached the restart's best validation RMSE at step
#: 750, against the restart's 460; at 0.005 (this factor) at steps 40, 10 and 10 on three data
#: pairs, against the restart's 460, 740 and 1040, and it ended lower on all three.
UPDATE_LR_FACTOR = 0.25

#: Default learning rate of a fresh run on a *small table* (an in-memory validation split of
#: fewer than :data:`SMALL_VALIDATION_ROWS` rows) as a fraction of :func:`default_lr`. There
#: forging over-fits the training rows within tens of steps, and a quarter of the step size
#: traces that path finely enough for the selection rule to stop near its best point. Measured
#: (``python benchmarks/small_tables.py``, eight tables of 142-437 training rows, 3 seeds; with
#: ``one_se`` selection): forged/full median 1.036 -> 1.028, worst 1.103 -> 1.079; Housing
#: 1.050 -> 1.022, CPS1985 1.087 -> 1.050.
SMALL_TABLE_LR_FACTOR = 0.25

#: Why the two further small-table rules (``start_targets`` ``predicted`` and ``refit``), measured with
#: ``python benchmarks/small_tables.py`` on its eight tables at seeds 0-8 (mean forged/full per
#: table; ``benchmarks/RESULTS.md``, "Forging that holds on small tables"): the one_se rule alone
#: left the rows near their start (kept steps 0-175 on most tables), so the start and the rows it
#: is forged from decide. k-means centroids average the targets of their cluster; the key's own
#: predictions there (the key fitted on the rows forging learns from) are the function the forged
#: rows are to teach. And a validation split of a fifth of a few hundred rows is a fifth of the
#: data left out of the rows that are kept. Forged/full median (seeds 0-8) 1.034 -> 1.004, worst
#: 1.225 -> 1.074, CPS1985 1.079 -> 0.995; key targets alone median 1.010, refit alone 1.017.

#: Bundles up to this many rows forge on one torch thread (see :meth:`ForgeSettings.torch_threads`).
SMALL_BUNDLE_ROWS = 300


def default_lr(spec) -> float:
    """0.01 x the key's length scale (``bandwidth``, or 1 for keys without one)."""
    return 0.01 * float(spec.hyperparameters.get("bandwidth", 1.0))


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


@dataclass(frozen=True)
class ForgeSettings:
    """Every setting of a forging run, with its default, checked when made.

    Attributes
    ----------
    rows : int
        Synthetic rows m; must be smaller than the training rows left after validation.
    mode : {"rival", "augment", "adaptable"}
        Which objective terms forging adds to the base term (:mod:`enfo_sdk.forging.terms`).
    steps : int
        Maximum Adam steps.
    batch_size : int
        Owner rows per step (the global batch under ``distributed``).
    lr : float, optional
        Adam learning rate (standardized units). Default: :meth:`learning_rate`'s rule -- rows
        must move on the scale on which the key's kernel varies (a quarter of it on a small
        table, :data:`SMALL_TABLE_LR_FACTOR`). Measured on CDNOW (bandwidth
        32): a fixed 0.02 left forged rows 18% above the full-data RMSE, 0.32 within 1%; on
        Friedman #3 (bandwidth 2) the rule gives the 0.02 that works there.
    init : {"kmeans", "sample", "noise"}
        Starting rows: k-means centroids of the owner's rows, a random sample of them, or noise.
    validation : float in (0, 1)
        Fraction of the owner's rows held out for early stopping (in-memory data).
    seed : int
    eval_every, patience : int
        Evaluation period in steps and early-stopping patience in evaluations. Patience 40
        (was 20): rows kept inside their columns' ranges (typed columns) improve more slowly,
        and 20 evaluations without a new best stopped them early. Measured on the quick start
        (Friedman #3, key bandwidth 2, T 1999, 100 rows; ``python benchmarks/bounded_rows.py``):
        bounded rows +6.6% over the full data at patience 20 (kept step 875), +3.6% at
        40; unbounded rows +4.2% at both (they ran all 2000 steps either way).
    selection : {"auto", "validation", "one_se", "pooled", "last"}
        Which evaluation's rows are kept. ``validation``: those with the lowest validation
        objective (the key's error on the held-out validation split; the paper's early stopping).
        ``one_se``: those of the *earliest* evaluation whose validation objective is within one
        standard error (:data:`ONE_SE`) of the lowest -- the one-standard-error rule of
        Breiman et al. (1984) and Hastie, Tibshirani and Friedman (ESL, 7.10), with the standard
        error of the mean per-row difference to the lowest evaluation on the same validation
        rows (paired). A later evaluation must beat an earlier one by more than noise to be kept;
        the starting rows (step 0) only when they are the lowest.
        ``auto`` (default): ``one_se`` when the validation split of in-memory rows has fewer than
        :data:`SMALL_VALIDATION_ROWS` rows, else ``validation`` (a split that large has a standard
        error too small to matter, and the run is the one it always was). ``pooled``: the key's
        error on *all* the owner's rows (in memory only), lowest kept. ``last`` (Python API, not
        a contract setting): the rows of the last evaluation, whatever their validation error --
        the rival dial's continuations (:mod:`enfo_sdk.forging.calibration`) take a fixed number of
        steps and measure the key's cost themselves.

        Why, measured (``benchmarks/RESULTS.md``, "Forging that holds on small tables"): on small
        tables forging over-fits the training rows within tens of steps (Housing, seed 1: the
        training rows' RMSE falls from 13,400 to 12,400 over 1,000 steps while the test RMSE
        rises from 1.03x to 1.34x the full data's), the validation curve is flat within its
        noise, and its lowest point lands on a noise dip anywhere along the path. Longer patience
        or no early stopping at all kept the same rows; smaller batches, full batches, a 4x
        smaller learning rate, an EMA-smoothed criterion and cross-fitted stopping (5 folds)
        did not beat the lowest-validation rule's median; ``one_se`` did. Pooled selection
        over-fits the training rows' noise where m x (d + 1) free values exceed the training
        rows (star98: 1.18 -> 1.4). The reported validation RMSE is the split's either way.
    start_targets : {"auto", "own", "predicted"}
        The starting rows' targets. ``own``: the start's own (the k-means centroid's mean
        target, or the sampled row's). ``predicted``: the key's predictions at the starting rows'
        features, the key fitted on the owner rows forging learns from (not the validation
        split) -- the function the forged rows are to teach, without the noise a centroid's mean
        target keeps. ``auto`` (default): ``predicted`` for a fresh regression run on a small table
        (:meth:`small_table`), else ``own`` (:meth:`start_targets_for`).
    refit : bool, optional
        Forge the rows once more, on *every* owner row (the validation split given back), from
        the same kind of start and for the number of steps selection chose on the split; those
        rows are kept (no validation error can be measured for them: the metrics'
        ``best_val_rmse`` is the selection run's). The held-out fifth of a small table is too
        much data to leave out of the rows kept. Default (None): on for a fresh regression run on
        a small table, off otherwise (:meth:`refit_for`); the contract workflow turns it off
        wherever the rival dial may run (``forge.rivalry.max_key_cost``, ``dial: on`` or
        ``small``), as the dial scores on the validation split and needs it unseen.
    polish : bool, optional
        Solve the kept rows' targets exactly for their features (:mod:`enfo_sdk.forging.polish`):
        without a refit, a ridge least-squares on the owner's training rows' labels, its weight
        and whether to keep the result chosen on the validation split (recorded ``polish:
        labels``); after a refit, toward the key's own fit on every owner row, the weight (or no
        change) chosen by 5-fold cross-validation over those rows (``polish: key_fit``). Default
        (None): on wherever it applies (:meth:`polish_for`): a regression key, the base
        ``rival`` objective alone (no rival weight, no caller's penalty), a selection other than
        ``last``, and with a refit at most :data:`~enfo_sdk.forging.polish.DISTILL_MAX_ROWS`
        owner rows. On a streamed source (one process or torch.distributed ranks) the labels
        are the source's seeded sample and the validation split is the source's, summed over
        the ranks. ``True`` where it does not apply raises.
    alignment_weight, adaptability_weight : float
        Weights of the ``augment`` / ``adaptable`` terms.
    rival_weight : float
        Mode ``rival`` only (default 0, the paper's base objective): weight of the term that
        *raises* the error of a surrogate attacker trained on the rows (docs/keys.md, "Rival
        strength").
    blur : float
        Sinkhorn blur (standardized units) for ``augment``.
    device : str, optional
        torch device; default "cuda" when available, else "cpu".
    threads : int, optional
        CPU threads for torch while forging; default :meth:`torch_threads`'s rule.
    checkpoint : str or Path, optional
        Checkpoint file (:mod:`enfo_sdk.checkpoint`), written every ``checkpoint_every`` steps
        and when forging ends (rank 0 only).
    checkpoint_every : int
    resume : bool
        Continue from ``checkpoint`` when it exists (a fresh start otherwise).
    class_loss : {"squared", "cross_entropy"}
        Classification keys only: the base term on the owner's minibatch
        (:mod:`enfo_sdk.forging.labels`).
    min_per_class : int
        Classification keys only: every class starts with at least this many forged rows
        (at least one always) and, when > 0, the labels stay fixed so it keeps them.
    """

    rows: int = 100
    mode: Mode = "rival"
    steps: int = 2000
    batch_size: int = 256
    lr: float | None = None
    init: Init = "kmeans"
    validation: float = 0.2
    seed: int = 0
    eval_every: int = 25
    patience: int = 40
    selection: Selection = "auto"
    start_targets: StartTargets = "auto"
    refit: bool | None = None
    polish: bool | None = None
    alignment_weight: float = 1.0
    adaptability_weight: float = 1.0
    rival_weight: float = 0.0
    blur: float = 0.05
    device: str | None = None
    threads: int | None = None
    checkpoint: str | Path | None = None
    checkpoint_every: int = 100
    resume: bool = False
    class_loss: ClassLoss = "squared"
    min_per_class: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.rows) or self.rows < 1:
            raise ForgeError(f"rows must be a positive whole number, got {self.rows!r}")
        if self.mode not in MODES:
            raise ForgeError(f"unknown mode {self.mode!r}; choose rival, augment or adaptable")
        if self.selection not in SELECTIONS:
            raise ForgeError(f"unknown selection {self.selection!r}; choose auto, validation, one_se, pooled or last")
        if self.start_targets not in START_TARGETS:
            raise ForgeError(f"unknown start_targets {self.start_targets!r}; choose auto, own or predicted")
        if self.refit is not None and not isinstance(self.refit, bool):
            raise ForgeError(f"refit must be true, false or left out (automatic), got {self.refit!r}")
        if self.polish is not None and not isinstance(self.polish, bool):
            raise ForgeError(f"polish must be true, false or left out (automatic), got {self.polish!r}")
        if self.init not in INITS:
            raise ForgeError(f"unknown init {self.init!r}; choose kmeans, sample or noise")
        rw = self.rival_weight
        if not (isinstance(rw, numbers.Real) and not isinstance(rw, bool) and math.isfinite(rw) and rw >= 0):
            raise ForgeError(f"rival_weight must be a finite number >= 0, got {rw!r}")
        if rw > 0 and self.mode != "rival":
            raise ForgeError(f"rival_weight applies to mode 'rival' only (mode is {self.mode!r}); leave it at 0")
        lr_ok = self.lr is None or (isinstance(self.lr, numbers.Real) and self.lr > 0)
        if int(self.steps) < 1 or int(self.batch_size) < 1 or not lr_ok or int(self.eval_every) < 1:
            raise ForgeError("steps, batch_size and eval_every must be >= 1 and lr > 0")
        if int(self.checkpoint_every) < 1:
            raise ForgeError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.resume and self.checkpoint is None:
            raise ForgeError("resume=True needs checkpoint=PATH")
        if not 0.0 < self.validation < 1.0:
            raise ForgeError(f"validation must be a fraction in (0, 1), got {self.validation}")
        if self.class_loss not in ("squared", "cross_entropy"):
            raise ForgeError(f"unknown class_loss {self.class_loss!r}; choose squared or cross_entropy")
        if not _is_int(self.min_per_class) or self.min_per_class < 0:
            raise ForgeError(f"min_per_class must be a whole number >= 0, got {self.min_per_class!r}")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def build(cls, settings: ForgeSettings | None = None, **overrides: Any) -> ForgeSettings:
        """``settings`` (default: all defaults) with ``overrides`` applied; unknown names raise."""
        known = cls.names()
        unknown = [k for k in overrides if k not in known]
        if unknown:
            raise ForgeError(f"unknown forging setting {unknown_names(unknown, known)}; known: {', '.join(known)}")
        base = settings if settings is not None else cls()
        if not isinstance(base, cls):
            raise ForgeError(f"settings must be a ForgeSettings, got {type(base).__name__}")
        return dataclasses.replace(base, **overrides) if overrides else base

    def replace(self, **changes: Any) -> ForgeSettings:
        """A copy with ``changes`` (validated again)."""
        return ForgeSettings.build(self, **changes)

    # -- the rules ---------------------------------------------------------------------------
    def validation_rows(self, n: int) -> int:
        """Owner rows held out for early stopping from ``n`` in-memory training rows."""
        return max(1, int(round(self.validation * n)))

    def usable_rows(self, n: int) -> int:
        """Owner rows forging learns from when ``n`` in-memory training rows are given."""
        return n - self.validation_rows(n)

    def check_rows(self, usable: int, *, total: int | None = None, where: str = "",
                   why: str | None = None, error: type[EnfoError] = ForgeError) -> None:
        """Raise ``error`` unless :attr:`rows` is smaller than the ``usable`` owner rows.

        ``total`` (the rows before the validation split) or ``why`` (where ``usable`` comes
        from), and ``where`` (e.g. a contract's file and key) only make the message clearer.
        """
        if self.rows < usable:
            return
        if why is None:
            of = f" of {total}" if total is not None else ""
            why = f"the training rows left after the validation split{of}"
        prefix = f"{where}: " if where else ""
        raise error(f"{prefix}rows ({self.rows}) must be smaller than the {usable} owner rows "
                    f"forging learns from ({why})")

    def selection_for(self, n_validation: int, *, in_memory: bool = True) -> str:
        """The resolved :attr:`selection` for a validation split of ``n_validation`` rows:
        ``"validation"``, ``"one_se"`` or ``"pooled"`` (``auto`` never resolves to pooled)."""
        if self.selection in ("pooled", "one_se") and not in_memory:
            raise ForgeError(f"selection {self.selection!r} needs the owner's rows in memory, not a streamed source")
        if self.selection != "auto":
            return self.selection
        return "one_se" if self.small_table(n_validation, in_memory=in_memory) else "validation"

    @staticmethod
    def small_table(n_validation: int, *, in_memory: bool = True) -> bool:
        """True for in-memory owner rows whose validation split has fewer than
        :data:`SMALL_VALIDATION_ROWS` rows: there ``selection="auto"`` resolves to ``one_se``
        and the default learning rate is :data:`SMALL_TABLE_LR_FACTOR` x :func:`default_lr`."""
        return bool(in_memory) and n_validation < SMALL_VALIDATION_ROWS

    def _fresh_small_regression(self, n_validation: int, in_memory: bool, regression: bool, update: bool) -> bool:
        """Where ``start_targets`` and ``refit`` turn on by default: a fresh run (not an update
        from earlier rows) of a regression key on a small table (:meth:`small_table`)."""
        return self.small_table(n_validation, in_memory=in_memory) and regression and not update

    def start_targets_for(self, n_validation: int, *, in_memory: bool = True, regression: bool = True,
                          update: bool = False) -> str:
        """The resolved :attr:`start_targets`: ``"own"`` or ``"predicted"`` (``auto``:
        ``predicted`` for a fresh run -- not an update from earlier rows -- of a regression key
        on a small table).
        ``predicted`` needs the owner's rows in memory and a regression key."""
        if self.start_targets == "auto":
            return "predicted" if self._fresh_small_regression(n_validation, in_memory, regression, update) else "own"
        if self.start_targets == "predicted" and not (in_memory and regression):
            raise ForgeError("start_targets 'predicted' needs a regression key and the owner's rows in memory")
        if self.start_targets == "predicted" and update:
            raise ForgeError("start_targets 'predicted' applies to a fresh start, not to given starting rows (init_rows)")
        return self.start_targets

    def refit_for(self, n_validation: int, *, in_memory: bool = True, regression: bool = True,
                  update: bool = False) -> bool:
        """The resolved :attr:`refit` (None: on for a fresh regression run on a small table, as
        :meth:`start_targets_for`, unless ``selection`` is ``pooled``, whose rows are already
        chosen on every owner row). Refitting needs the owner's rows in memory and a regression
        key."""
        if self.refit is None:
            return self._fresh_small_regression(n_validation, in_memory, regression, update) \
                and self.selection != "pooled"
        if self.refit and not (in_memory and regression):
            raise ForgeError("refit needs a regression key and the owner's rows in memory")
        return self.refit

    def polish_for(self, *, regression: bool, refit: bool, owner_rows: int, selection: str,
                   penalty: bool) -> bool:
        """The resolved :attr:`polish` (None: on wherever it applies, see the attribute). Why it
        does not apply is named when ``polish`` is True there."""
        from .polish import DISTILL_MAX_ROWS

        why = [w for w, bad in (
            ("a regression key", not regression),
            ("mode 'rival' without rival_weight", self.mode != "rival" or self.rival_weight > 0),
            ("no caller's penalty", penalty),
            (f"at most {DISTILL_MAX_ROWS:,} owner rows with refit", refit and owner_rows > DISTILL_MAX_ROWS),
            ("selection other than 'last'", selection == "last"),
        ) if bad]
        if self.polish is None:
            return not why
        if self.polish and why:
            raise ForgeError(f"polish needs {', '.join(why)}")
        return self.polish

    def learning_rate(self, spec, *, update: bool = False, small: bool = False) -> float:
        """:attr:`lr`, or the default rule: :func:`default_lr`, times :data:`UPDATE_LR_FACTOR`
        for an update from earlier rows, else times :data:`SMALL_TABLE_LR_FACTOR` on a small
        table (``small``, :meth:`small_table`)."""
        if self.lr is not None:
            return float(self.lr)
        factor = UPDATE_LR_FACTOR if update else (SMALL_TABLE_LR_FACTOR if small else 1.0)
        return default_lr(spec) * factor

    def torch_threads(self) -> int | None:
        """:attr:`threads`, or 1 for up to :data:`SMALL_BUNDLE_ROWS` rows (a step is then a
        chain of small products that extra threads only slow down: measured 3.7 ms per step on
        one thread, 580 ms on two when the machine is busy) and torch's own setting above."""
        if self.threads is not None:
            return self.threads
        return 1 if self.rows <= SMALL_BUNDLE_ROWS else None

    def record(self, *, lr: float) -> dict[str, Any]:
        """The settings as a bundle's provenance records them (weights of other modes are 0)."""
        mode = self.mode
        return dict(
            rows=int(self.rows), mode=mode, steps=int(self.steps), batch_size=int(self.batch_size),
            lr=float(lr), init=self.init, validation=float(self.validation), seed=int(self.seed),
            eval_every=int(self.eval_every), patience=int(self.patience),
            alignment_weight=float(self.alignment_weight) if mode == "augment" else 0.0,
            adaptability_weight=float(self.adaptability_weight) if mode == "adaptable" else 0.0,
            rival_weight=float(self.rival_weight) if mode == "rival" else 0.0, blur=float(self.blur),
        )
