"""The built-in classification tables: shapes, classes, and the churn simulation's stated truth."""

from __future__ import annotations

import numpy as np

from enfo_sdk.data.builtin import BUILTIN_TARGETS, load_builtin
from enfo_sdk.data.builtin_classes import churn, churn_probability
from enfo_sdk.data.columns import infer_task


def test_sklearn_tables_have_string_targets_and_are_classification():
    for name, rows, width, classes in (("breast_cancer", 569, 31, {"malignant", "benign"}),
                                       ("wine", 178, 14, {"class_0", "class_1", "class_2"})):
        df, target = load_builtin(name)
        assert df.shape == (rows, width) and target == BUILTIN_TARGETS[name]
        assert set(df[target]) == classes and infer_task(df[target]) == "classification"


def test_churn_labels_follow_the_stated_model():
    df = churn(n=20000, seed=3)
    assert list(df.columns) == ["tenure", "monthly_charges", "support_calls", "contract", "paperless", "churned"]
    p = churn_probability(df)
    y = (df["churned"] == "yes").to_numpy()
    # the labels are Bernoulli(p): in each decile of p the churn rate matches the mean p
    edges = np.quantile(p, np.linspace(0, 1, 11))
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p >= lo) & (p <= hi)
        assert abs(y[sel].mean() - p[sel].mean()) < 4 * np.sqrt(p[sel].mean() * (1 - p[sel].mean()) / sel.sum()) + 1e-3
    # the logit written out by hand for one row
    r = df.iloc[0]
    z = (-1.2 + 0.55 * r.support_calls - 0.65 * np.log(r.tenure) + 0.025 * (r.monthly_charges - 65)
         + 1.1 * (r.contract == "month-to-month") - 0.9 * (r.contract == "two-year") + 0.35 * r.paperless
         + 0.012 * r.support_calls * (r.monthly_charges - 65))
    assert p[0] == np.float64(1 / (1 + np.exp(-z)))
    assert churn(n=50, seed=1).equals(churn(n=50, seed=1))
