"""Built-in datasets, checked against independent references.

Monte Carlo tolerances: each check compares a mean of n independent terms with its exact
expectation (or two independent sample means with each other) and allows 4.5 standard errors,
the standard error being estimated from the same sample. Under the model, a correct
implementation fails such a check with probability about 7e-6; with fixed seeds the tests are
deterministic anyway, while a wrong formula (ignoring dropout, a wrong window, a wrong recency
law) shifts the means by many standard errors.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import make_friedman3

from enfo_sdk.data import builtin
from enfo_sdk.data.builtin import cdnow, clv, friedman3, load_builtin
from enfo_sdk.errors import DataError

Z = 4.5  # allowed standard errors


def assert_mean_close(diff: np.ndarray, what: str) -> None:
    """Mean of independent zero-mean terms ``diff`` is within Z standard errors of 0."""
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert abs(diff.mean()) < Z * se, f"{what}: mean {diff.mean():.4g}, SE {se:.3g}"


# -- friedman3 -------------------------------------------------------------------------------
def test_friedman3_equals_sklearn():
    df = friedman3(n=300, noise=0.3, seed=7)
    X, y = make_friedman3(n_samples=300, noise=0.3, random_state=7)
    assert list(df.columns) == ["x1", "x2", "x3", "x4", "y"]
    assert (df.dtypes == np.float64).all()
    np.testing.assert_array_equal(df[["x1", "x2", "x3", "x4"]].to_numpy(), X)
    np.testing.assert_array_equal(df["y"].to_numpy(), y)


def test_friedman3_formula_and_ranges():
    df = friedman3(n=2000, noise=0.0, seed=1)
    x1, x2, x3, x4 = (df[c].to_numpy() for c in ["x1", "x2", "x3", "x4"])
    np.testing.assert_allclose(df["y"], np.arctan((x2 * x3 - 1 / (x2 * x4)) / x1), rtol=1e-12)
    assert x1.min() >= 0 and x1.max() <= 100
    assert x2.min() >= 40 * np.pi and x2.max() <= 560 * np.pi
    assert x3.min() >= 0 and x3.max() <= 1
    assert x4.min() >= 1 and x4.max() <= 11


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"noise": -1.0}, {"seed": -3}, {"n": 2.5}])
def test_friedman3_bad_arguments(kwargs):
    with pytest.raises(DataError):
        friedman3(**kwargs)


# -- clv ---------------------------------------------------------------------------------------
CLV_COLUMNS = ["age", "segment", "log_income", "frequency", "recency", "T", "purchases"]


def test_clv_columns_dtypes_and_invariants():
    df = clv(n=5000, seed=3, latent=True)
    assert list(df.columns) == CLV_COLUMNS + ["purchase_rate", "dropout_rate", "lifetime"]
    assert list(clv(n=10, seed=3).columns) == CLV_COLUMNS
    assert (df.dtypes == np.float64).all()
    assert np.isfinite(df.to_numpy()).all()
    f, r, T = df["frequency"], df["recency"], df["T"]
    assert set(np.unique(df["segment"])) == {0.0, 1.0}
    assert ((f == np.round(f)) & (f >= 0)).all()
    assert ((df["purchases"] == np.round(df["purchases"])) & (df["purchases"] >= 0)).all()
    assert (r >= 0).all() and (r <= T).all() and (r <= df["lifetime"]).all()
    assert ((r == 0) == (f == 0)).all()
    # customers join uniformly over the first 4 weeks of a 32-week calibration
    assert T.min() > 28 and T.max() <= 32 and T.std() > 0.5
    # nobody buys in the holdout after dying in calibration
    assert (df.loc[df["lifetime"] < T, "purchases"] == 0).all()


def test_clv_reproducible_and_seed_dependent():
    a, b, c = clv(n=500, seed=11), clv(n=500, seed=11), clv(n=500, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_clv_default_scales():
    """Defaults as documented: E[lambda] ~ 0.2 per week, mean lifetime ~ a year."""
    df = clv(n=20000, seed=5, latent=True)
    assert 0.1 < df["purchase_rate"].mean() < 0.3
    assert 40 < (1 / df["dropout_rate"]).mean() < 70


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"join_weeks": 0.0, "holdout_weeks": 10.0, "cov": ((0.6, 0.2), (0.2, 0.4))},
        {"calibration_weeks": 20.0, "beta_mu": (-2.5, 0.3, 0.0, -0.2)},
    ],
)
def test_clv_counts_match_pareto_nbd_expectation(kwargs):
    """E[count in [a, b] | lambda, mu] = lambda/mu (exp(-mu a) - exp(-mu b))."""
    df = clv(n=20000, seed=21, latent=True, **kwargs)
    lam, mu, T = df["purchase_rate"], df["dropout_rate"], df["T"]
    H = kwargs.get("holdout_weeks", 32.0)
    expected_cal = lam / mu * (1 - np.exp(-mu * T))
    expected_hold = lam / mu * (np.exp(-mu * T) - np.exp(-mu * (T + H)))
    assert_mean_close((df["frequency"] - expected_cal).to_numpy(), "calibration frequency")
    assert_mean_close((df["purchases"] - expected_hold).to_numpy(), "holdout purchases")
    # the lifetime itself is Exponential(mu): E[min(tau, T) | mu] = (1 - exp(-mu T)) / mu
    alive = np.minimum(df["lifetime"], T)
    assert_mean_close((alive - (1 - np.exp(-mu * T)) / mu).to_numpy(), "time alive")


def test_clv_recency_law_given_count():
    """Given k >= 1 events on [0, L], (recency / L)^k ~ U(0, 1) (max of k uniforms)."""
    df = clv(n=20000, seed=8, latent=True)
    k = df["frequency"].to_numpy()
    L = np.minimum(df["lifetime"], df["T"]).to_numpy()
    u = (df["recency"].to_numpy()[k > 0] / L[k > 0]) ** k[k > 0]
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def _gap_simulation(lam, mu, T, H, n, rng):
    """Reference: walk the Poisson process gap by gap, one customer at a time."""
    freq, rec, hold = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        tau = rng.exponential(1 / mu)
        t = 0.0
        while True:
            t += rng.exponential(1 / lam)
            if t >= tau or t > T + H:
                break
            if t <= T:
                freq[i] += 1
                rec[i] = t
            else:
                hold[i] += 1
    return freq, rec, hold


def test_clv_matches_gap_by_gap_simulation():
    """Homogeneous customers (no covariate effects, zero covariance, T fixed) against an
    independent event-by-event simulation: compare means of frequency, recency, holdout
    purchases and P(frequency = 0) as two-sample differences."""
    lam, mu, T, H, n = 0.25, 1 / 40, 32.0, 32.0, 5000
    df = clv(
        n=n,
        seed=2,
        join_weeks=0.0,
        beta_lambda=(np.log(lam), 0, 0, 0),
        beta_mu=(np.log(mu), 0, 0, 0),
        cov=((0, 0), (0, 0)),
    )
    f, r, h = _gap_simulation(lam, mu, T, H, n, np.random.default_rng(99))
    for name, a, b in [
        ("frequency", df["frequency"], f),
        ("recency", df["recency"], r),
        ("purchases", df["purchases"], h),
        ("P(frequency=0)", df["frequency"] == 0, f == 0),
    ]:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) < Z * se, name


def test_clv_rates_follow_the_regression_layer():
    """OLS of log rates on (1, covariates) recovers beta; residual covariance matches cov.

    With n = 20000 and residual sd <= 0.6 the coefficient SEs are < 0.01 and the SE of a
    covariance entry is about 0.003, so tolerances 0.04 and 0.02 are > 4 SE."""
    b_l, b_m = (-1.5, 0.4, -0.3, 0.2), (-3.0, 0.1, 0.5, -0.25)
    cov = np.array([[0.36, -0.12], [-0.12, 0.16]])
    df = clv(n=20000, seed=4, beta_lambda=b_l, beta_mu=b_m, cov=cov, latent=True)
    D = np.column_stack([np.ones(len(df)), df[["age", "segment", "log_income"]]])
    Y = np.log(df[["purchase_rate", "dropout_rate"]].to_numpy())
    coef, *_ = np.linalg.lstsq(D, Y, rcond=None)
    np.testing.assert_allclose(coef[:, 0], b_l, atol=0.04)
    np.testing.assert_allclose(coef[:, 1], b_m, atol=0.04)
    resid = Y - D @ coef
    np.testing.assert_allclose(np.cov(resid.T), cov, atol=0.02)
    assert abs(df["segment"].mean() - 0.4) < 0.02


def test_clv_is_fast():
    clv(n=100, seed=0)  # warm up imports
    start = time.perf_counter()
    clv(n=10000, seed=0)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"seed": -1},
        {"join_weeks": 32.0},
        {"holdout_weeks": 0.0},
        {"segment_prob": 1.5},
        {"beta_lambda": (1.0, 2.0)},
        {"cov": ((1.0, 2.0), (2.0, 1.0))},  # not positive semi-definite
        {"cov": ((1.0, 0.1), (0.2, 1.0))},  # not symmetric
    ],
)
def test_clv_bad_arguments(kwargs):
    with pytest.raises(DataError):
        clv(**kwargs)


# -- cdnow -------------------------------------------------------------------------------------
def _write_cdnow(path: Path, rows, header: bool, newline: str) -> None:
    lines = [" customer_id  date number_of_cds  dollar_value"] if header else []
    lines += [f" {cid:05d} {date}  {cds}   {dollars:.2f}" for cid, date, cds, dollars in rows]
    path.write_bytes((newline.join(lines) + newline).encode("ascii"))


def _synthetic_rows(seed: int = 0):
    rng = np.random.default_rng(seed)
    start = dt.date(1997, 1, 1)
    rows = []
    for cid in range(1, 41):
        first = rng.integers(0, 75)  # first purchase within ~Q1
        days = [first] + list(first + rng.integers(0, 200, rng.integers(0, 6)))
        if cid % 7 == 0:
            days.append(days[0])  # a second line on the same day
        for d in days:
            rows.append((cid, (start + dt.timedelta(days=int(d))).strftime("%Y%m%d"),
                         int(rng.integers(1, 5)), float(rng.integers(100, 9000)) / 100))
    rows.append((41, "19970415", 1, 9.99))  # first purchase after a 3-month calibration
    rows.append((1, "19970930", 2, 20.00))  # the file's last day
    return rows


def _cdnow_reference(rows, cal_end: dt.date, hold_end: dt.date) -> pd.DataFrame:
    """Plain-Python reference: per customer, per day aggregation with dicts."""
    days = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for cid, date, cds, dollars in rows:
        d = dt.datetime.strptime(date, "%Y%m%d").date()
        days[cid][d][0] += cds
        days[cid][d][1] += dollars
    out = {}
    for cid, per_day in days.items():
        cal = {d: v for d, v in per_day.items() if d < cal_end}
        if not cal:
            continue
        first, last = min(cal), max(cal)
        spend_cal = sum(v[1] for v in cal.values())
        out[cid] = {
            "frequency": len(cal) - 1,
            "recency": (last - first).days,
            "T": (cal_end - dt.timedelta(days=1) - first).days,
            "monetary_value": spend_cal / len(cal),
            "total_spend": spend_cal,
            "total_cds": sum(v[0] for v in cal.values()),
            "spend": sum(v[1] for d, v in per_day.items() if cal_end <= d < hold_end),
        }
    ref = pd.DataFrame.from_dict(out, orient="index").sort_index().astype(np.float64)
    ref.index.name = "customer_id"
    return ref


@pytest.mark.parametrize("header,newline", [(True, "\r\n"), (False, "\n")])
def test_cdnow_matches_plain_python_reference(tmp_path, header, newline):
    rows = _synthetic_rows()
    path = tmp_path / "CDNOW_master.txt"
    _write_cdnow(path, rows, header, newline)
    got = cdnow(calibration_months=3, holdout_months=6, path=path)
    ref = _cdnow_reference(rows, dt.date(1997, 4, 1), dt.date(1997, 10, 1))
    pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-12)
    assert 41 not in got.index  # no calibration purchase: dropped
    assert (got["recency"] <= got["T"]).all()
    assert (got["frequency"] > 0).any() and (got["spend"] > 0).any()


def test_cdnow_window_past_the_data(tmp_path):
    path = tmp_path / "cd.txt"
    _write_cdnow(path, _synthetic_rows(), True, "\n")
    with pytest.raises(DataError, match="ends after the last transaction"):
        cdnow(calibration_months=6, holdout_months=6, path=path)


def test_cdnow_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="nope.txt"):
        cdnow(path=tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("00001 1997xx01 1 11.77\n")
    with pytest.raises(DataError, match="bad.txt") as info:
        cdnow(path=bad)
    assert info.value.__cause__ is not None


def test_cdnow_without_lifetimes(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "lifetimes" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(DataError, match=r"pip install 'enfo-sdk\[cdnow\]'"):
        cdnow()


def _real_cdnow_file() -> Path | None:
    env = os.environ.get("ENFO_CDNOW_MASTER")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "CDNOW_master.txt"


def test_cdnow_real_file():
    """The full CDNOW master file (from lifetimes, or $ENFO_CDNOW_MASTER): 23,570 customers
    who all first bought in 1997 Q1; 12 + 6 months cover every transaction, so calibration plus
    holdout spend must add up to the file's total."""
    path = _real_cdnow_file()
    if path is None or not path.is_file():
        pytest.skip("CDNOW_master.txt not available (pip install 'enfo-sdk[cdnow]')")
    df = cdnow(path=path) if os.environ.get("ENFO_CDNOW_MASTER") else cdnow()
    ids, total, pairs = set(), 0.0, set()
    for line in path.read_text().splitlines()[1:]:
        cid, date, _, dollars = line.split()
        ids.add(int(cid))
        total += float(dollars)
        if date < "19980101":
            pairs.add((cid, date))
    assert len(df) == len(ids) == 23570
    assert df["total_spend"].sum() + df["spend"].sum() == pytest.approx(total, rel=1e-12)
    assert df["frequency"].sum() == len(pairs) - len(ids)
    assert df["T"].min() >= 275 and df["T"].max() <= 364
    assert (df["recency"] <= df["T"]).all()


# -- registry ----------------------------------------------------------------------------------
def test_load_builtin_names_and_targets():
    df, target = load_builtin("friedman3", n=50, seed=3)
    assert target == "y"
    pd.testing.assert_frame_equal(df, friedman3(n=50, seed=3))
    df, target = load_builtin("clv", n=50)
    assert target == "purchases" and target in df.columns
    assert builtin.BUILTIN_TARGETS["cdnow"] == "spend"


def test_load_builtin_unknown_name_lists_known():
    with pytest.raises(DataError, match="unknown built-in dataset 'iris'") as info:
        load_builtin("iris")
    for name in ("friedman3", "clv", "cdnow"):
        assert name in str(info.value)


def test_load_builtin_bad_option():
    with pytest.raises(DataError, match="rows"):
        load_builtin("friedman3", rows=10)
