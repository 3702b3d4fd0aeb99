"""Hypothesis strategies: random consortium instances that satisfy assumption A1."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, settings
from hypothesis import strategies as st

from enfo_sdk.consortium import Consortium, LearningCurve

_f = st.floats


def examples(n: int) -> settings:
    """n random instances, the same ones on every run (derandomized: reproducible CI)."""
    return settings(max_examples=n, deadline=None, derandomize=True)


@st.composite
def curves(draw) -> LearningCurve:
    return LearningCurve(
        e_inf=draw(_f(0.0, 0.5)), alpha=draw(_f(0.05, 5.0)), beta=draw(_f(0.05, 1.5)),
        offset=draw(_f(1.0, 50.0)),
    )


@st.composite
def consortia(draw, n_min: int = 2, n_max: int = 5, competition=None, identical: bool = False) -> Consortium:
    """A random consortium; costs are drawn around the marginal value of a row at the caps' scale."""
    n = draw(st.integers(n_min, n_max))
    curve = draw(curves())
    member = st.tuples(
        _f(0.0, 0.6),                # heterogeneity
        _f(10.0, 1000.0),            # value per RMSE
        _f(10.0, 5000.0),            # cap
        _f(0.05, 3.0),               # cost as a multiple of a row's marginal value
        st.integers(0, 5000),        # local rows
    )
    rows = [draw(member)] * n if identical else [draw(member) for _ in range(n)]
    h, v, cap, u, local = (np.array(col, dtype=np.float64) for col in zip(*rows))
    ref = cap * draw(_f(0.05, 0.5))
    cost = u * v * -curve.d1(ref)
    gamma = draw(_f(0.0, 2.0)) if competition is None else competition
    a = 1 - h
    weights = v * ((1 + gamma) * a - gamma * (a.sum() - a) / (n - 1))
    assume(np.all(weights > 1e-3 * v))
    return Consortium(tuple(f"m{i}" for i in range(n)), local, h, cost, v, cap, gamma, curve,
                      draw(curves()))


def rows_in_box(draw, c: Consortium) -> np.ndarray:
    return np.array([draw(_f(0.0, 1.0)) for _ in range(c.size)]) * c.max_rows
