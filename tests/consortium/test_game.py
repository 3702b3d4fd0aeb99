"""The game: weighted potential property, equilibria checked independently, welfare optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from enfo_sdk.consortium import equilibrium, kkt_residuals, potential, welfare_optimum
from enfo_sdk.consortium.mechanism import own_row_subsidy, rate_transfers
from enfo_sdk.errors import ConsortiumError

from .strategies import examples, consortia, rows_in_box



@examples(60)
@given(st.data(), st.floats(0.0, 2.0))
def test_unilateral_deviation_changes_utility_by_weight_times_potential(data, rate):
    """u_n(d') - u_n(d) = K_n (Phi(d') - Phi(d)), with the mechanism's full transfers too."""
    c = data.draw(consortia())
    d = rows_in_box(data.draw, c)
    n = data.draw(st.integers(0, c.size - 1))
    other = d.copy()
    other[n] = data.draw(st.floats(0.0, 1.0)) * c.max_rows[n]
    price = data.draw(st.floats(0.0, 1.0)) * c.value_per_rmse.max() * -c.forged_curve.d1(c.max_rows.mean())
    subsidy = own_row_subsidy(c, rate, price)

    def paid(z):  # utility plus the actual budget-balanced transfer (not just its own-row part)
        return c.utilities(z)[n] + rate_transfers(c, z, rate, price)[n]

    scale = max(1.0, abs(paid(d)), abs(paid(other)))
    lhs = paid(other) - paid(d)
    rhs = c.weights[n] * (potential(c, other, subsidy) - potential(c, d, subsidy))
    assert abs(lhs - rhs) <= 1e-9 * scale
    lhs0 = c.utilities(other)[n] - c.utilities(d)[n]
    rhs0 = c.weights[n] * (potential(c, other) - potential(c, d))
    assert abs(lhs0 - rhs0) <= 1e-9 * scale


@examples(30)
@given(st.data())
def test_iteration_reaches_a_kkt_point_confirmed_by_scipy_and_finite_differences(data):
    c = data.draw(consortia())
    eq = equilibrium(c)
    d = eq.rows
    assert np.all((d >= 0) & (d <= c.max_rows))
    # (1) the potential never decreased along the sweeps
    trace = eq.potential_trace
    assert np.all(np.diff(trace) >= -1e-12 * max(1.0, np.abs(trace).max()))
    # (2) scipy on the potential, from other starts, with finite-difference gradients, finds no
    #     higher potential (scaled to caps so the problem is well conditioned)
    cap = c.max_rows
    phi0 = potential(c, d)
    for start in (np.zeros(c.size), np.ones(c.size)):
        res = minimize(lambda z: -potential(c, z * cap), start, method="L-BFGS-B",
                       bounds=[(0, 1)] * c.size, options={"ftol": 1e-15, "gtol": 1e-12})
        assert potential(c, res.x * cap) <= phi0 + 1e-9 * max(1.0, abs(phi0))
    # (3) KKT signs from central differences of the utilities themselves
    for n in range(c.size):
        step = 1e-6 * cap[n]
        u = lambda x: c.utilities(np.where(np.arange(c.size) == n, x, d))[n]  # noqa: E731
        scale = c.cost_per_row[n] + c.value_per_rmse[n] * -c.forged_curve.d1(d[n]) + 1e-300
        if d[n] > step:
            slope_down = (u(d[n]) - u(d[n] - step)) / step
            assert slope_down >= -1e-4 * scale  # could not gain by forging fewer rows
        if d[n] < cap[n] - step:
            slope_up = (u(d[n] + step) - u(d[n])) / step
            assert slope_up <= 1e-4 * scale  # could not gain by forging more rows
    assert np.all(eq.kkt <= 1e-6 * (c.cost_per_row + c.value_per_rmse * -c.forged_curve.d1(d)))


@examples(25)
@given(consortia(n_min=2, n_max=2))
def test_no_unilateral_deviation_on_a_grid_improves_a_two_member_equilibrium(c):
    d = equilibrium(c).rows
    for n in range(2):
        base = c.utilities(d)[n]
        for x in np.linspace(0.0, c.max_rows[n], 401):
            trial = d.copy()
            trial[n] = x
            assert c.utilities(trial)[n] <= base + 1e-10 * max(1.0, abs(base))


@examples(25)
@given(st.data())
def test_welfare_optimum_beats_the_equilibrium_and_random_points(data):
    c = data.draw(consortia())
    eq = equilibrium(c).rows
    opt = welfare_optimum(c, starts=[eq])
    w = c.welfare(opt)
    tol = 1e-9 * max(1.0, abs(w))
    assert w >= c.welfare(eq) - tol
    for _ in range(5):
        assert w >= c.welfare(rows_in_box(data.draw, c)) - tol
    if c.welfare_is_concave():  # then the KKT conditions of W hold at the optimum
        grad = c.welfare_gradient(opt)
        inside = (opt > 1e-7 * c.max_rows) & (opt < c.max_rows * (1 - 1e-7))
        scale = c.size * (c.cost_per_row + c.value_per_rmse.max() * -c.forged_curve.d1(opt))
        assert np.all(np.abs(grad[inside]) <= 1e-4 * scale[inside])


def test_the_iteration_refuses_to_return_an_unconverged_point():
    from .test_model import _three

    with pytest.raises(ConsortiumError, match="did not settle within 1 sweeps"):
        equilibrium(_three(), max_sweeps=1)


def test_kkt_residuals_flag_a_point_that_is_not_an_equilibrium():
    from .test_model import _three

    c = _three()
    d = equilibrium(c).rows
    assert np.all(kkt_residuals(c, d) < 1e-9)
    assert np.all(kkt_residuals(c, d * 1.5 + 1) > 0)
