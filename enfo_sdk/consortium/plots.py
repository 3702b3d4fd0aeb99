"""The plan's four figures as PNG bytes (matplotlib, Agg backend; nothing is shown).

Equilibrium rows per member against the competition intensity and against a common factor on
the heterogeneities; welfare against the redistribution rate; equilibrium (with and without
the mechanism) against the welfare optimum.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["plan_figures"]


def _axes(title: str, xlabel: str, ylabel: str):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.add_subplot(111)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _rows_against(plan, sweep, title: str, xlabel: str, marker: float) -> bytes:
    fig, ax = _axes(title, xlabel, "equilibrium rows (no mechanism)")
    xs = [x for x, r in sweep if r is not None]
    rows = np.array([r for _, r in sweep if r is not None])
    for n, name in enumerate(plan.consortium.names):
        ax.plot(xs, rows[:, n], marker=".", label=name)
    ax.plot(xs, rows.sum(axis=1), "k--", lw=1, label="total")
    ax.axvline(marker, color="grey", lw=1, ls=":", label="configured")
    ax.legend(fontsize=8)
    return _bytes(fig)


def plan_figures(plan) -> dict[str, bytes]:
    """{name: PNG bytes} for rows_vs_competition, rows_vs_heterogeneity, welfare_vs_rate,
    equilibrium_vs_optimum."""
    c, ch = plan.consortium, plan.choice
    figs = {
        "rows_vs_competition": _rows_against(
            plan, plan.competition_sweep, "Rows forged against competition intensity",
            "competition intensity gamma", c.competition),
        "rows_vs_heterogeneity": _rows_against(
            plan, plan.heterogeneity_sweep, "Rows forged against heterogeneity",
            "factor on every member's heterogeneity h_n", 1.0),
    }
    fig, ax = _axes("Welfare against the redistribution rate", "rate rho", "welfare W(d^rho)")
    rates = np.array([o.rate for o in ch.grid])
    welfare = np.array([o.welfare for o in ch.grid])
    viable = np.array([o.viable for o in ch.grid])
    ax.plot(rates, welfare, "-", color="C0", label="equilibrium welfare")
    ax.plot(rates[~viable], welfare[~viable], "x", color="C3", label="not viable (surplus < 0)")
    ax.axhline(c.welfare(ch.optimum), color="k", ls="--", lw=1, label="welfare optimum")
    ax.plot([ch.best.rate], [ch.best.welfare], "o", color="C2", label=f"planned rate {ch.best.rate:.3g}")
    ax.legend(fontsize=8)
    figs["welfare_vs_rate"] = _bytes(fig)
    fig, ax = _axes("Equilibrium against welfare optimum", "member", "rows")
    x = np.arange(c.size)
    for i, (label, rows) in enumerate([("equilibrium, no mechanism", ch.none.rows),
                                       (f"equilibrium, rate {ch.best.rate:.3g}", ch.best.rows),
                                       ("welfare optimum", ch.optimum)]):
        ax.bar(x + (i - 1) * 0.27, rows, width=0.27, label=label)
    ax.set_xticks(x, c.names)
    ax.legend(fontsize=8)
    figs["equilibrium_vs_optimum"] = _bytes(fig)
    return figs
