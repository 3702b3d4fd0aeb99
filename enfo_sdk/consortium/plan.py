"""The consortium plan: rows per member, transfers, IR margins, the sweeps behind the plots.

:func:`make_plan` runs the planner of docs/consortium.md on a :class:`Consortium` (the
equilibrium without the mechanism, the welfare optimum, the planner's rate and its outcome)
plus the comparative statics the plots show (equilibrium rows against competition intensity
and against a common factor on the heterogeneities; welfare against the rate).
:meth:`Plan.to_dict` is the JSON plan, :func:`write_plan` writes it and the figures
atomically, :func:`format_plan_table` renders the per-member table the CLI prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConsortiumError
from .game import equilibrium
from .mechanism import RateChoice, choose_rate
from .model import Consortium

__all__ = ["Plan", "make_plan", "write_plan", "format_plan_table", "PLAN_FORMAT_VERSION"]

PLAN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Plan:
    """Everything the planner decided and measured.

    Attributes
    ----------
    consortium : Consortium
    choice : RateChoice
        Equilibrium without the rate part, the optimum, the planner's rate and the grid.
    competition_sweep : list of (float, ndarray or None)
        (gamma, equilibrium rows) per swept gamma; None where assumption A1 fails.
    heterogeneity_sweep : list of (float, ndarray or None)
        (factor on every h_n, equilibrium rows); None where some h_n >= 1 or A1 fails.
    """

    consortium: Consortium
    choice: RateChoice
    competition_sweep: list
    heterogeneity_sweep: list

    @property
    def planned_rows(self) -> np.ndarray:
        """Whole rows each member forges: the planned equilibrium, rounded."""
        return np.rint(self.choice.best.rows).astype(np.int64)

    def member_rows(self) -> list[dict]:
        """One record per member (the table and the JSON plan)."""
        c, best, none = self.consortium, self.choice.best, self.choice.none
        return [
            {
                "name": c.names[n],
                "rows": int(self.planned_rows[n]),
                "rows_exact": float(best.rows[n]),
                "rows_without_mechanism": float(none.rows[n]),
                "rows_at_optimum": float(self.choice.optimum[n]),
                "utility_without_mechanism": float(none.utilities[n]),
                "utility_with_mechanism": float(best.utilities[n] + best.transfers[n]),
                "transfer": float(best.transfers[n]),
                "outside_option": float(best.outside[n]),
                "ir_margin": float(best.margins[n]),
                "ir_margin_without_mechanism": float(none.utilities[n] - none.outside[n]),
            }
            for n in range(c.size)
        ]

    def to_dict(self) -> dict:
        """The JSON plan (format version 1)."""
        c, ch = self.consortium, self.choice
        curve = lambda k: {"e_inf": k.e_inf, "alpha": k.alpha, "beta": k.beta, "offset": k.offset}  # noqa: E731
        rows_or_none = lambda r: None if r is None else [float(x) for x in r]  # noqa: E731
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "competition": c.competition,
            "learning_curve": {"forged": curve(c.forged_curve), "real": curve(c.real_curve)},
            "weights": [float(w) for w in c.weights],
            "members": self.member_rows(),
            "mechanism": {
                "rate": ch.best.rate, "price_per_pooled_row": ch.price, "viable": ch.best.viable,
                "surplus": ch.best.surplus, "budget_balance": float(ch.best.transfers.sum()),
            },
            "welfare": {
                "without_mechanism": ch.none.welfare, "with_mechanism": ch.best.welfare,
                "optimum": c.welfare(ch.optimum), "welfare_is_concave": c.welfare_is_concave(),
            },
            "equilibrium": {
                "sweeps": ch.best.equilibrium.sweeps,
                "max_kkt_residual": float(ch.best.equilibrium.kkt.max()),
            },
            "welfare_vs_rate": [{"rate": o.rate, "welfare": o.welfare, "viable": o.viable,
                                 "rows": [float(x) for x in o.rows]} for o in ch.grid],
            "rows_vs_competition": [{"competition": g, "rows": rows_or_none(r)}
                                    for g, r in self.competition_sweep],
            "rows_vs_heterogeneity_scale": [{"scale": k, "rows": rows_or_none(r)}
                                            for k, r in self.heterogeneity_sweep],
        }


def _sweep(c: Consortium, values, change) -> list:
    out = []
    for x in values:
        try:
            out.append((float(x), equilibrium(change(c, x)).rows))
        except ConsortiumError:  # A1 or the parameter range fails at this value
            out.append((float(x), None))
    return out


def make_plan(c: Consortium, *, rates=None, competition=None, heterogeneity_scale=None) -> Plan:
    """Plan the consortium (docs/consortium.md, sections 2-3) and its comparative statics.

    Parameters
    ----------
    c : Consortium
    rates : array-like, optional
        The planner's grid of redistribution rates (default 0 to 2, 41 steps).
    competition, heterogeneity_scale : array-like, optional
        Values the plots sweep (default 0 to 2 in 21 steps each).
    """
    grid = np.linspace(0, 2, 21)
    choice = choose_rate(c, rates)
    comp = _sweep(c, grid if competition is None else competition,
                  lambda c, g: c.replace(competition=g))
    het = _sweep(c, grid if heterogeneity_scale is None else heterogeneity_scale,
                 lambda c, k: c.replace(heterogeneity=c.heterogeneity * k))
    return Plan(c, choice, comp, het)


def write_plan(plan: Plan, out: str | Path) -> dict[str, Path]:
    """Write plan.json and the four figures into ``out`` (created), each atomically.

    Returns
    -------
    dict of str to Path
        What was written, by name.
    """
    from ..fs import write_bytes_atomic
    from .plots import plan_figures

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, png in plan_figures(plan).items():
        written[name] = write_bytes_atomic(out / f"{name}.png", png)
    body = json.dumps(plan.to_dict(), indent=2, allow_nan=False).encode() + b"\n"
    written["plan"] = write_bytes_atomic(out / "plan.json", body)
    return written


def format_plan_table(plan: Plan) -> str:
    """The per-member table ``enfo-owner consortium plan`` prints, then the totals."""
    head = ("member", "rows", "optimum", "u without", "u with", "transfer", "IR margin")
    lines = [head]
    for r in plan.member_rows():
        lines.append((r["name"], str(r["rows"]), f"{r['rows_at_optimum']:.0f}",
                      f"{r['utility_without_mechanism']:.4g}", f"{r['utility_with_mechanism']:.4g}",
                      f"{r['transfer']:+.4g}", f"{r['ir_margin']:+.4g}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                      enumerate(zip(row, widths))) for row in lines]
    ch = plan.choice
    text += [
        "",
        f"redistribution rate {ch.best.rate:.4g} (price {ch.price:.4g} per pooled row); "
        f"{'every member is individually rational' if ch.best.viable else 'NOT VIABLE: the surplus is negative at every rate'}",
        f"welfare: without mechanism {ch.none.welfare:.6g}, with {ch.best.welfare:.6g}, "
        f"optimum {plan.consortium.welfare(ch.optimum):.6g}",
    ]
    return "\n".join(text)
