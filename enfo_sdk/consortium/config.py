"""The consortium's YAML file: a strict pydantic schema (``extra="forbid"``, ``version: 1``).

Like the owner's contract (:mod:`enfo_sdk.contract`), every problem becomes one
:class:`~enfo_sdk.errors.ConfigError` naming the file, the line, the dotted key path
(``members[2].heterogeneity``) and the bad value. Example (``examples/consortium/consortium.yaml``)::

    version: 1
    competition: 1.0
    learning_curve:
      forged: {points: [[100, 0.1167], [500, 0.1148], [1000, 0.1138]]}
      real:   {points: [[100, 0.3315], [500, 0.1420], [1000, 0.1270], [5000, 0.1119]]}
    members:
      - {name: north, local_rows: 1000, heterogeneity: 0.1, cost_per_row: 0.002,
         value_per_rmse: 100, max_rows: 2000}
      - ...
    mechanism: {rates: {max: 2, steps: 41}}

The symbols are those of docs/consortium.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError, ConsortiumError
from .model import Consortium, LearningCurve, fit_learning_curve

__all__ = ["ConsortiumConfig", "CurveSection", "MemberSection", "load_consortium_config",
           "parse_consortium_config"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CurveSection(_Section):
    """A learning curve: measured points to fit, or the fitted parameters."""

    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = Field(
        None, min_length=3,
        description="Measured [rows, key test RMSE] pairs (at least three distinct row counts), "
        "fitted by least squares.",
    )
    e_inf: float | None = Field(None, ge=0, description="Asymptotic RMSE (with alpha, beta).")
    alpha: float | None = Field(None, gt=0, description="Scale of the power law.")
    beta: float | None = Field(None, gt=0, description="Decay of the power law.")
    offset: float = Field(1.0, gt=0, description="x0 in e(x) = e_inf + alpha (x + x0)^-beta.")
    source: str | None = Field(None, description="Where the points were measured (free text).")

    @model_validator(mode="after")
    def _points_or_parameters(self):
        given = [self.e_inf is not None, self.alpha is not None, self.beta is not None]
        if self.points is None and not all(given):
            raise ValueError("give either points or all of e_inf, alpha, beta")
        if self.points is not None and any(given):
            raise ValueError("give either points or e_inf/alpha/beta, not both")
        return self

    def curve(self, name: str) -> LearningCurve:
        """The :class:`LearningCurve` (fitted when points are given)."""
        if self.points is None:
            return LearningCurve(self.e_inf, self.alpha, self.beta, self.offset)
        rows, rmse = zip(*self.points)
        return fit_learning_curve(rows, rmse, offset=self.offset, name=name)


class CurvesSection(_Section):
    """The key's learning curves on forged rows and on real rows (the outside option)."""

    forged: CurveSection
    real: CurveSection


class MemberSection(_Section):
    """One member of the consortium."""

    name: str = Field(min_length=1, description="Member name (tables, plan, bundle owner).")
    local_rows: int = Field(ge=0, description="L_n: real training rows the member holds.")
    heterogeneity: float = Field(ge=0, lt=1, description="h_n: share of its distribution the "
                                 "others' rows do not cover.")
    cost_per_row: float = Field(ge=0, description="c_n: cost of forging one row.")
    value_per_rmse: float = Field(gt=0, description="v_n: money per unit of key RMSE.")
    max_rows: int = Field(ge=1, description="D_n: most rows the member may forge.")


class RatesSection(_Section):
    """Redistribution rates the planner tries: an evenly spaced grid from 0."""

    max: float = Field(2.0, gt=0, description="Largest rate.")
    steps: int = Field(41, ge=2, description="Grid points from 0 to max.")


class SweepsSection(_Section):
    """The values the plots sweep."""

    competition: list[float] = Field(
        default_factory=lambda: [float(x) for x in np.linspace(0, 2, 21)],
        min_length=2, description="Competition intensities for rows_vs_competition.png.",
    )
    heterogeneity_scale: list[float] = Field(
        default_factory=lambda: [float(x) for x in np.linspace(0, 2, 21)],
        min_length=2, description="Factors on every member's heterogeneity for "
        "rows_vs_heterogeneity.png (values making some h >= 1 are skipped).",
    )


class MechanismSection(_Section):
    """The payoff redistribution."""

    rates: RatesSection = Field(default_factory=RatesSection)


class ConsortiumConfig(_Section):
    """A consortium plan's input, version 1."""

    model_config = ConfigDict(extra="forbid", strict=True, title="EnFo consortium")

    version: int = Field(description="Format version (1).")
    competition: float = Field(ge=0, description="gamma: competition intensity.")
    learning_curve: CurvesSection
    members: list[MemberSection] = Field(min_length=2, max_length=50)
    mechanism: MechanismSection = Field(default_factory=MechanismSection)
    sweeps: SweepsSection = Field(default_factory=SweepsSection)

    @field_validator("version")
    @classmethod
    def _v1(cls, v: int) -> int:
        if v != 1:
            raise ValueError(f"unsupported version {v}; this library reads version 1")
        return v

    @field_validator("members")
    @classmethod
    def _unique_names(cls, v: list[MemberSection]) -> list[MemberSection]:
        names = [m.name for m in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"member name(s) given twice: {', '.join(twice)}")
        return v

    def consortium(self, file: str | Path = "<consortium>") -> Consortium:
        """The :class:`Consortium` (curves fitted); model errors name the file."""
        col = lambda key: np.array([getattr(m, key) for m in self.members], dtype=np.float64)  # noqa: E731
        try:
            return Consortium(
                names=tuple(m.name for m in self.members), local_rows=col("local_rows"),
                heterogeneity=col("heterogeneity"), cost_per_row=col("cost_per_row"),
                value_per_rmse=col("value_per_rmse"), max_rows=col("max_rows"),
                competition=float(self.competition),
                forged_curve=self.learning_curve.forged.curve("learning_curve.forged"),
                real_curve=self.learning_curve.real.curve("learning_curve.real"),
            )
        except ConsortiumError as e:
            raise ConfigError(f"{file}: {e}") from e

    def rates(self) -> np.ndarray:
        """The planner's grid of rates."""
        return np.linspace(0.0, self.mechanism.rates.max, self.mechanism.rates.steps)


def parse_consortium_config(text: str, file: str | Path = "<consortium>") -> ConsortiumConfig:
    """Parse consortium YAML text; raises :class:`ConfigError` naming file, line and key."""
    from ..yamlconfig import parse_yaml_model

    return parse_yaml_model(text, ConsortiumConfig, file, what="consortium file",
                            keys="version, competition, learning_curve, members, ...")


def load_consortium_config(path: str | Path) -> ConsortiumConfig:
    """Read and validate a consortium YAML file.

    Raises
    ------
    ConfigError
        If the file cannot be read or does not match the schema (file, line, key path, value).
    """
    from ..yamlconfig import read_config_text

    path = Path(path)
    return parse_consortium_config(read_config_text(path, "consortium"), path)
