"""The partner's ``augment`` and ``check`` for a classification bundle (format 3).

Where a regression bundle reports RMSE, these report the classification metrics of
:mod:`enfo_sdk.evaluate.classification` (accuracy, balanced accuracy, log-loss, Brier, ROC
AUC) on the partner's own labelled rows:

* :func:`augment_classification` -- K-fold CV on the partner's rows (seeded permutation): the
  key trained on a fold's training rows alone, on them plus the bundle (the partner's labels
  one-hot, the bundle's label distributions as they are), and on the bundle alone; the
  held-out probabilities are pooled over the folds and scored once;
* :func:`check_classification` -- the classifier attacker zoo tuned by CV on the bundle alone,
  scored on the partner's rows beside the key trained on the bundle.

:func:`enfo_sdk.partner.augment` and :func:`enfo_sdk.partner.check` hand classification
bundles here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..evaluate.classification import CLASS_ZOO, attacker_zoo_classify, classification_metrics

__all__ = ["ClassAugmentReport", "ClassCheckReport", "augment_classification", "check_classification"]


@dataclass
class ClassAugmentReport:
    """Pooled cross-validated metrics of the key on the partner's rows: alone, + bundle, bundle only."""

    own: dict
    augmented: dict
    bundle_only: dict
    folds: int
    own_rows: int
    bundle_rows: int

    @property
    def helped(self) -> bool:
        """The bundle raised the accuracy (or kept it and lowered the log-loss)."""
        a, o = self.augmented, self.own
        return (a["accuracy"], -a["log_loss"]) > (o["accuracy"], -o["log_loss"])

    def to_json(self) -> dict:
        return {"task": "classification", "own": self.own, "augmented": self.augmented,
                "bundle_only": self.bundle_only, "helped": self.helped, "folds": self.folds,
                "own_rows": self.own_rows, "bundle_rows": self.bundle_rows}

    def lines(self, mode: str) -> list[str]:
        """The text ``enfo-partner augment`` prints."""
        head = (f"key on your rows ({self.folds}-fold CV over {self.own_rows} rows; bundle: {self.bundle_rows} "
                f"rows, mode {mode})       accuracy  log-loss")
        out = [head]
        for label, m in (("your rows alone", self.own), ("your rows + bundle", self.augmented),
                         ("bundle alone", self.bundle_only)):
            out.append(f"  {label:<22}{m['accuracy']:>10.4f}{m['log_loss']:>10.4f}")
        out.append("the bundle " + ("improved" if self.helped else "did not improve") + " the key trained on your rows")
        return out


@dataclass
class ClassCheckReport:
    """Classifier families tuned on the bundle alone, scored on the partner's rows, beside the key."""

    key: dict
    models: dict
    best: str
    record: dict | None = None  # the owner's signed rivalry record, when the bundle has one

    def to_json(self) -> dict:
        return {"task": "classification", "key": self.key, "models": self.models, "best": self.best,
                "best_accuracy": self.models[self.best]["accuracy"],
                "best_log_loss": self.models[self.best]["log_loss"], "record": self.record}

    def __getitem__(self, name: str):
        return self.to_json()[name]

    def lines(self, algorithm: str, rows: int) -> list[str]:
        """The text ``enfo-partner check`` prints."""
        out = [f"on your {rows} rows, each model trained on the bundle alone       accuracy  log-loss",
               f"  {'key (' + algorithm + ')':<22}{self.key['accuracy']:>10.4f}{self.key['log_loss']:>10.4f}"]
        for name, m in sorted(self.models.items(), key=lambda kv: -kv[1]["accuracy"]):
            out.append(f"  {name:<22}{m['accuracy']:>10.4f}{m['log_loss']:>10.4f}")
        out.append(f"best other family: {self.best} (accuracy {self.models[self.best]['accuracy']:.4f}, "
                   f"the key's {self.key['accuracy']:.4f})")
        if self.record is None:
            out.append("no rivalry record in the bundle: no owner's figures to compare with")
        else:
            signed = self.record["key"]["forged"]
            out.append(f"the owner's signed figures for the key on the bundle, on its {self.record['protocol']['rows']['test']} "
                       f"held-out rows: accuracy {signed['accuracy']:.4f}, log-loss {signed['log_loss']:.4f} "
                       f"(yours above: {self.key['accuracy']:.4f}, {self.key['log_loss']:.4f})")
        return out


def augment_classification(spec, X, y, Xb, Yb, *, cv: int, seed: int) -> ClassAugmentReport:
    """See the module docstring; ``y`` class codes, ``Yb`` the bundle's label rows (m, k)."""
    from ..keys.classify import one_hot

    k = Yb.shape[1]
    perm = np.random.default_rng(seed).permutation(len(y))
    P = np.zeros((3, len(y), k))
    for val in np.array_split(perm, cv):
        tr = np.setdiff1d(perm, val)
        Ytr = one_hot(y[tr], k)
        fits = (spec.build().fit(X[tr], Ytr), spec.build().fit(np.vstack([X[tr], Xb]), np.vstack([Ytr, Yb])),
                spec.build().fit(Xb, Yb))
        for i, est in enumerate(fits):
            P[i, val] = est.predict_proba(X[val])
    own, aug, only = (classification_metrics(y, P[i]) for i in range(3))
    return ClassAugmentReport(own, aug, only, cv, len(y), len(Yb))


def check_classification(model, X, y, Xb, Yb, *, families=None, cv: int = 5, seed: int = 0) -> ClassCheckReport:
    """See the module docstring; ``model`` is the key trained on the bundle."""
    names = tuple(families) if families is not None else CLASS_ZOO
    unknown = [f for f in names if f not in CLASS_ZOO]
    if unknown:
        raise DataError(f"unknown classifier famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; choose from {list(CLASS_ZOO)}")
    key = classification_metrics(y, model.predict_proba(X))
    zoo = attacker_zoo_classify(Xb, Yb, X, y, Yb.shape[1], key=key, names=names, cv=cv, seed=seed)
    return ClassCheckReport(key=key, models=zoo["models"], best=zoo["best"])
