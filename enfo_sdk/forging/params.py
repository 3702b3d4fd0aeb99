r"""Forged rows that stay plausible by construction: a parametrisation of the rows.

Forging optimises free parameters U and maps them to rows S = P(U) in the key's standardized
space. For a key without a column encoding (bundle format v1) P is the identity: the rows are
the parameters, exactly as before. For a key with one (``KeySpec.columns``), every encoded
feature group of :meth:`enfo_sdk.data.columns.ColumnTransform.ranges`, and the target, gets

* a box ``[lo, hi]`` (numeric and datetime features, missing indicators, booleans, the target):
  x = lo + (hi - lo) * sigmoid(u), so lo <= x <= hi for every u;
* the simplex (a categorical group's one-hot features, and a classification key's label
  distribution): p = softmax(u_G), so p >= 0 and sum(p) = 1 for every u_G;

and z = (x - mean) / scale maps to standardized space. A feature whose range is a single value
(``lo == hi``) is that value. Nothing is clipped after the fact.

:meth:`Parametrisation.inverse` maps starting rows (k-means centroids, samples, earlier rows)
into parameters: values are first brought inside their range by a margin of
:data:`MARGIN` (a value on the boundary has a vanishing sigmoid gradient), and simplex
groups are floored at :data:`MARGIN` and renormalised.

:func:`harden` turns forged rows into records an owner may ask for: one level per categorical
group (the most likely, for groups asked ``hard``) and whole numbers in integer columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: How far inside its range (as a fraction of the range, or a probability floor) a starting
#: value is moved before it is mapped to a parameter.
MARGIN = 1e-3


@dataclass(frozen=True)
class Parametrisation:
    """The map from parameters U (rows, d + k) to standardized rows S (see the module docstring);
    k = 1 for regression, the number of classes for classification (the label distribution is
    a simplex group).

    Attributes
    ----------
    boxes : ndarray of int
        Columns of S with a box (features, then the target at index d).
    lo, hi : ndarray
        Their ranges in original units.
    mean, scale : ndarray
        Their standardization.
    simplexes : list of ndarray of int
        Column groups on the simplex, with ``simplex_mean``/``simplex_scale`` (lists of arrays).
    """

    width: int
    boxes: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    simplexes: tuple
    simplex_mean: tuple
    simplex_scale: tuple

    @property
    def identity(self) -> bool:
        return len(self.boxes) == 0 and len(self.simplexes) == 0

    @classmethod
    def none(cls, width: int) -> Parametrisation:
        """The identity (a key without a column encoding)."""
        empty = np.zeros(0)
        return cls(width, np.zeros(0, dtype=int), empty, empty, empty, empty, (), (), ())

    @classmethod
    def of(cls, spec, n_targets: int = 1) -> Parametrisation:
        """The parametrisation of ``spec``'s rows (the identity when it has no column encoding;
        ``n_targets`` target columns then, e.g. the classes of labels given as codes)."""
        d = spec.n_features
        cols = spec.columns
        if cols is None:
            return cls.none(d + n_targets)
        pre = spec.preprocessing
        mean = np.append(np.asarray(pre.feature_mean), pre.target_mean)
        scale = np.append(np.asarray(pre.feature_scale), pre.target_scale)
        boxes, lo, hi, simplexes = [], [], [], []
        for kind, idx, a, b in cols.ranges():
            if kind == "box":
                boxes.append(idx[0])
                lo.append(a)
                hi.append(b)
            else:
                simplexes.append(np.asarray(idx, dtype=int))
        k = spec.n_targets
        if spec.task == "classification":  # the label distribution: a simplex, not standardized
            simplexes.append(np.arange(d, d + k))
            mean, scale = np.append(mean[:d], np.zeros(k)), np.append(scale[:d], np.ones(k))
        else:
            boxes.append(d)
            lo.append(cols.target.min)
            hi.append(cols.target.max)
        boxes = np.asarray(boxes, dtype=int)
        return cls(
            d + k, boxes, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64),
            mean[boxes], scale[boxes], tuple(simplexes),
            tuple(mean[g] for g in simplexes), tuple(scale[g] for g in simplexes),
        )

    def record(self) -> dict:
        """What the forging settings record: nothing for the identity."""
        if self.identity:
            return {}
        return {"parametrisation": f"boxes={len(self.boxes)},simplexes={len(self.simplexes)}"}

    # -- the map ------------------------------------------------------------------------------
    def rows(self, U: torch.Tensor) -> torch.Tensor:
        """S = P(U), differentiable; the identity returns ``U`` itself."""
        if self.identity:
            return U
        dev, dt = U.device, U.dtype
        S = U
        idx = torch.as_tensor(self.boxes, device=dev)
        a = torch.as_tensor((self.lo - self.mean) / self.scale, device=dev, dtype=dt)
        b = torch.as_tensor((self.hi - self.lo) / self.scale, device=dev, dtype=dt)
        S = S.index_copy(1, idx, a + b * torch.sigmoid(U.index_select(1, idx)))
        for g, m, s in zip(self.simplexes, self.simplex_mean, self.simplex_scale):
            gi = torch.as_tensor(g, device=dev)
            p = torch.softmax(U.index_select(1, gi), dim=1)
            S = S.index_copy(1, gi, (p - torch.as_tensor(m, device=dev, dtype=dt)) / torch.as_tensor(s, device=dev, dtype=dt))
        return S

    def inverse(self, S0: np.ndarray) -> np.ndarray:
        """Parameters whose rows are ``S0`` brought inside the ranges by :data:`MARGIN`."""
        U = np.array(S0, dtype=np.float64, copy=True)
        if self.identity:
            return U
        x = U[:, self.boxes] * self.scale + self.mean
        span = self.hi - self.lo
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(span > 0, (x - self.lo) / np.where(span > 0, span, 1.0), 0.5)
        p = np.clip(p, MARGIN, 1 - MARGIN)
        U[:, self.boxes] = np.log(p) - np.log1p(-p)
        for g, m, s in zip(self.simplexes, self.simplex_mean, self.simplex_scale):
            q = np.maximum(U[:, g] * s + m, MARGIN)
            q /= q.sum(axis=1, keepdims=True)
            U[:, g] = np.log(q)
        return U


def harden(data, columns, *, integers: bool) -> tuple:
    """Rows made into records: one level per ``hard`` categorical group, whole integer values.

    Parameters
    ----------
    data : DataFrame
        Forged rows in original units (encoded feature columns, then the target).
    columns : ColumnTransform
    integers : bool
        Also round the integer numeric columns (and an integer target).

    Returns
    -------
    (DataFrame, list of str)
        The hardened rows and what was changed (for the run's notes).
    """
    out = data.copy()
    names = columns.feature_names
    done = []
    for g in columns.hard_groups():
        block = out[[names[j] for j in g]].to_numpy()
        one_hot = np.zeros_like(block)
        one_hot[np.arange(len(block)), block.argmax(axis=1)] = 1.0
        out[[names[j] for j in g]] = one_hot
        done.append(names[g[0]].split("=", 1)[0])
    if integers:
        for j in columns.integer_features():
            out[names[j]] = np.round(out[names[j]].to_numpy())
            done.append(names[j])
        if getattr(columns.target, "integer", False):
            out[columns.target.name] = np.round(out[columns.target.name].to_numpy())
            done.append(columns.target.name)
    return out, done
