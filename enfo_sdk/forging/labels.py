r"""Forging for classification keys: the base term on label rows, stratified starting rows, balance.

A classification key's forged row is (z, p): standardized features and a label distribution
p on the simplex (softmax-parametrised, :mod:`enfo_sdk.forging.params`). The key trained on
the rows gives scores F (k per query row, docs/keys.md "Classification keys"). On a minibatch
B of the owner's rows with one-hot labels Y_B the base term is one of (``class_loss``):

* ``squared`` (default): mean over B and the k classes of (F(z_b) - y_b)^2 -- the key's own
  training criterion, the regression base term applied to the one-hot columns;
* ``cross_entropy``: mean over B of -log softmax(F(z_b) / tau)[y_b], tau the key's temperature
  (fitted by the owner at encapsulation).

Which one is the default was decided by measurement (docs/keys.md, "Classification keys"; the
figures and their command are there).

Starting rows (:func:`stratified_rows`) are k-means centroids *per class*: each class gets rows
in proportion to its share of the owner's rows, at least ``min_per_class`` (and at least one),
and a row starts with its class's one-hot label. With ``min_per_class`` > 0 the labels stay
fixed (only the features move), so every class keeps at least that many rows; without it the
labels are forged too. :func:`class_balance` reports the forged rows' balance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._random import rng as make_rng
from ..errors import ForgeError

__all__ = ["ClassBaseTerm", "stratified_rows", "class_balance", "allocate", "classification_result"]


class ClassBaseTerm:
    """The base term of a classification key (module docstring): squared or cross-entropy."""

    name = "base"

    def __init__(self, loss: str, temperature: float, min_per_class: int) -> None:
        self.loss, self.temperature, self.min_per_class = loss, float(temperature), int(min_per_class)

    def step_loss(self, x) -> torch.Tensor:
        F = x.fit(x.Zb)
        if self.loss == "cross_entropy":
            return -(x.tb * torch.log_softmax(F / self.temperature, dim=1)).sum(1).mean()
        r = F - x.tb
        return x.data.batch_loss(r, x.batch_size)

    def validation_loss(self, x) -> None:
        return None

    def record(self) -> dict[str, Any]:
        return {"class_loss": self.loss, "min_per_class": self.min_per_class}


def allocate(counts: np.ndarray, rows: int, minimum: int) -> np.ndarray:
    """Rows per class: proportional to ``counts`` (largest remainders), each at least
    ``max(minimum, 1)`` and at most the class's own rows."""
    k = len(counts)
    floor = np.minimum(np.maximum(int(minimum), 1), counts)
    if floor.sum() > rows:
        raise ForgeError(f"rows ({rows}) cannot give each of the {k} classes its minimum of "
                         f"{max(int(minimum), 1)} row(s); raise forge.rows or lower forge.min_per_class")
    share = counts / counts.sum() * rows
    out = np.maximum(np.floor(share).astype(int), floor)
    while out.sum() > rows:  # take from the classes furthest above their share
        j = int(np.argmax(np.where(out > floor, out - share, -np.inf)))
        out[j] -= 1
    while out.sum() < rows:
        j = int(np.argmax(np.where(out < counts, share - out, -np.inf)))
        out[j] += 1
    return out


def stratified_rows(init: str, Z: np.ndarray, Y: np.ndarray, rows: int, seed: int, minimum: int) -> np.ndarray:
    """Starting rows (rows, d + k): per class, k-means centroids (``init`` kmeans), a sample or
    noise of that class's features, with the class's one-hot label."""
    codes = Y.argmax(1)
    k = Y.shape[1]
    n_per = allocate(np.bincount(codes, minlength=k), rows, minimum)
    g = make_rng(seed)
    parts = []
    for c in range(k):
        Zc = Z[codes == c]
        r = int(n_per[c])
        if init == "kmeans":
            from sklearn.cluster import KMeans

            sub = Zc if len(Zc) <= 20000 else Zc[g.choice(len(Zc), 20000, replace=False)]
            F = np.asarray(KMeans(n_clusters=r, n_init=1, random_state=int(seed)).fit(sub).cluster_centers_)
        elif init == "sample":
            F = Zc[g.choice(len(Zc), r, replace=False)]
        else:
            F = g.standard_normal((r, Z.shape[1]))
        L = np.zeros((r, k))
        L[:, c] = 1.0
        parts.append(np.column_stack([F, L]))
    return np.vstack(parts).astype(np.float64)


def class_balance(P: np.ndarray, classes) -> dict[str, dict[str, float]]:
    """Per class: the forged rows whose most likely label it is (``rows``) and the total label
    mass it gets (``mass``, the sum of its probabilities)."""
    P = np.asarray(P, dtype=np.float64)
    hard = np.bincount(P.argmax(1), minlength=P.shape[1])
    return {str(c): {"rows": int(hard[j]), "mass": float(P[:, j].sum())} for j, c in enumerate(classes)}


def classification_result(spec, rows_std: np.ndarray, d: int, data) -> tuple[Any, dict[str, Any]]:
    """The key of the forged rows and the metrics to report: the temperature, the validation
    accuracy and the class balance.

    The forged rows' key keeps the encapsulated temperature (fitted against Platt targets on
    the out-of-fold scores of the key on all training rows, docs/keys.md): forging makes the
    key trained on the forged rows reproduce that key's scores, and refitting the temperature
    for the forged rows' key was worse on the measured tables -- on the forging validation rows
    (often perfectly separated on small tables, the fit then went to 0), and on all training
    rows (which forging fits closely: over-confident on noisy tables such as anes96). Measured:
    docs/keys.md, "Forging for classification".
    """
    key, params = spec.key, spec.hyperparameters
    Zval, Yval = data.Zval.cpu().numpy(), data.tval.cpu().numpy()
    F = key.predict(key.fit(rows_std[:, :d], rows_std[:, d:], params), Zval, params)
    classes = [c.split("=", 1)[1] for c in data.target_columns]
    tau = float(params["temperature"])
    metrics = {
        "temperature": tau, "temperature_encapsulated": tau,
        "val_accuracy": float((F.argmax(1) == Yval.argmax(1)).mean()),
        "class_balance": class_balance(rows_std[:, d:], classes),
    }
    return spec, metrics
