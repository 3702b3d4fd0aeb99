"""Privacy: Monte Carlo membership-inference attack accuracy and distance to closest record.

Monte Carlo attack (Hilprecht, Haerterich and Bernau, "Monte Carlo and Reconstruction
Membership Inference Attacks against Generative Models", PoPETs 2019, section 4.1): for a
candidate record x and synthetic rows g_1..g_n,

    f_eps(x) = (1/n) * #{i : d(x, g_i) <= eps},

the share of synthetic rows in the eps-ball around x. Given a balanced set of candidates, half
members (rows the synthetic data was made from) and half non-members (held-out rows), the
attacker declares the half with the highest f_eps members. Ties at the cut are broken at
random; we report the *expected* accuracy under that tie-break, computed exactly, so the
figure is deterministic. eps is taken at several percentiles of the candidate-to-synthetic
distances; the reported accuracy is the attacker's best over them (an optimistic attacker),
with every threshold's accuracy kept. 0.5 is chance; 1 means full disclosure.

Distance: Euclidean in the space of the standardized columns (features and target, mean and
population std of the candidate records).

Distance to closest record (DCR): for every synthetic row, the distance to its nearest member
(and, for comparison, nearest non-member, on a non-member set of the same size). A DCR of 0
means a copied record; members much closer than non-members indicate memorisation.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from .._random import rng as make_rng

__all__ = ["PERCENTILES", "monte_carlo_attack", "distance_to_closest_record", "balanced_candidates"]

#: Percentiles of the candidate-to-synthetic distances tried as eps.
PERCENTILES = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


def balanced_candidates(members, non_members, *, max_each: int = 1000, seed: int = 0):
    """Equal numbers of members and non-members (at most ``max_each`` each), seeded sample."""
    members = np.asarray(members, dtype=np.float64)
    non_members = np.asarray(non_members, dtype=np.float64)
    k = min(len(members), len(non_members), max_each)
    g = make_rng(seed)
    return (members[g.choice(len(members), k, replace=False)],
            non_members[g.choice(len(non_members), k, replace=False)])


def _expected_top_half_accuracy(score: np.ndarray, is_member: np.ndarray) -> float:
    """Accuracy of 'the k highest scores are members' (k = #members), random tie-break."""
    k = int(is_member.sum())
    n = len(score)
    order = np.sort(score)[::-1]
    cut = order[k - 1]
    above = score > cut
    tied = score == cut
    r = k - int(above.sum())  # members still to pick among the tied
    g = int(tied.sum())
    gm = int((tied & is_member).sum())
    correct = float((above & is_member).sum()) + float(((score < cut) & ~is_member).sum())
    correct += r * gm / g + (g - r) * (g - gm) / g
    return correct / n


def monte_carlo_attack(synthetic, members, non_members, *, percentiles=PERCENTILES, seed: int = 0,
                       max_each: int = 1000) -> dict:
    """Monte Carlo attack accuracy of ``synthetic`` against its ``members``.

    Parameters
    ----------
    synthetic : array-like of shape (n, d)
    members, non_members : array-like of shape (., d)
        Candidate records; a balanced sample of at most ``max_each`` of each is attacked.
    percentiles : sequence of float
        eps values as percentiles of the candidate-to-synthetic distances.

    Returns
    -------
    dict
        ``accuracy`` (best over eps), ``best_eps_percentile``, ``per_eps`` (list of
        ``{percentile, eps, accuracy}``), ``candidates`` (records attacked).
    """
    syn = np.asarray(synthetic, dtype=np.float64)
    mem, non = balanced_candidates(members, non_members, max_each=max_each, seed=seed)
    cand = np.vstack([mem, non])
    is_member = np.r_[np.ones(len(mem), bool), np.zeros(len(non), bool)]
    mean, scale = cand.mean(axis=0), cand.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    d = cdist((cand - mean) / scale, (syn - mean) / scale).astype(np.float32)
    eps = np.percentile(d, percentiles)
    per = []
    for p, e in zip(percentiles, eps):
        score = (d <= e).mean(axis=1)
        per.append({"percentile": float(p), "eps": float(e),
                    "accuracy": _expected_top_half_accuracy(score, is_member)})
    best = max(per, key=lambda r: r["accuracy"])
    return {"accuracy": best["accuracy"], "best_eps_percentile": best["percentile"],
            "per_eps": per, "candidates": int(len(cand))}


def distance_to_closest_record(synthetic, members, non_members=None, *, seed: int = 0) -> dict:
    """Distances from each synthetic row to its closest member (and non-member) record.

    Columns are standardized by the members' mean and population std. When non-members are
    given, the same number of members and non-members (the smaller count) is used for both,
    so the two medians are comparable.

    Returns
    -------
    dict
        ``median``, ``p05``, ``min`` of the DCR to members; ``share_exact`` (share of
        synthetic rows at distance < 1e-9, i.e. copies); with non-members also
        ``median_non_member`` and ``ratio`` (median to members / median to non-members).
    """
    syn = np.asarray(synthetic, dtype=np.float64)
    mem = np.asarray(members, dtype=np.float64)
    mean, scale = mem.mean(axis=0), mem.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = lambda a: (a - mean) / scale  # noqa: E731
    if non_members is not None:
        mem, non = balanced_candidates(mem, non_members, max_each=len(mem), seed=seed)
    d_mem = cKDTree(z(mem)).query(z(syn))[0]
    out = {"median": float(np.median(d_mem)), "p05": float(np.percentile(d_mem, 5)),
           "min": float(d_mem.min()), "share_exact": float(np.mean(d_mem < 1e-9))}
    if non_members is not None:
        d_non = cKDTree(z(non)).query(z(syn))[0]
        out["median_non_member"] = float(np.median(d_non))
        out["ratio"] = out["median"] / out["median_non_member"] if out["median_non_member"] > 0 else None
    return out
