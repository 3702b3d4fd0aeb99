"""Classification metrics against their definitions, and the classifier attacker zoo."""

from __future__ import annotations

import numpy as np
import pytest

from enfo_sdk.evaluate.classification import CLASS_ZOO, attacker_zoo_classify, classification_metrics


def test_metrics_by_hand():
    y = np.array([0, 1, 1, 0])
    P = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])
    m = classification_metrics(y, P)
    assert m["accuracy"] == 0.75                      # row 2 wrong; row 3 tie -> class 0, right
    assert m["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.4, 0.5])))
    assert m["brier"] == pytest.approx(np.mean([2 * 0.2**2, 2 * 0.3**2, 2 * 0.6**2, 2 * 0.5**2]))
    # AUC of P[:, 1]: positives {0.7, 0.4}, negatives {0.2, 0.5}: pairs won 1 + 1 + 1 + 0 = 3 of 4
    assert m["roc_auc"] == pytest.approx(0.75)


def test_macro_ovr_auc_and_single_class():
    g = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    P = g.dirichlet(np.ones(3), 60)
    from itertools import product

    aucs = []
    for c in range(3):
        pos, neg = P[y == c, c], P[y != c, c]
        wins = sum((a > b) + 0.5 * (a == b) for a, b in product(pos, neg))
        aucs.append(wins / (len(pos) * len(neg)))
    assert classification_metrics(y, P)["roc_auc"] == pytest.approx(np.mean(aucs))
    assert classification_metrics(np.zeros(5, int), P[:5])["roc_auc"] is None


def test_zoo_is_tuned_on_the_bundle_alone_and_scores_held_out_rows():
    g = np.random.default_rng(1)
    X = g.standard_normal((200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    names = ("logistic", "knn", "random_forest")  # the whole zoo is the benchmark's (slow here)
    out = attacker_zoo_classify(X[:30], y[:30], X[30:], y[30:], 2, names=names, seed=0)
    assert set(out["models"]) == set(names) and set(names) <= set(CLASS_ZOO)
    assert out["best_accuracy"] == max(m["accuracy"] for m in out["models"].values()) > 0.85
    assert out["models"]["knn"]["params"]["n_neighbors"] <= 24


@pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")
def test_whole_zoo_runs_without_deprecated_options():
    """scikit-learn 1.9 deprecates SVC(probability=True): the zoo must not use it (nor anything
    else deprecated), so warnings are errors here."""
    g = np.random.default_rng(4)
    X = g.standard_normal((120, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    out = attacker_zoo_classify(X[:24], y[:24], X[24:], y[24:], 2, cv=2, seed=0)  # 2 folds: quick
    assert set(out["models"]) == set(CLASS_ZOO)
    assert out["models"]["svc"]["accuracy"] > 0.8


def test_platt_svc_is_a_sigmoid_of_the_svc_refitted_on_all_rows():
    from sklearn.svm import SVC

    from enfo_sdk.evaluate.classification import PlattSVC

    g = np.random.default_rng(5)
    X = g.standard_normal((60, 2))
    y = (X[:, 0] + 0.5 * g.standard_normal(60) > 0).astype(int)
    model = PlattSVC(C=3.0, gamma=0.3, random_state=0).fit(X, y)
    assert model.calibration_ == "5-fold out-of-fold decision values"
    f = SVC(kernel="rbf", C=3.0, gamma=0.3).fit(X, y).decision_function(X)
    sigmoid = model.model_.calibrated_classifiers_[0].calibrators[0]
    p1 = 1.0 / (1.0 + np.exp(sigmoid.a_ * f + sigmoid.b_))  # Platt: P(y=1|f) = 1 / (1 + exp(A f + B))
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], p1, rtol=1e-10)
    assert sigmoid.a_ < 0  # larger decision values, more likely class 1
    # a class with a single row: no stratified folds exist, the sigmoid is fitted in-sample
    y3 = np.where(np.arange(60) == 0, 2, y)
    three = PlattSVC(random_state=0).fit(X, y3)
    assert three.calibration_.startswith("in-sample") and three.predict_proba(X).shape == (60, 3)
