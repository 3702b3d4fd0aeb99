"""Budget-balanced payoff redistribution, individual rationality and the planner's rate.

docs/consortium.md, section 3. With rate rho and price pi per effective pooled row,

    t_n(d) = rho pi (a_n d_n - (1/N) sum_m a_m d_m) + l_n,      sum_n l_n = 0,

pays members that pool more effective rows than the average and charges the others (sum 0
for every d); its own-row part is a subsidy of rho pi (1 - 1/N) a_n per row, so the game with
transfers is again a weighted potential game (:mod:`.game`). pi = (sum_n K_n) |e'(S(d^o))| is
the total marginal value of a pooled row at the welfare optimum d^o. The lump sums l_n,
fixed once the plan is agreed, share the surplus W - sum_n u_n^out equally, so every member
is individually rational exactly when the surplus is >= 0. The planner's rate maximises
welfare at the equilibrium over a grid of rates, subject to that surplus being >= 0, then
refines between the best grid point's neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .game import Equilibrium, equilibrium, welfare_optimum
from .model import Consortium

__all__ = ["price_per_row", "own_row_subsidy", "rate_transfers", "Outcome", "outcome",
           "RateChoice", "choose_rate"]


def price_per_row(c: Consortium, optimum) -> float:
    """pi = (sum_n K_n) |e'(S(d^o))|, money per effective pooled row."""
    return float(c.weights.sum() * -c.forged_curve.d1(c.pooled(optimum)))


def own_row_subsidy(c: Consortium, rate: float, price: float) -> np.ndarray:
    """rho pi (1 - 1/N) a_n: what one more own row earns n through the rate part, shape (N,)."""
    return rate * price * (1.0 - 1.0 / c.size) * c.common_share


def rate_transfers(c: Consortium, d, rate: float, price: float) -> np.ndarray:
    """The rate part rho pi (a_n d_n - mean_m a_m d_m) of the transfers, shape (N,); sums to 0."""
    pooled = c.common_share * np.asarray(d, dtype=np.float64)
    return rate * price * (pooled - pooled.mean())


@dataclass(frozen=True)
class Outcome:
    """The equilibrium under one rate and what each member gets.

    Attributes
    ----------
    rate : float
    equilibrium : Equilibrium
    utilities : ndarray of shape (N,)
        u_n(d^rho), before transfers.
    transfers : ndarray of shape (N,)
        t_n = rate part + lump sum (sum 0).
    outside : ndarray of shape (N,)
        u_n^out(d^rho).
    welfare : float
        W(d^rho).
    surplus : float
        W(d^rho) - sum_n u_n^out(d^rho); every member is IR iff >= 0.
    """

    rate: float
    equilibrium: Equilibrium
    utilities: np.ndarray
    transfers: np.ndarray
    outside: np.ndarray
    welfare: float
    surplus: float

    @property
    def rows(self) -> np.ndarray:
        """d^rho."""
        return self.equilibrium.rows

    @property
    def margins(self) -> np.ndarray:
        """IR margins u_n + t_n - u_n^out (all equal to surplus / N by the lump sums)."""
        return self.utilities + self.transfers - self.outside

    @property
    def viable(self) -> bool:
        """Whether every member is individually rational."""
        return self.surplus >= 0.0


def outcome(c: Consortium, rate: float, price: float, *, start=None) -> Outcome:
    """Equilibrium, transfers and IR under rate ``rate`` (price ``price``)."""
    eq = equilibrium(c, own_row_subsidy(c, rate, price), start=start)
    u = c.utilities(eq.rows)
    out = c.outside_utilities(eq.rows)
    part = rate_transfers(c, eq.rows, rate, price)
    welfare = float(u.sum())
    surplus = welfare - float(out.sum())
    lump = surplus / c.size - (u + part - out)
    # zero sum up to rounding *of the transfers themselves*: the rate part and the lump sum can
    # each be ~1e7 while their sum is ~1 (hypothesis: rate 2.6, price 949, 3,963 rows left a
    # budget imbalance of 1.9e-9 on transfers of 1.4), so the mean comes off the total
    transfers = part + lump
    transfers -= transfers.mean()
    return Outcome(float(rate), eq, u, transfers, out, welfare, surplus)


@dataclass(frozen=True)
class RateChoice:
    """The planner's rate and the curve it was chosen from.

    Attributes
    ----------
    best : Outcome
        At rho*.
    none : Outcome
        Without the mechanism's rate part (rho = 0).
    grid : list of Outcome
        One per grid rate (welfare against the rate).
    price : float
    optimum : ndarray of shape (N,)
        The welfare optimum d^o.
    """

    best: Outcome
    none: Outcome
    grid: list
    price: float
    optimum: np.ndarray


def choose_rate(c: Consortium, rates=None) -> RateChoice:
    """rho* = argmax W(d^rho) subject to surplus >= 0 (docs/consortium.md, 'The planner's rate').

    Parameters
    ----------
    c : Consortium
    rates : array-like, optional
        Grid of rates >= 0 (0 is always added). Default: 0 to 2 in 41 steps.
    """
    from scipy.optimize import minimize_scalar

    none_eq = equilibrium(c)
    optimum = welfare_optimum(c, starts=[none_eq.rows])
    price = price_per_row(c, optimum)
    grid_rates = np.unique(np.concatenate([[0.0], np.linspace(0, 2, 41) if rates is None else rates]))
    grid = [outcome(c, r, price) for r in grid_rates]
    viable = [o for o in grid if o.viable] or grid
    top = max(viable, key=lambda o: o.welfare)
    i = int(np.searchsorted(grid_rates, top.rate))
    lo, hi = grid_rates[max(i - 1, 0)], grid_rates[min(i + 1, len(grid_rates) - 1)]
    best = top
    if hi > lo:
        need_viable = top.viable

        def loss(r: float) -> float:
            o = outcome(c, r, price, start=top.rows)
            return -o.welfare if (o.viable or not need_viable) else np.inf

        res = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6 * max(hi, 1)})
        cand = outcome(c, float(res.x), price, start=top.rows)
        if (cand.viable or not need_viable) and cand.welfare > top.welfare:
            best = cand
    return RateChoice(best, grid[0], grid, price, optimum)
