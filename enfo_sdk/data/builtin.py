"""Built-in example tables: Friedman #3, a Pareto/NBD customer simulation, and CDNOW.

Each loader returns a :class:`pandas.DataFrame` whose columns are all float64; the name of the
target column is fixed per dataset and returned by :func:`load_builtin`.

``friedman3``
    Friedman (1991), "Multivariate adaptive regression splines", problem #3, via
    :func:`sklearn.datasets.make_friedman3`.

``clv``
    Customer-lifetime-value simulation under the Pareto/NBD model with covariates, in the style
    of Abe (2009), "Counting your customers one by one: a hierarchical Bayes extension to the
    Pareto/NBD model", *Marketing Science* 28(3). Each customer i has covariates x_i, and

        (log lambda_i, log mu_i) ~ Normal((b_l . [1, x_i], b_m . [1, x_i]), Sigma),
        lifetime tau_i ~ Exponential(rate mu_i),
        purchases while alive (t < tau_i) ~ Poisson process of rate lambda_i.

    The simulation is exact and vectorised (see :func:`clv`).

``cdnow``
    The CDNOW master file (Fader & Hardie): 69,659 purchases by the 23,570 customers who first
    bought at CDNOW in the first quarter of 1997, shipped with the ``lifetimes`` package, turned
    into one row per customer (calibration features, holdout spend).
"""

from __future__ import annotations

import importlib.util
import inspect
import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from .._random import rng as _seeded_rng
from ..errors import DataError
from .builtin_classes import CLASS_TARGETS, breast_cancer, churn, wine

__all__ = ["BUILTIN_TARGETS", "cdnow", "clv", "friedman3", "load_builtin"]


def _rng(seed: int) -> np.random.Generator:
    """Check ``seed`` and turn it into a generator with the SDK's one helper."""
    return _seeded_rng(_check_seed(seed))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise DataError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_real(name: str, value: float, *, low: float, low_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as e:
        raise DataError(f"{name} must be a real number, got {value!r}") from e
    if not np.isfinite(v) or v < low or (low_open and v == low):
        bound = ">" if low_open else ">="
        raise DataError(f"{name} must be finite and {bound} {low}, got {value!r}")
    return v


# -- Friedman #3 ---------------------------------------------------------------------------
def friedman3(n: int = 10000, noise: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Friedman's regression problem #3 as a table.

    Inputs are independent and uniform,

        x1 ~ U[0, 100], x2 ~ U[40 pi, 560 pi], x3 ~ U[0, 1], x4 ~ U[1, 11],

    and the target is

        y = arctan((x2 x3 - 1 / (x2 x4)) / x1) + noise * e,   e ~ N(0, 1).

    Parameters
    ----------
    n : int, default 10000
        Number of rows (>= 1).
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to ``y`` (>= 0).
    seed : int, default 0
        Seed passed as ``random_state`` to :func:`sklearn.datasets.make_friedman3`; the same
        seed gives the same table.

    Returns
    -------
    pandas.DataFrame of shape (n, 5)
        Columns ``x1, x2, x3, x4, y``, float64. The target is ``y``.

    Raises
    ------
    DataError
        If ``n``, ``noise`` or ``seed`` is out of range.
    """
    from sklearn.datasets import make_friedman3

    n = _check_count("n", n)
    noise = _check_real("noise", noise, low=0.0)
    X, y = make_friedman3(n_samples=n, noise=noise, random_state=_check_seed(seed))
    df = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=["x1", "x2", "x3", "x4"])
    df["y"] = np.asarray(y, dtype=np.float64)
    return df


# -- Pareto/NBD customer simulation ---------------------------------------------------------
_CLV_COVARIATES = ("age", "segment", "log_income")


def _coefficients(name: str, value) -> np.ndarray:
    b = np.asarray(value, dtype=np.float64)
    if b.shape != (1 + len(_CLV_COVARIATES),) or not np.all(np.isfinite(b)):
        raise DataError(
            f"{name} must be 4 finite numbers (intercept, {', '.join(_CLV_COVARIATES)}), "
            f"got {value!r}"
        )
    return b


def _cholesky_2x2(cov) -> np.ndarray:
    """Lower factor L with L L^T = cov for a symmetric positive semi-definite 2x2 matrix."""
    c = np.asarray(cov, dtype=np.float64)
    if c.shape != (2, 2) or not np.all(np.isfinite(c)):
        raise DataError(f"cov must be a finite 2x2 matrix, got {cov!r}")
    tol = 1e-12 * max(1.0, float(np.abs(c).max()))
    if abs(c[0, 1] - c[1, 0]) > tol:
        raise DataError(f"cov must be symmetric, got {cov!r}")
    if c[0, 0] < 0 or c[1, 1] < 0 or c[0, 0] * c[1, 1] - c[0, 1] ** 2 < -tol:
        raise DataError(f"cov must be positive semi-definite, got {cov!r}")
    a = np.sqrt(c[0, 0])
    b = c[0, 1] / a if a > 0 else 0.0
    d = np.sqrt(max(c[1, 1] - b * b, 0.0))
    return np.array([[a, 0.0], [b, d]])


def clv(
    n: int = 10000,
    seed: int = 0,
    *,
    calibration_weeks: float = 32.0,
    holdout_weeks: float = 32.0,
    join_weeks: float = 4.0,
    segment_prob: float = 0.4,
    beta_lambda=(-1.9, 0.2, 0.3, 0.15),
    beta_mu=(-3.8, -0.1, -0.2, 0.05),
    cov=((0.25, -0.075), (-0.075, 0.25)),
    latent: bool = False,
) -> pd.DataFrame:
    """Simulate customers under the Pareto/NBD model with covariates (Abe 2009).

    Time is in weeks. For customer i = 1..n:

    1. Covariates x_i = (age_i, segment_i, log_income_i) with age_i ~ N(0, 1) (a standardized
       age), segment_i ~ Bernoulli(``segment_prob``) (e.g. a loyalty-programme member), and
       log_income_i ~ N(0, 1) (a standardized log income), all independent.
    2. Rates, jointly log-normal with means linear in the covariates (Abe's regression layer):

           [log lambda_i, log mu_i] = [b_l . d_i, b_m . d_i] + e_i,  e_i ~ N(0, ``cov``),

       with d_i = (1, age_i, segment_i, log_income_i), b_l = ``beta_lambda`` and
       b_m = ``beta_mu``. lambda_i is the weekly purchase rate and mu_i the weekly dropout rate.
    3. The customer joins (and makes a first, uncounted purchase) at calendar week
       s_i ~ U[0, ``join_weeks``). From then on, in the customer's own clock, they are alive
       for tau_i ~ Exponential(rate mu_i) weeks, and while alive make repeat purchases as a
       Poisson process of rate lambda_i.
    4. Calibration ends at calendar week ``calibration_weeks``, so the customer is observed for
       T_i = ``calibration_weeks`` - s_i weeks; the holdout window is the next
       ``holdout_weeks`` weeks, i.e. [T_i, T_i + ``holdout_weeks``] in the customer's clock.

    With the defaults, E[lambda] ~ 0.20 purchases per week and E[1 / mu] ~ 55 weeks (mean
    lifetime about a year); corr(log lambda, log mu) = -0.3 (frequent buyers stay longer).

    The simulation is exact and vectorised. A Poisson process counts independent
    Poisson(lambda x length) numbers of events on disjoint intervals, so given tau_i:

    - ``frequency`` ~ Poisson(lambda_i L_i) with L_i = min(tau_i, T_i), the time alive in
      calibration;
    - ``purchases`` ~ Poisson(lambda_i O_i) with O_i = max(0, min(tau_i, T_i + H) - T_i), the
      time alive in the holdout window (H = ``holdout_weeks``), independent of the former;
    - given k = ``frequency`` >= 1 events on [0, L_i], their times are k independent U[0, L_i]
      draws, so the last one (the ``recency`` t_x) is L_i U^(1/k) with U ~ U(0, 1]
      (P(max <= t) = (t / L_i)^k). With k = 0, recency is 0.

    Averaging over the Poisson process, E[count in [a, b] | lambda, mu] =
    lambda / mu (exp(-mu a) - exp(-mu b)).

    Parameters
    ----------
    n : int, default 10000
        Number of customers (>= 1).
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same table.
    calibration_weeks : float, default 32.0
        Calendar week at which calibration ends (Abe's setting: 32). Must exceed
        ``join_weeks``.
    holdout_weeks : float, default 32.0
        Length of the holdout window in weeks (> 0).
    join_weeks : float, default 4.0
        Customers join uniformly over the first ``join_weeks`` weeks, so T varies in
        (``calibration_weeks`` - ``join_weeks``, ``calibration_weeks``]. 0 gives a constant T.
    segment_prob : float, default 0.4
        P(segment = 1), in [0, 1].
    beta_lambda : sequence of 4 floats, default (-1.9, 0.2, 0.3, 0.15)
        Intercept and coefficients of age, segment and log_income in the mean of log lambda.
    beta_mu : sequence of 4 floats, default (-3.8, -0.1, -0.2, 0.05)
        Intercept and coefficients of age, segment and log_income in the mean of log mu.
    cov : array-like of shape (2, 2), default ((0.25, -0.075), (-0.075, 0.25))
        Covariance of (log lambda, log mu) around their means; symmetric positive
        semi-definite (default: standard deviations 0.5 and 0.5, correlation -0.3).
    latent : bool, default False
        Also return the unobserved ``purchase_rate`` (lambda), ``dropout_rate`` (mu) and
        ``lifetime`` (tau) columns, for checking models against the truth.

    Returns
    -------
    pandas.DataFrame of shape (n, 7), or (n, 10) with ``latent=True``
        float64 columns ``age, segment, log_income`` (covariates), ``frequency`` (repeat
        purchases in calibration), ``recency`` (weeks from the first purchase to the last
        repeat purchase in calibration, 0 if none), ``T`` (weeks from the first purchase to
        the end of calibration), ``purchases`` (the target: purchases in the holdout window),
        then optionally ``purchase_rate, dropout_rate, lifetime``.

    Raises
    ------
    DataError
        If a parameter is out of range or malformed.
    """
    n = _check_count("n", n)
    cal = _check_real("calibration_weeks", calibration_weeks, low=0.0, low_open=True)
    hold = _check_real("holdout_weeks", holdout_weeks, low=0.0, low_open=True)
    join = _check_real("join_weeks", join_weeks, low=0.0)
    if join >= cal:
        raise DataError(
            f"join_weeks ({join}) must be smaller than calibration_weeks ({cal})"
        )
    p = _check_real("segment_prob", segment_prob, low=0.0)
    if p > 1:
        raise DataError(f"segment_prob must be in [0, 1], got {segment_prob!r}")
    b_l = _coefficients("beta_lambda", beta_lambda)
    b_m = _coefficients("beta_mu", beta_mu)
    chol = _cholesky_2x2(cov)
    rng = _rng(seed)

    age = rng.standard_normal(n)
    segment = (rng.random(n) < p).astype(np.float64)
    log_income = rng.standard_normal(n)
    design = np.column_stack([np.ones(n), age, segment, log_income])  # (n, 4)
    eps = rng.standard_normal((n, 2)) @ chol.T  # (n, 2), covariance cov
    lam = np.exp(design @ b_l + eps[:, 0])
    mu = np.exp(design @ b_m + eps[:, 1])

    join_time = rng.uniform(0.0, join, n) if join > 0 else np.zeros(n)
    T = cal - join_time
    tau = rng.exponential(1.0 / mu)
    alive_cal = np.minimum(tau, T)
    frequency = rng.poisson(lam * alive_cal).astype(np.float64)
    u = 1.0 - rng.random(n)  # U(0, 1]
    with np.errstate(divide="ignore"):
        recency = np.where(frequency > 0, alive_cal * u ** (1.0 / frequency), 0.0)
    alive_hold = np.clip(tau - T, 0.0, hold)
    purchases = rng.poisson(lam * alive_hold).astype(np.float64)

    columns = {
        "age": age,
        "segment": segment,
        "log_income": log_income,
        "frequency": frequency,
        "recency": recency,
        "T": T,
        "purchases": purchases,
    }
    if latent:
        columns.update(purchase_rate=lam, dropout_rate=mu, lifetime=tau)
    return pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()})


# -- CDNOW ------------------------------------------------------------------------------------
_CDNOW_START = pd.Timestamp("1997-01-01")
_CDNOW_FILE = ("datasets", "CDNOW_master.txt")


def _cdnow_path() -> Path:
    """Find ``CDNOW_master.txt`` inside the installed ``lifetimes`` package without importing it.

    (``import lifetimes.datasets`` needs ``pkg_resources``, which new setuptools removed.)
    """
    try:
        spec = importlib.util.find_spec("lifetimes")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the CDNOW dataset ships with the 'lifetimes' package, which is not installed; "
            "run: pip install 'enfo-sdk[cdnow]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_CDNOW_FILE)
    if not path.is_file():
        raise DataError(f"CDNOW file not found in the installed lifetimes package: {path}")
    return path


def _read_cdnow_transactions(path: Path) -> pd.DataFrame:
    """Read the whitespace-separated master file: id, YYYYMMDD date, CDs, dollars."""
    if not path.is_file():
        raise DataError(f"CDNOW file not found: {path}")
    names = ["customer_id", "date", "cds", "dollars"]
    try:
        with open(path, encoding="ascii") as f:
            first = next((line.split() for line in f if line.strip()), None)
        if first is None:
            raise DataError(f"CDNOW file is empty: {path}")
        header = not first[0].isdigit()  # the lifetimes copy has a header line, the original not
        tx = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            names=names,
            skiprows=1 if header else 0,
            dtype={"customer_id": "int64", "date": str, "cds": "float64", "dollars": "float64"},
        )
        tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    except DataError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot read CDNOW file {path}: {str(e).strip()}") from e
    if tx.empty:
        raise DataError(f"CDNOW file has no transactions: {path}")
    if tx.isna().to_numpy().any():
        raise DataError(f"CDNOW file has missing values: {path}")
    return tx


def cdnow(
    calibration_months: int = 12,
    holdout_months: int = 6,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """CDNOW customers: calibration-period RFM features and holdout-period spend.

    The master file lists every purchase (customer id, date, number of CDs, dollars) from
    1997-01-01 to 1998-06-30 by the cohort who first bought in 1997 Q1. Purchases on the same
    day by the same customer count as one transaction (as in ``lifetimes``). The calibration
    period is [1997-01-01, 1997-01-01 + ``calibration_months``), the holdout period the next
    ``holdout_months`` months. For each customer with at least one calibration transaction
    (others are dropped):

    - ``frequency``: repeat transactions in calibration (transactions - 1);
    - ``recency``: days from the first to the last calibration transaction;
    - ``T``: days from the first transaction to the last day of calibration;
    - ``monetary_value``: mean dollars per calibration transaction;
    - ``total_spend``, ``total_cds``: dollars and CDs bought in calibration;
    - ``spend`` (the target): dollars spent in the holdout period (0 if none).

    Parameters
    ----------
    calibration_months : int, default 12
        Length of the calibration period in calendar months (>= 1).
    holdout_months : int, default 6
        Length of the holdout period in calendar months (>= 1). The holdout period must end
        no later than the day after the file's last transaction (1998-07-01 for CDNOW).
    path : str or pathlib.Path, optional
        A file in the CDNOW master format. By default, ``datasets/CDNOW_master.txt`` of the
        installed ``lifetimes`` package (located without importing it).

    Returns
    -------
    pandas.DataFrame of shape (n_customers, 7)
        float64 columns ``frequency, recency, T, monetary_value, total_spend, total_cds,
        spend``, indexed by ``customer_id`` in increasing order.

    Raises
    ------
    DataError
        If ``lifetimes`` is not installed (and no ``path`` is given), the file is missing or
        malformed, or the windows are out of range.
    """
    calibration_months = _check_count("calibration_months", calibration_months)
    holdout_months = _check_count("holdout_months", holdout_months)
    path = _cdnow_path() if path is None else Path(path)
    tx = _read_cdnow_transactions(path)

    cal_end = _CDNOW_START + pd.DateOffset(months=calibration_months)
    hold_end = cal_end + pd.DateOffset(months=holdout_months)
    last_day = tx["date"].max()
    if hold_end > last_day + pd.Timedelta(days=1):
        raise DataError(
            f"holdout period [{cal_end.date()}, {hold_end.date()}) ends after the last "
            f"transaction ({last_day.date()}) in {path}; shorten calibration_months or "
            "holdout_months"
        )
    if tx["date"].min() < _CDNOW_START:
        raise DataError(f"{path} has transactions before {_CDNOW_START.date()}")

    daily = tx.groupby(["customer_id", "date"], sort=True)[["cds", "dollars"]].sum()
    daily = daily.reset_index()
    in_cal = daily[daily["date"] < cal_end]
    if in_cal.empty:
        raise DataError(f"no transactions in the calibration period in {path}")
    g = in_cal.groupby("customer_id", sort=True)
    first, last = g["date"].min(), g["date"].max()
    count = g.size().astype(np.float64)
    total_spend = g["dollars"].sum()
    cal_last_day = cal_end - pd.Timedelta(days=1)

    in_hold = daily[(daily["date"] >= cal_end) & (daily["date"] < hold_end)]
    spend = in_hold.groupby("customer_id")["dollars"].sum().reindex(first.index, fill_value=0.0)

    out = pd.DataFrame(
        {
            "frequency": count - 1.0,
            "recency": (last - first).dt.days.astype(np.float64),
            "T": (cal_last_day - first).dt.days.astype(np.float64),
            "monetary_value": total_spend / count,
            "total_spend": total_spend,
            "total_cds": g["cds"].sum(),
            "spend": spend,
        }
    ).astype(np.float64)
    out.index.name = "customer_id"
    return out


# -- registry -----------------------------------------------------------------------------------
_LOADERS = {"friedman3": friedman3, "clv": clv, "cdnow": cdnow,
            "breast_cancer": breast_cancer, "wine": wine, "churn": churn}

#: Target column of each built-in dataset (the last three are classification tables,
#: :mod:`enfo_sdk.data.builtin_classes`).
BUILTIN_TARGETS = {"friedman3": "y", "clv": "purchases", "cdnow": "spend", **CLASS_TARGETS}


def load_builtin(name: str, **kwargs) -> tuple[pd.DataFrame, str]:
    """Load a built-in dataset by name.

    Parameters
    ----------
    name : {"friedman3", "clv", "cdnow", "breast_cancer", "wine", "churn"}
        Dataset name.
    **kwargs
        Passed to the dataset's loader (:func:`friedman3`, :func:`clv`, :func:`cdnow`).

    Returns
    -------
    table : pandas.DataFrame of shape (n_samples, n_columns)
        The dataset (the regression tables all float64; the classification tables have a
        string target, and churn string, integer and boolean columns).
    target : str
        Name of the target column in ``table``.

    Raises
    ------
    DataError
        If ``name`` is unknown (the message lists the known names), an option is not accepted
        by the loader, or the loader fails.
    """
    loader = _LOADERS.get(name)
    if loader is None:
        raise DataError(
            f"unknown built-in dataset {name!r}; known: {', '.join(sorted(_LOADERS))}"
        )
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError as e:
        accepted = ", ".join(inspect.signature(loader).parameters)
        raise DataError(
            f"bad options for built-in dataset {name!r} ({e}); accepted: {accepted}"
        ) from e
    return loader(**kwargs), BUILTIN_TARGETS[name]
