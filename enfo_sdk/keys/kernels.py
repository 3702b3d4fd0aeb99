"""The Gaussian kernel shared by the kernel keys.

k(z, z') = exp(-|z - z'|^2 / (2 s^2)) with bandwidth s > 0, in standardized space.
The numpy version works in row blocks so that large kernel matrices are built without an
(n, m, d) temporary. The torch version, a custom autograd function with a closed-form
backward, lives in :mod:`enfo_sdk.keys.kernels_torch` (so this module, and fitting or predicting with a
key, needs no torch).
"""

from __future__ import annotations

import numpy as np

_BLOCK = 2048


def sq_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, shape (len(A), len(B)), clipped at 0."""
    a2 = np.einsum("ij,ij->i", A, A)
    b2 = np.einsum("ij,ij->i", B, B)
    out = np.empty((A.shape[0], B.shape[0]), dtype=np.float64)
    for i in range(0, A.shape[0], _BLOCK):
        # (a2 + b2) - 2 A B^T, written in place: the same operations in the same order as
        # the expression, so the same bits, without its three block-sized temporaries
        d = out[i : i + _BLOCK]
        np.add(a2[i : i + _BLOCK, None], b2[None, :], out=d)
        p = A[i : i + _BLOCK] @ B.T
        p *= 2.0
        d -= p
        np.maximum(d, 0.0, out=d)
    return out


def gaussian(A: np.ndarray, B: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel matrix k(A_i, B_j), shape (len(A), len(B))."""
    D = sq_dists(A, B)
    D *= -1.0 / (2.0 * bandwidth * bandwidth)
    return np.exp(D, out=D)
