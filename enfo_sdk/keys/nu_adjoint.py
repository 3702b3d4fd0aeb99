r"""The nu-method's fit in torch, differentiable: the adjoint recursion and the plain unroll.

:class:`NuMethodSolve` is a custom autograd function for c_T(K, t) of
:mod:`enfo_sdk.keys.nu_recursion`: the forward runs the recursion without a graph and keeps
the iterates; the backward runs the adjoint (reverse) recursion,

    g_T = dL/dc_T,   g_{s-1} = (1+u_s) g_s - (w_s/m) K^T g_s - u_{s+1} g_{s+1},
    dL/dt = sum_s (w_s/m) g_s,      dL/dK = -sum_s (w_s/m) g_s c_{s-1}^T,

which costs two matrix-vector products per iteration instead of autograd's graph of 5T
nodes. :func:`nu_fit_unrolled` is the plain autograd unroll it is tested against
(``tests/keys/test_gradients.py`` and ``tests/keys/test_nu_spectral.py`` run
``torch.autograd.gradcheck`` on both). :mod:`.nu_spectral` falls back to :func:`nu_fit_torch`
when it is the faster method; the key's ``torch_fit`` reaches both through
:func:`~enfo_sdk.keys.nu_spectral.nu_fit_fast`.
"""

from __future__ import annotations

import numpy as np
import torch

from .nu_recursion import nu_coefficients

__all__ = ["NuMethodSolve", "nu_fit_torch", "nu_fit_unrolled"]


def nu_fit_unrolled(K: torch.Tensor, t: torch.Tensor, T: int, nu: float) -> torch.Tensor:
    """Reference: the same recursion in plain autograd (slow, exact gradients)."""
    m = K.shape[0]
    u, w = nu_coefficients(T, nu)
    c_prev2 = torch.zeros_like(t)
    c_prev = torch.zeros_like(t)
    for s in range(T):
        c = c_prev + float(u[s]) * (c_prev - c_prev2) + float(w[s] / m) * (t - K @ c_prev)
        c_prev2, c_prev = c_prev, c
    return c_prev


def _forward_numpy(K: np.ndarray, t: np.ndarray, u: np.ndarray, a: np.ndarray) -> np.ndarray:
    """All iterates c_0..c_T (T+1, m) of the recursion, without a graph."""
    T = len(u)
    it = np.zeros((T + 1,) + t.shape)
    c_prev2 = it[0]
    for s in range(T):
        c_prev = it[s]
        it[s + 1] = c_prev + u[s] * (c_prev - c_prev2) + a[s] * (t - K @ c_prev)
        c_prev2 = c_prev
    return it


def _adjoint_numpy(K: np.ndarray, g_T: np.ndarray, u: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Adjoints g_1..g_T (T, m) of the recursion for dL/dc_T = g_T."""
    T = len(u)
    KT = K.T
    grads = np.empty((T,) + g_T.shape)
    g_next = np.zeros_like(g_T)
    g = g_T.copy()
    for s in range(T, 0, -1):  # 1-based iteration index
        grads[s - 1] = g
        if s == 1:
            break
        u_next = u[s] if s < T else 0.0  # u_{s+1}
        g_prev = (1.0 + u[s - 1]) * g - a[s - 1] * (KT @ g) - u_next * g_next
        g_next, g = g, g_prev
    return grads


def _forward_torch(K, t, u, a):
    T = len(u)
    it = torch.zeros((T + 1,) + tuple(t.shape), dtype=t.dtype, device=t.device)
    c_prev2 = it[0]
    for s in range(T):
        c_prev = it[s]
        it[s + 1] = c_prev + float(u[s]) * (c_prev - c_prev2) + float(a[s]) * (t - K @ c_prev)
        c_prev2 = c_prev
    return it


def _adjoint_torch(K, g_T, u, a):
    T = len(u)
    KT = K.T
    grads = torch.empty((T,) + tuple(g_T.shape), dtype=g_T.dtype, device=g_T.device)
    g_next = torch.zeros_like(g_T)
    g = g_T.clone()
    for s in range(T, 0, -1):
        grads[s - 1] = g
        if s == 1:
            break
        u_next = float(u[s]) if s < T else 0.0
        g_prev = (1.0 + float(u[s - 1])) * g - float(a[s - 1]) * (KT @ g) - u_next * g_next
        g_next, g = g, g_prev
    return grads


class NuMethodSolve(torch.autograd.Function):
    """c_T(K, t) with an adjoint-recursion backward (see module docstring).

    On the CPU both recursions run in numpy (a small matrix-vector product costs about a
    microsecond there, a few in torch's dispatcher); on other devices in torch.
    """

    @staticmethod
    def forward(ctx, K: torch.Tensor, t: torch.Tensor, T: int, nu: float) -> torch.Tensor:
        m = K.shape[0]
        u, w = nu_coefficients(T, nu)
        a = w / m
        if K.device.type == "cpu":
            iterates = torch.from_numpy(_forward_numpy(K.detach().numpy(), t.detach().numpy(), u, a))
        else:
            iterates = _forward_torch(K.detach(), t.detach(), u, a)
        ctx.save_for_backward(K, iterates)
        ctx.coef = (u, a)
        return iterates[T].clone()

    @staticmethod
    def backward(ctx, grad_c: torch.Tensor):
        K, iterates = ctx.saved_tensors
        u, a = ctx.coef
        T = len(u)
        if K.device.type == "cpu":
            grads = torch.from_numpy(_adjoint_numpy(K.detach().numpy(), grad_c.detach().numpy(), u, a))
        else:
            grads = _adjoint_torch(K.detach(), grad_c.detach(), u, a)
        a_t = torch.as_tensor(a, dtype=grads.dtype, device=grads.device)
        weighted = grads * a_t.reshape((T,) + (1,) * (grads.dim() - 1))
        grad_t = weighted.sum(0) if ctx.needs_input_grad[1] else None
        grad_K = None
        if ctx.needs_input_grad[0]:
            prev = iterates[:-1]  # c_0 .. c_{T-1}
            if weighted.dim() == 2:
                grad_K = -weighted.T @ prev
            else:
                grad_K = -torch.einsum("sik,sjk->ij", weighted, prev)
        return grad_K, grad_t, None, None


def nu_fit_torch(K: torch.Tensor, t: torch.Tensor, T: int, nu: float) -> torch.Tensor:
    """Differentiable c_T using the adjoint backward."""
    return NuMethodSolve.apply(K, t, int(T), float(nu))
