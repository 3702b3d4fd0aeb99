"""The mechanism: budget balance, individual rationality, welfare, the paper's findings."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from enfo_sdk.consortium import Consortium, LearningCurve, choose_rate, equilibrium, outcome
from enfo_sdk.consortium.mechanism import rate_transfers

from .strategies import examples, consortia, rows_in_box

RATES = np.linspace(0.0, 2.0, 9)


def reference_outside(c, d) -> list[float]:
    """u_n^out written out: n trains on its L_n real rows; the others pool without n's rows."""
    out = []
    e, g = c.forged_curve, c.competition
    for n in range(c.size):
        others = [m for m in range(c.size) if m != n]
        pooled = sum((1 - c.heterogeneity[m]) * d[m] for m in others)
        rivals = sum((1 - c.heterogeneity[m]) * e(pooled) + c.heterogeneity[m] * e(d[m]) for m in others)
        out.append(-c.value_per_rmse[n] * ((1 + g) * c.real_curve(c.local_rows[n]) - g * rivals / len(others)))
    return out


@examples(60)
@given(st.data(), st.floats(0.0, 3.0), st.floats(0.0, 1e3))
def test_transfers_balance_the_budget_for_any_rows(data, rate, price):
    c = data.draw(consortia())
    d = rows_in_box(data.draw, c)
    t = rate_transfers(c, d, rate, price)
    assert abs(t.sum()) <= 1e-9 * max(1.0, np.abs(t).max())
    o = outcome(c, rate, price)
    assert abs(o.transfers.sum()) <= 1e-9 * max(1.0, np.abs(o.transfers).max())
    assert np.allclose(o.outside, reference_outside(c, o.rows), rtol=1e-12)


# Found by hypothesis: two members with h ~ 0 are near-perfect substitutes, and the planner's
# rate refinement lands where their targets for S coincide; the sweeps then crawled for more
# than 10,000 sweeps until game._extrapolate was added.
_SUBSTITUTES = Consortium(
    ("m0", "m1", "m2"), np.array([709.0, 877.0, 649.0]), np.array([0.370654029, 3.6e-209, 2.2e-313]),
    np.array([0.7684995, 0.02539551, 0.01858617]), np.array([1000.0, 553.33373798, 135.04313332]),
    np.array([3045.93675312, 3557.9373404, 2088.76864681]), 0.0,
    LearningCurve(1e-300, 3.9114188783895747, 0.3293067599351202, 44.9828210702229),
    LearningCurve(0.0, 1.1, 1.0467141727447287, 1.0))


@examples(12)
@given(consortia())
@example(_SUBSTITUTES)
def test_planned_mechanism_is_individually_rational_and_never_lowers_welfare(c):
    choice = choose_rate(c, RATES)
    best, none = choice.best, choice.none
    assert abs(best.transfers.sum()) <= 1e-9 * max(1.0, np.abs(best.transfers).max())
    margins = best.utilities + best.transfers - np.array(reference_outside(c, best.rows))
    scale = max(1.0, np.abs(best.utilities).max())
    if best.viable:
        assert np.all(margins >= -1e-9 * scale)
    else:  # no rate keeps everyone in: the surplus is negative at every grid rate
        assert all(o.surplus < 0 for o in choice.grid)
        assert np.all(margins < 0)
    assert np.allclose(margins, best.surplus / c.size, atol=1e-9 * scale)
    if none.viable or not best.viable:  # the two cases where W(d^rho*) >= W(d^0) is a theorem
        assert best.welfare >= none.welfare - 1e-12 * scale
    assert best.welfare >= max(o.welfare for o in choice.grid if o.viable or not best.viable) - 1e-12 * scale
    # the planned rows are an equilibrium of the game with transfers: recomputed from zero,
    # the pooled rows agree (the split is loose only between near-perfect substitutes, h ~ 0)
    again = outcome(c, best.rate, choice.price, start=np.zeros(c.size))
    assert np.isclose(c.pooled(again.rows), c.pooled(best.rows), rtol=1e-6, atol=1e-6 * c.max_rows.max())
    assert np.isclose(again.welfare, best.welfare, rtol=1e-8, atol=1e-9)


@examples(25)
@given(consortia(identical=True, competition=0.0))
def test_identical_members_forge_more_under_stronger_competition(c):
    rows = [equilibrium(c.replace(competition=g)).rows.sum() for g in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(rows) >= -1e-7 * c.max_rows.sum())
    interior = equilibrium(c).rows
    if np.all(interior > 0) and np.all(interior < c.max_rows) and c.heterogeneity[0] > 0:
        assert rows[1] > rows[0]


@examples(10)
@given(consortia(identical=True))
def test_welfare_is_hump_shaped_in_the_rate_when_the_equilibrium_under_provides(c):
    """With identical members W is concave along the diagonal and d^rho grows with rho, so when
    d^0 < d^o a small rate raises welfare; a rate far past the optimum lowers it again."""
    choice = choose_rate(c, np.linspace(0.0, 4.0, 17))
    none, opt, best = choice.none, choice.optimum, choice.best
    assert c.welfare_is_concave()
    scale = max(1.0, abs(none.welfare))
    if c.pooled(opt) - c.pooled(none.rows) > 1e-3 * c.max_rows.sum() and np.all(opt < c.max_rows * 0.99):
        assert best.rate > 0 and best.welfare > none.welfare + 1e-12 * scale  # a rate helps ...
        last = choice.grid[-1]
        if last.rows.sum() > opt.sum() * 1.05:  # ... and over-shooting the optimum hurts again
            assert last.welfare < best.welfare
