r"""Built-in classification tables: two that scikit-learn ships, and a churn simulation.

``breast_cancer``
    The Wisconsin diagnostic breast cancer table (569 rows, 30 numeric features) from
    :func:`sklearn.datasets.load_breast_cancer` (shipped inside scikit-learn, no download);
    target ``diagnosis``: ``malignant`` or ``benign``.

``wine``
    The UCI wine recognition table (178 rows, 13 numeric features) from
    :func:`sklearn.datasets.load_wine`; target ``cultivar``: ``class_0``, ``class_1``,
    ``class_2``.

``churn``
    A subscription-churn simulation with a known ground truth (:func:`churn_probability`).
    Customer i has tenure T_i ~ 1 + Gamma(2, 12) months (rounded), a contract C_i in
    {month-to-month, one-year, two-year} with probabilities (0.55, 0.25, 0.20), monthly charges
    M_i ~ N(65 + 10 [C_i = month-to-month], 20^2) clipped to [18, 120], support calls
    S_i ~ Poisson(0.4 + 2.0 / sqrt(T_i)), paperless billing P_i ~ Bernoulli(0.6), and

        logit P(churned_i) = -1.2 + 0.55 S_i - 0.65 log T_i + 0.025 (M_i - 65)
                             + 1.1 [C_i = month-to-month] - 0.9 [C_i = two-year]
                             + 0.35 P_i + 0.012 S_i (M_i - 65),

    churned_i ~ Bernoulli(that probability), written ``yes``/``no``. The Bayes classifier
    (predict ``yes`` when the true probability exceeds 1/2) is the accuracy ceiling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._random import rng as seeded_rng

__all__ = ["breast_cancer", "wine", "churn", "churn_probability", "CLASS_TARGETS"]

#: Target column of each built-in classification table.
CLASS_TARGETS = {"breast_cancer": "diagnosis", "wine": "cultivar", "churn": "churned"}

_CONTRACTS = ("month-to-month", "one-year", "two-year")


def _sklearn_table(loader, target: str) -> pd.DataFrame:
    bunch = loader()
    df = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=[str(c) for c in bunch.feature_names])
    df[target] = np.asarray(bunch.target_names)[bunch.target]
    return df


def breast_cancer() -> pd.DataFrame:
    """The breast cancer table: 30 float64 features, target ``diagnosis`` (strings)."""
    from sklearn.datasets import load_breast_cancer

    return _sklearn_table(load_breast_cancer, "diagnosis")


def wine() -> pd.DataFrame:
    """The wine table: 13 float64 features, target ``cultivar`` (strings)."""
    from sklearn.datasets import load_wine

    return _sklearn_table(load_wine, "cultivar")


def churn_probability(df: pd.DataFrame) -> np.ndarray:
    """The true churn probability of each row of a :func:`churn` table (module docstring)."""
    S = df["support_calls"].to_numpy(np.float64)
    T = df["tenure"].to_numpy(np.float64)
    M = df["monthly_charges"].to_numpy(np.float64) - 65.0
    C = df["contract"].to_numpy()
    P = df["paperless"].astype(bool).to_numpy(np.float64)
    z = (-1.2 + 0.55 * S - 0.65 * np.log(T) + 0.025 * M + 1.1 * (C == "month-to-month")
         - 0.9 * (C == "two-year") + 0.35 * P + 0.012 * S * M)
    return 1.0 / (1.0 + np.exp(-z))


def churn(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """The churn simulation (module docstring): ``n`` customers, target ``churned`` (yes/no)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10:
        from ..errors import DataError

        raise DataError(f"churn: n must be a whole number >= 10, got {n!r}")
    g = seeded_rng(seed)
    tenure = np.round(1.0 + g.gamma(2.0, 12.0, n))
    contract = np.asarray(_CONTRACTS)[g.choice(3, n, p=[0.55, 0.25, 0.20])]
    charges = np.clip(g.normal(65.0 + 10.0 * (contract == "month-to-month"), 20.0), 18.0, 120.0)
    calls = g.poisson(0.4 + 2.0 / np.sqrt(tenure))
    paperless = g.random(n) < 0.6
    df = pd.DataFrame({
        "tenure": tenure, "monthly_charges": np.round(charges, 2), "support_calls": calls.astype(np.int64),
        "contract": contract, "paperless": paperless,
    })
    p = churn_probability(df)
    df["churned"] = np.where(g.random(n) < p, "yes", "no")
    return df
