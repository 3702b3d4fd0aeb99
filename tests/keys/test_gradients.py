"""Every differentiable fit passes float64 gradcheck; the fast nu-method backward equals
plain autograd unrolling."""

import numpy as np
import pytest
import torch

from enfo_sdk.keys import get_key
from enfo_sdk.keys.kernels_torch import gaussian_torch
from enfo_sdk.keys.nu_adjoint import nu_fit_torch, nu_fit_unrolled

CASES = [
    ("nu-method", {"bandwidth": 1.2, "iterations": 25, "nu": 1.0}),
    ("nu-method", {"bandwidth": 0.9, "iterations": 7, "nu": 0.7}),
    ("krr", {"bandwidth": 1.0, "alpha": 1e-2}),
    ("ridge", {"alpha": 0.1}),
    ("ols", {}),
]


@pytest.mark.parametrize("name,params", CASES)
def test_gradcheck_wrt_rows_and_targets(name, params):
    g = torch.Generator().manual_seed(0)
    Zs = torch.randn(12, 3, dtype=torch.float64, generator=g, requires_grad=True)
    ts = torch.randn(12, dtype=torch.float64, generator=g, requires_grad=True)
    Zq = torch.randn(7, 3, dtype=torch.float64, generator=g)
    key = get_key(name)
    p = key.check_params(params)

    def f(Zs, ts):
        return key.torch_fit(Zs, ts, p)(Zq)

    assert torch.autograd.gradcheck(f, (Zs, ts), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_nu_solve_gradcheck_direct():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(10, 10, dtype=torch.float64, generator=g)
    K = (A @ A.T / 10).requires_grad_()
    t = torch.randn(10, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda K, t: nu_fit_torch(K, t, 30, 1.0), (K, t))


@pytest.mark.parametrize("m,T", [(30, 200), (100, 500)])
def test_adjoint_gradient_equals_unrolled(m, T):
    g = torch.Generator().manual_seed(m)
    Z = torch.randn(m, 4, dtype=torch.float64, generator=g)
    t = torch.randn(m, dtype=torch.float64, generator=g)
    Zq = torch.randn(50, 4, dtype=torch.float64, generator=g)
    w = torch.randn(50, dtype=torch.float64, generator=g)
    grads = []
    for solve in (nu_fit_torch, nu_fit_unrolled):
        Zs = Z.clone().requires_grad_()
        ts = t.clone().requires_grad_()
        c = solve(gaussian_torch(Zs, Zs, 1.5), ts, T, 1.0)
        loss = (w * (gaussian_torch(Zq, Zs, 1.5) @ c)).sum()
        loss.backward()
        grads.append((Zs.grad.clone(), ts.grad.clone(), loss.item()))
    (gz, gt, l1), (rz, rt, l2) = grads
    assert abs(l1 - l2) <= 1e-10 * abs(l2)
    assert torch.linalg.norm(gz - rz) <= 1e-8 * torch.linalg.norm(rz)
    assert torch.linalg.norm(gt - rt) <= 1e-8 * torch.linalg.norm(rt)
