r"""Evaluation for classification keys: metrics, the attacker zoo as classifiers, the key's scores.

Metrics on held-out rows with true class codes y (0..k-1) and predicted probabilities P (n, k):

* ``accuracy`` -- share of rows whose most likely class (argmax P, first on ties) is y;
* ``balanced_accuracy`` -- the mean over the classes present in y of the per-class recall;
* ``log_loss`` -- mean of -log P[i, y_i], probabilities clipped to [1e-15, 1] (scikit-learn's);
* ``brier`` -- mean over rows of sum_c (P[i, c] - [y_i = c])^2 (the multi-class Brier score;
  for two classes twice scikit-learn's ``brier_score_loss``);
* ``roc_auc`` -- two classes: the ROC AUC of P[:, 1]; more: the macro average of the k
  one-vs-rest AUCs (scikit-learn ``roc_auc_score(multi_class="ovr", average="macro")``);
  None when y holds a single class.

The attacker zoo (:func:`attacker_zoo_classify`) mirrors :mod:`enfo_sdk.evaluate.attackers`:
six classifier families (logistic regression, SVC with Platt scaling (:class:`PlattSVC`), random forest, gradient boosting, k-NN,
MLP), each tuned by stratified K-fold grid search (accuracy) **on the bundle rows alone**,
features standardized, then refitted on all bundle rows and scored on the held-out rows. A
bundle's label distributions become hard labels for them (the most likely class per row): the
attackers are ordinary classifiers.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, log_loss, roc_auc_score
from sklearn.utils.validation import check_is_fitted

__all__ = ["classification_metrics", "key_classification", "attacker_zoo_classify", "CLASS_ZOO", "PlattSVC"]


def classification_metrics(y: np.ndarray, P: np.ndarray) -> dict[str, float | None]:
    """The metrics of the module docstring for codes ``y`` (n,) and probabilities ``P`` (n, k)."""
    y = np.asarray(y).astype(np.int64)
    P = np.asarray(P, dtype=np.float64)
    k = P.shape[1]
    Y = np.zeros_like(P)
    Y[np.arange(len(y)), y] = 1.0
    labels = list(range(k))
    auc = None
    if len(np.unique(y)) > 1:
        if k == 2:
            auc = float(roc_auc_score(y, P[:, 1]))
        elif len(np.unique(y)) == k:
            auc = float(roc_auc_score(y, P, multi_class="ovr", average="macro", labels=labels))
    return {
        "accuracy": float(np.mean(P.argmax(1) == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, P.argmax(1))),
        "log_loss": float(log_loss(y, np.clip(P, 1e-15, 1.0), labels=labels)),
        "brier": float(np.mean(((P - Y) ** 2).sum(1))),
        "roc_auc": auc,
    }


def key_classification(spec, X, Y, X_test, y_test) -> dict[str, float | None]:
    """Metrics on (X_test, y_test) of the key ``spec`` trained on (X, Y) (codes or label rows)."""
    model = spec.build().fit(np.asarray(X, dtype=np.float64), np.asarray(Y))
    return classification_metrics(y_test, model.predict_proba(np.asarray(X_test, dtype=np.float64)))


class PlattSVC(ClassifierMixin, BaseEstimator):
    """An RBF ``SVC`` with probabilities by Platt scaling (one-vs-rest sigmoids, normalized).

    ``SVC(probability=True)`` is deprecated since scikit-learn 1.9; this is its replacement
    ``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)`` (the SVC refitted on all
    rows, the sigmoids fitted on its out-of-fold decision values) with stratified folds as many
    as the rarest class has rows, at most 5, so every training fold holds every class. When a
    class has a single row no such folds exist; the sigmoids are then fitted on the SVC's
    decision values on its own training rows (``calibration_`` says which happened).
    """

    def __init__(self, C: float = 1.0, gamma="scale", random_state: int | None = None):
        self.C, self.gamma, self.random_state = C, gamma, random_state

    def fit(self, X, y):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        svc = SVC(kernel="rbf", C=self.C, gamma=self.gamma, random_state=self.random_state)
        folds = int(min(5, np.unique(y, return_counts=True)[1].min()))
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            self.calibration_ = f"{folds}-fold out-of-fold decision values"
        else:  # one split whose training and calibration rows are all the rows
            cv = [(np.arange(len(y)), np.arange(len(y)))]
            self.calibration_ = "in-sample decision values (a class has one row)"
        self.model_ = CalibratedClassifierCV(svc, method="sigmoid", cv=cv, ensemble=False).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _zoo(seed: int) -> dict:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    return {
        "logistic": (LogisticRegression(max_iter=2000), {"C": [0.01, 0.1, 1.0, 10.0, 100.0]}),
        "svc": (PlattSVC(random_state=seed), {"C": [0.3, 3.0, 30.0], "gamma": ["scale", 0.03, 0.3]}),
        "random_forest": (RandomForestClassifier(n_estimators=100, random_state=seed),
                          {"max_features": ["sqrt", 1.0], "min_samples_leaf": [1, 3]}),
        "gradient_boosting": (GradientBoostingClassifier(random_state=seed),
                              {"n_estimators": [100], "learning_rate": [0.05, 0.2], "max_depth": [2, 3]}),
        "knn": (KNeighborsClassifier(), {"n_neighbors": [1, 3, 5, 10], "weights": ["uniform", "distance"]}),
        "mlp": (MLPClassifier(hidden_layer_sizes=(32, 32), solver="lbfgs", max_iter=1000, random_state=seed),
                {"alpha": [1e-3, 1e-1, 1.0]}),
    }


#: The classifier attackers, in report order.
CLASS_ZOO = ("logistic", "svc", "random_forest", "gradient_boosting", "knn", "mlp")


def attacker_zoo_classify(X_bundle, Y_bundle, X_test, y_test, k: int, *, key: dict | None = None,
                          names=CLASS_ZOO, cv: int = 5, seed: int = 0) -> dict:
    """Tune every classifier attacker on the bundle rows by CV, score on the held-out rows.

    Parameters
    ----------
    X_bundle : array-like of shape (m, n_features)
    Y_bundle : array-like of shape (m, k) or (m,)
        The bundle's label distributions (their most likely class is the attackers' label), or
        class codes.
    X_test, y_test : held-out rows and their class codes
    k : int
        Number of classes.
    key : dict, optional
        The key's metrics on the same rows (:func:`key_classification`), reported beside.

    Returns
    -------
    dict
        ``models``: {name: metrics + "params"}, ``best``: the attacker with the highest test
        accuracy (lowest log-loss on ties), ``best_accuracy``, ``best_log_loss``, and ``key``.
    """
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the zoo's fits are small, and a machine-wide BLAS pool only adds contention
    # (breast cancer, 100 rows: 16.2-19.4 s vs 3.9 s at load ~3.5 on 2 cores, same figures)
    with threadpool_limits(limits=1):
        return _zoo_classify(X_bundle, Y_bundle, X_test, y_test, k, key=key, names=names, cv=cv, seed=seed)


def _zoo_classify(X_bundle, Y_bundle, X_test, y_test, k, *, key, names, cv, seed) -> dict:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    Xb = np.asarray(X_bundle, dtype=np.float64)
    Yb = np.asarray(Y_bundle)
    yb = Yb.argmax(1) if Yb.ndim == 2 else Yb.astype(np.int64)
    Xt = np.asarray(X_test, dtype=np.float64)
    yt = np.asarray(y_test).astype(np.int64)
    present = np.unique(yb)
    folds = int(max(2, min(cv, np.bincount(yb)[present].min())))
    models = {}
    for name in names:
        model, grid = _zoo(seed)[name]
        grid = dict(grid)
        if name == "knn":
            fold_rows = len(yb) - int(np.ceil(len(yb) / folds))
            grid["n_neighbors"] = sorted({min(n, fold_rows) for n in grid["n_neighbors"]})
        search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("model", model)]),
                              {f"model__{a}": v for a, v in grid.items()},
                              cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                              scoring="accuracy", n_jobs=1, error_score=np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # a fold without some class
            search.fit(Xb, yb)
        P = np.zeros((len(Xt), k))
        P[:, search.classes_.astype(np.int64)] = search.predict_proba(Xt)  # classes absent from the bundle get 0
        metrics = classification_metrics(yt, P)
        metrics["params"] = {a.rsplit("__", 1)[-1]: v for a, v in search.best_params_.items()}
        models[name] = metrics
    best = max(models, key=lambda n: (models[n]["accuracy"], -models[n]["log_loss"]))
    out = {"models": models, "best": best, "best_accuracy": models[best]["accuracy"],
           "best_log_loss": models[best]["log_loss"]}
    if key is not None:
        out["key"] = dict(key)
    return out
