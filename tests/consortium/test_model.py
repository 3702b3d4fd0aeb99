"""The consortium model against plain, independently written formulas and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from enfo_sdk.consortium import Consortium, LearningCurve, fit_learning_curve
from enfo_sdk.errors import ConsortiumError

from .strategies import examples, consortia, curves, rows_in_box



def reference_utilities(c: Consortium, d) -> list[float]:
    """u_n written out member by member from docs/consortium.md, section 1."""
    n_members = c.size
    e = c.forged_curve
    pooled = sum((1 - c.heterogeneity[m]) * d[m] for m in range(n_members))
    err = [(1 - c.heterogeneity[m]) * e(pooled) + c.heterogeneity[m] * e(d[m]) for m in range(n_members)]
    out = []
    for n in range(n_members):
        rivals = sum(err[m] for m in range(n_members) if m != n) / (n_members - 1)
        out.append(-c.value_per_rmse[n] * ((1 + c.competition) * err[n] - c.competition * rivals)
                   - c.cost_per_row[n] * d[n])
    return out


@examples(60)
@given(curves(), st.floats(0.0, 1e4))
def test_curve_derivatives_match_central_differences(curve: LearningCurve, x: float):
    h = 1e-4 * (x + curve.offset)
    fd1 = (curve(x + h) - curve(x - h)) / (2 * h) if x > h else (curve(x + h) - curve(x)) / h
    assert curve.d1(x) < 0 and curve.d2(x) > 0
    assert np.isclose(curve.d1(x), fd1, rtol=1e-3 if x > h else 1e-2)
    fd2 = (curve.d1(x + h) - curve.d1(x)) / h
    assert np.isclose(curve.d2(x), fd2, rtol=1e-2)


def test_fit_recovers_a_known_curve():
    truth = LearningCurve(0.1, 0.8, 0.6, offset=1.0)
    rows = np.array([50, 100, 200, 500, 1000, 5000])
    fit = fit_learning_curve(rows, truth(rows))
    assert np.allclose([fit.e_inf, fit.alpha, fit.beta], [0.1, 0.8, 0.6], rtol=1e-5)


def test_fit_refuses_too_few_points():
    with pytest.raises(ConsortiumError, match="forged: need at least three"):
        fit_learning_curve([100, 100, 500], [0.2, 0.2, 0.1], name="forged")


@examples(60)
@given(st.data())
def test_utilities_match_the_written_formula(data):
    c = data.draw(consortia())
    d = rows_in_box(data.draw, c)
    assert np.allclose(c.utilities(d), reference_utilities(c, d), rtol=1e-12, atol=0)
    assert np.isclose(c.welfare(d), sum(reference_utilities(c, d)), rtol=1e-12)


@examples(60)
@given(st.data())
def test_marginal_utilities_and_welfare_gradient_match_finite_differences(data):
    c = data.draw(consortia())
    d = rows_in_box(data.draw, c) + 1.0  # keep the differences inside the domain
    g = c.marginal_utilities(d)
    gw = c.welfare_gradient(d)
    for n in range(c.size):
        step = 1e-5 * d[n]
        up, down = d.copy(), d.copy()
        up[n] += step
        down[n] -= step
        fd = (np.array(reference_utilities(c, up)) - np.array(reference_utilities(c, down))) / (2 * step)
        scale = abs(c.cost_per_row[n]) + np.abs(fd).max() + 1e-12
        assert abs(g[n] - fd[n]) <= 1e-5 * scale
        assert abs(gw[n] - fd.sum()) <= 1e-5 * scale * c.size


def _three(**changes) -> Consortium:
    kw = dict(
        names=("north", "south", "east"), local_rows=np.array([1000.0, 2000, 500]),
        heterogeneity=np.array([0.1, 0.3, 0.2]), cost_per_row=np.full(3, 2e-3),
        value_per_rmse=np.full(3, 100.0), max_rows=np.full(3, 2000.0), competition=1.0,
        forged_curve=LearningCurve(0.1, 0.05, 0.3), real_curve=LearningCurve(0.1, 50.0, 1.2),
    )
    kw.update(changes)
    return Consortium(**kw)


def test_a_member_for_whom_the_shared_model_is_a_net_loss_is_named():
    with pytest.raises(ConsortiumError, match=r"member\(s\) east: the shared model is a net loss"):
        _three(heterogeneity=np.array([0.0, 0.0, 0.9]), competition=2.0)


@pytest.mark.parametrize("field,value,needs", [
    ("heterogeneity", np.array([0.1, 1.0, 0.2]), "heterogeneity in"),
    ("cost_per_row", np.array([-1.0, 0, 0]), "cost_per_row >= 0"),
    ("max_rows", np.array([10.0, 0, 10]), "max_rows > 0"),
    ("value_per_rmse", np.array([1.0, 2.0]), "value_per_rmse: expected 3"),
])
def test_bad_parameters_are_refused_by_name(field, value, needs):
    with pytest.raises(ConsortiumError, match=needs):
        _three(**{field: value})
