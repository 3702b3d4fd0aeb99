"""The signed rivalry record: the owner's measured figures, and how they were measured.

A manifest's optional ``rivalry`` member (docs/bundle-format.md, section 5d) holds what
``enfo-owner forge`` measured on the owner's held-out rows under the one evaluation protocol
(docs/metrics.md, "One protocol"): the key's test figures trained on all training rows, on the
forged rows and on as many sampled real rows; each attacker's ratio to the key; the
outside-rows test; the Monte Carlo membership attack (MCAA); and the protocol's settings (row
counts, seeds, bootstrap, the attackers' time budget). Being part of the manifest, it is
covered by the owner's signature like every other member: a partner who verifies the bundle
knows these are the owner's figures, unchanged. They remain the owner's *claims*
about rows the partner never sees; ``enfo-partner check`` re-measures them on the partner's
own labelled rows.

The record has its own ``version`` (1), so its contents can grow without a new bundle format.
Bundles written before it have no ``rivalry`` member and still verify. This module needs
pydantic only (``enfo-partner verify`` reads it without numpy's heavier neighbours).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["RECORD_PROTOCOL", "Interval", "Protocol", "RivalryRecord"]

#: The protocol the figures were measured under (docs/metrics.md, "One protocol").
RECORD_PROTOCOL = "enfo-one-protocol-v1"

Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Scalar = bool | int | float | str | None
#: The key's figures on the test rows: regression ``rmse``; classification the five metrics of
#: docs/metrics.md ("Classification"), ``roc_auc`` None when the test rows hold one class.
MetricName = Literal["rmse", "accuracy", "balanced_accuracy", "log_loss", "brier", "roc_auc"]
#: Which rows the key was trained on: all training rows (capped, see ``Rows.full_reference``),
#: the bundle's rows, as many sampled real rows, the forged rows before hardening.
Side = Literal["full", "forged", "sampled", "forged_soft"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Interval(_Strict):
    """A ratio of two test RMSEs and its 95% paired bootstrap interval over the test rows."""

    value: float
    low: float
    high: float


class Rows(_Strict):
    """How many owner rows played each role."""

    train: int = Field(ge=1, description="Training rows (members): encapsulation and forging.")
    held_out: int = Field(ge=1, description="Rows held out by data.test_fraction: outside + test.")
    outside: int = Field(ge=0, description="Held-out rows mixed into the bundle for the outside-rows test.")
    test: int = Field(ge=1, description="Held-out rows every figure is scored on.")
    forged: int = Field(ge=2, description="The bundle's rows.")
    full_reference: int = Field(ge=1, description="Training rows the 'full' key was trained on (all, or a seeded "
                                                  "sample above the workflow's cap).")


class Bootstrap(_Strict):
    """The intervals' settings."""

    resamples: int = Field(ge=1)
    level: float = Field(gt=0, lt=1)
    seed: int
    paired: bool = True


class Attackers(_Strict):
    """How the attackers were run."""

    families: list[Name] = Field(description="The families in the order they were to run.")
    cv_folds: int = Field(ge=2, description="K-fold grid search on the forged rows alone.")
    seed: int
    budget_seconds: float = Field(ge=0, description="No attacker starts after this many seconds "
                                                    "(the first of each thread always runs; one that "
                                                    "starts finishes).")
    seconds: float = Field(ge=0, description="Time the rivalry check took (the key's fits, the outside-rows "
                                             "test and the attackers).")


class Protocol(_Strict):
    """How and on how many rows the figures were measured."""

    name: Literal["enfo-one-protocol-v1"]
    split_seed: int = Field(description="data.seed: the held-out split, the outside/test roles, the sampled rows.")
    test_fraction: float = Field(gt=0, lt=1)
    rows: Rows
    bootstrap: Bootstrap | None = Field(None, description="None: no intervals (classification).")
    attackers: Attackers | None = Field(None, description="None: no attackers were run.")


class AttackerFigure(_Strict):
    """One attacker family tuned on the forged rows, scored on the test rows."""

    rmse: float = Field(ge=0)
    ratio: float | None = Field(description="Its test RMSE over the key's (above 1: worse than the key).")
    params: dict[Name, Scalar] = Field(description="The parameters its CV chose.")


class Mcaa(_Strict):
    """Monte Carlo membership attack on the forged rows (docs/metrics.md, "Privacy")."""

    accuracy: float = Field(ge=0, le=1, description="Best over eps; 0.5 is chance.")
    candidates: int = Field(ge=2, description="Records attacked: half training rows, half held-out rows.")


class RivalryRecord(_Strict):
    """The owner's figures, signed with the bundle (docs/bundle-format.md, section 5d).

    Attributes
    ----------
    version : 1
    task : {"regression", "classification"}
    protocol : Protocol
    key : dict
        ``{side: {metric: value}}``: the key's test figures trained on ``full``, ``forged``,
        ``sampled`` (and ``forged_soft`` when hardening changed the rows).
    key_vs_full, key_vs_sampled : Interval or None
        The key on the forged rows over the key on all training rows / on the sampled rows.
    attackers : dict of str to AttackerFigure
        Each attacker that ran; ``skipped`` those the time budget left out.
    best, best_ratio : the best attacker and its ratio over the key, with its interval.
    target : float or None
        The ratio the owner asked for (``forge.rivalry.target``).
    outside : Interval or None
        The key on forged + outside rows over the key on the forged rows alone (above 1:
        outside rows make the key worse).
    mcaa : Mcaa or None
    """

    version: Literal[1]
    task: Literal["regression", "classification"]
    protocol: Protocol
    key: dict[Side, dict[MetricName, float | None]]
    key_vs_full: Interval | None = None
    key_vs_sampled: Interval | None = None
    attackers: dict[Name, AttackerFigure] = Field(default_factory=dict)
    skipped: list[Name] = Field(default_factory=list)
    best: Name | None = None
    best_ratio: Interval | None = None
    target: float | None = Field(None, gt=0)
    outside: Interval | None = None
    mcaa: Mcaa | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "RivalryRecord":
        for side in ("full", "forged", "sampled"):
            if side not in self.key:
                raise ValueError(f"rivalry.key must hold the key's figures on '{side}' rows")
        if (self.best is None) != (self.best_ratio is None):
            raise ValueError("rivalry.best and rivalry.best_ratio are given together")
        if self.best is not None and self.best not in self.attackers:
            raise ValueError(f"rivalry.best {self.best!r} is not among the attackers {list(self.attackers)}")
        if self.attackers and self.protocol.attackers is None:
            raise ValueError("rivalry.attackers ran but rivalry.protocol.attackers does not say how")
        if (self.outside is None) != (self.protocol.rows.outside == 0) and self.task == "regression":
            raise ValueError("rivalry.outside is measured exactly when there are outside rows")
        return self
