"""Using a bundle with the partner's own labelled rows: ``augment`` and ``check``.

``augment`` asks whether the bundle improves the key trained on the partner's rows (pooled
K-fold CV, with and without the bundle); ``check`` re-runs the owner's rivalry measurement (the
attacker zoo tuned on the bundle, scored on the partner's rows, docs/metrics.md "One protocol")
beside the owner's signed record. Classification bundles go to :mod:`enfo_sdk.partner.classify`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._validation import check_X
from ..bundle.verify import VerifiedBundle
from ..errors import DataError
from .model import train

__all__ = ["AugmentReport", "CheckReport", "augment", "check"]


def _own_rows(verified: VerifiedBundle, own: pd.DataFrame, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The partner's rows as (X, y) in the manifest's feature order; names what is missing."""
    if not isinstance(own, pd.DataFrame):
        raise DataError(f"{what}: the partner's own rows must be a DataFrame, got {type(own).__name__}")
    m = verified.manifest
    if m.key.columns is not None:  # a raw table, encoded as the owner's was
        X = m.key.columns.encode(own, where=what)
        y = m.key.columns.target_values(own.rename(columns=str), where=what)
    else:
        features = list(m.task.features)
        cols = [str(c) for c in own.columns]
        missing = [c for c in features + [m.task.target] if c not in cols]
        if missing:
            raise DataError(
                f"{what}: missing column(s) {', '.join(map(repr, missing))} that the bundle's task needs "
                f"(features {features}, target {m.task.target!r}); the table has: {', '.join(cols)}"
            )
        frame = own.rename(columns=str)
        X = check_X(frame[features], what=what)
        y = check_X(frame[[m.task.target]], what=what)[:, 0]
    if len(y) < 10:
        raise DataError(f"{what}: need at least 10 labelled rows, got {len(y)}")
    return X, y


@dataclass
class AugmentReport:
    """Cross-validated test RMSE of the key on the partner's own rows, with and without the bundle."""

    own_rmse: float
    augmented_rmse: float
    bundle_only_rmse: float
    folds: int
    own_rows: int
    bundle_rows: int

    @property
    def gain(self) -> float:
        """Relative RMSE change from adding the bundle (negative: the bundle helped)."""
        return self.augmented_rmse / self.own_rmse - 1.0

    @property
    def helped(self) -> bool:
        return self.augmented_rmse < self.own_rmse

    def to_json(self) -> dict:
        """The figures, JSON-ready (what ``enfo-partner augment --json`` prints, with the mode)."""
        return {"own_rmse": self.own_rmse, "augmented_rmse": self.augmented_rmse,
                "bundle_only_rmse": self.bundle_only_rmse, "gain": self.gain, "helped": self.helped,
                "folds": self.folds, "own_rows": self.own_rows, "bundle_rows": self.bundle_rows}

    def _repr_html_(self) -> str:
        """A table for notebooks: the three cross-validated RMSEs and the gain."""
        from .._html import key_value_table

        return key_value_table(
            f"Key RMSE on your rows ({self.folds}-fold CV, {self.own_rows} rows; bundle {self.bundle_rows} rows)", [
                ("your rows alone", self.own_rmse), ("your rows + bundle", self.augmented_rmse),
                ("bundle alone", self.bundle_only_rmse), ("gain", f"{self.gain:+.1%}"),
                ("the bundle helped", "yes" if self.helped else "no"),
            ])


@dataclass
class CheckReport:
    """How other model families trained on the bundle fare on the partner's rows, beside the key.

    Measured as the owner's signed rivalry record was (docs/metrics.md, "One protocol"): the
    partner's rows are split like the owner's held-out rows into outside rows and test rows.

    Attributes
    ----------
    key_rmse : float
        Test RMSE on the partner's test rows of the key trained on the bundle.
    models : dict of str to dict
        Per family: ``rmse`` on the partner's test rows, ``ratio`` to the key's, and the
        ``params`` CV chose on the bundle.
    best : str
        The family with the lowest RMSE.
    best_rmse : float
    rivalry : dict or None
        The whole measurement (:meth:`enfo_sdk.evaluate.rivalry.RivalryCheck.to_json`): the best
        ratio's bootstrap interval, the outside-rows test, row counts.
    record : dict or None
        The owner's signed record (``manifest.rivalry``), None for a bundle without one.
    """

    key_rmse: float
    models: dict
    best: str
    best_rmse: float
    rivalry: dict | None = None
    record: dict | None = None

    @property
    def best_ratio(self) -> float:
        """The best family's RMSE over the key's (above 1: every other family does worse)."""
        return self.best_rmse / self.key_rmse

    def to_json(self) -> dict:
        return {"models": self.models, "best": self.best, "best_rmse": self.best_rmse,
                "key_rmse": self.key_rmse, "best_ratio": self.best_ratio, "rivalry": self.rivalry,
                "record": self.record}

    def __getitem__(self, name: str):  # the dict of earlier versions: res["best_ratio"]
        return self.to_json()[name]

    def lines(self, algorithm: str) -> list[str]:
        """The text ``enfo-partner check`` prints: your figures, then the owner's beside them."""
        from ..report_rivalry import format_comparison

        r = self.rivalry or {}
        out = [f"test RMSE on {r.get('test_rows', '?')} of your rows ({r.get('outside_rows', 0)} more are the "
               f"outside rows), each model trained on the bundle alone",
               f"  {'key (' + algorithm + ')':<22}{self.key_rmse:>12.6g}"]
        for name, m in sorted(self.models.items(), key=lambda kv: kv[1]["rmse"]):
            out.append(f"  {name:<22}{m['rmse']:>12.6g}  ({m['rmse'] / self.key_rmse - 1:+.1%} vs key)")
        out.append(f"best other family: {self.best} at {self.best_ratio:.3f} x the key's RMSE")
        return out + [""] + format_comparison(self.to_json(), self.record)

    def _repr_html_(self) -> str:
        """A table for notebooks: the key's RMSE and each family's, with the best ratio."""
        from .._html import key_value_table

        rows = [("key (trained on the bundle)", self.key_rmse)]
        rows += [(name, m["rmse"]) for name, m in sorted(self.models.items(), key=lambda kv: kv[1]["rmse"])]
        rows.append(("best other family / key", f"{self.best} at {self.best_ratio:.3f}x"))
        return key_value_table("RMSE on your rows of models tuned by CV on the bundle alone", rows)


def augment(verified: VerifiedBundle, own: pd.DataFrame, *, cv: int = 5, seed: int = 0,
            what: str = "own rows") -> AugmentReport:
    """Does the bundle improve the key trained on the partner's own rows?

    K-fold cross-validation on the partner's own labelled rows (seeded permutation): in each
    fold the manifest's key is trained on (a) the fold's training rows alone, (b) those rows
    plus the bundle, (c) the bundle alone, and scored on the fold's held-out rows. The RMSE is
    pooled over all held-out rows. A bundle forged in mode ``augment`` is meant to make (b)
    beat (a); a ``rival`` bundle is not.

    Parameters
    ----------
    verified : VerifiedBundle
    own : DataFrame
        The partner's rows with the manifest's feature columns and target (other columns are
        ignored).
    cv : int
        Folds (>= 2).
    """
    spec = verified.require_key()
    X, y = _own_rows(verified, own, what)
    if cv < 2:
        raise DataError(f"cv must be >= 2, got {cv}")
    if spec.task == "classification":  # accuracy and log-loss (partner/classify.py)
        from .classify import augment_classification

        return augment_classification(spec, X, y, verified.X, verified.y, cv=cv, seed=seed)
    Xb, yb = verified.X, verified.y
    perm = np.random.default_rng(seed).permutation(len(y))
    sse = np.zeros(3)
    for val in np.array_split(perm, cv):
        tr = np.setdiff1d(perm, val)
        fits = (
            spec.build().fit(X[tr], y[tr]),
            spec.build().fit(np.vstack([X[tr], Xb]), np.concatenate([y[tr], yb])),
            spec.build().fit(Xb, yb),
        )
        for i, est in enumerate(fits):
            r = est.predict(X[val]) - y[val]
            sse[i] += float(r @ r)
    own_rmse, aug_rmse, bundle_rmse = np.sqrt(sse / len(y))
    return AugmentReport(float(own_rmse), float(aug_rmse), float(bundle_rmse), cv, len(y), len(yb))


def check(verified: VerifiedBundle, own: pd.DataFrame, *, cv: int = 5, seed: int | None = None,
          families=None, progress=None, what: str = "own rows", outside_rows: int | None = None) -> CheckReport:
    """The owner's rivalry measurement, re-run on the partner's own labelled rows.

    As the owner's forge measured the signed record (docs/metrics.md, "One protocol"): the
    partner's rows are split (seeded, :func:`enfo_sdk.evaluate.split_holdout`) into outside rows
    (``outside_rows``, default 1,000, at most half) and test rows; every family of the attacker
    zoo (:mod:`enfo_sdk.evaluate.attackers`) is tuned by ``cv``-fold CV on the bundle alone and
    scored on the test rows beside the key trained on the bundle, with 95% paired bootstrap
    intervals; and the key on the bundle plus the outside rows is scored against the bundle
    alone (:func:`enfo_sdk.evaluate.rivalry.rivalry_check`, without a time limit). Returns a
    :class:`CheckReport` (``best_ratio`` above 1 means every other family does worse than the
    key) holding the owner's signed record beside, when the bundle has one.

    Parameters
    ----------
    seed : int, optional
        Seeds the split and the attackers; default the record's attacker seed (else 0).
    families : sequence of str, optional
        Limits the zoo to some of its names (default: all).
    outside_rows : int, optional
        0 scores on all the partner's rows and skips the outside-rows test.
    """
    from ..evaluate.attackers import ZOO
    from ..evaluate.core import OUTSIDE_ROWS, split_holdout
    from ..evaluate.rivalry import RIVALRY_TARGET, rivalry_check

    record = verified.manifest.rivalry
    if seed is None:
        seed = record.protocol.attackers.seed if record is not None and record.protocol.attackers else 0
    if verified.require_key().task == "classification":  # the classifier zoo (partner/classify.py)
        from .classify import check_classification

        X, y = _own_rows(verified, own, what)
        res = check_classification(train(verified), X, y, verified.X, verified.y, families=families, cv=cv,
                                   seed=seed)
        res.record = None if record is None else record.model_dump(mode="json")
        return res
    names = tuple(families) if families is not None else ZOO
    unknown = [f for f in names if f not in ZOO]
    if unknown or not names:
        raise DataError(f"unknown model famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; choose from {list(ZOO)}"
                        if unknown else f"no model family to check; choose from {list(ZOO)}")
    if outside_rows is not None and outside_rows < 0:
        raise DataError(f"outside_rows must be >= 0, got {outside_rows}")

    X, y = _own_rows(verified, own, what)
    k = OUTSIDE_ROWS if outside_rows is None else outside_rows
    outside, test = split_holdout(len(y), k, seed) if k > 0 else (np.arange(0), np.arange(len(y)))
    res = rivalry_check(
        verified.require_key(), verified.X, verified.y, X[test], y[test],
        X_outside=X[outside] if len(outside) else None, y_outside=y[outside] if len(outside) else None,
        seconds=float("inf"), target=record.target if record is not None and record.target else RIVALRY_TARGET,
        names=names, seed=seed, cv=cv, progress=progress,
    )
    models = {name: {"rmse": a["rmse"], "ratio": a["ratio"], "params": a["params"]} for name, a in res.attackers.items()}
    best = res.best
    return CheckReport(key_rmse=res.key_rmse, models=models, best=best, best_rmse=models[best]["rmse"],
                       rivalry=res.to_json(), record=None if record is None else record.model_dump(mode="json"))
