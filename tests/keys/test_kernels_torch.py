"""The torch Gaussian kernel: closed-form backward against the plain autograd expression."""

import numpy as np
import pytest
import torch

from enfo_sdk.keys.kernels import gaussian
from enfo_sdk.keys.kernels_torch import gaussian_torch, gaussian_torch_reference

F64 = torch.float64


def rows(n, d, seed):
    return torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("s", [0.3, 1.0, 4.0])
def test_values_and_gradients_match_the_plain_expression(s):
    A, B = rows(37, 5, 0), rows(23, 5, 1)
    W1, W2 = rows(37, 37, 2), rows(23, 37, 3)
    grads = []
    for f in (gaussian_torch, gaussian_torch_reference):
        Zs, Zq = A.clone().requires_grad_(), B.clone().requires_grad_()
        K, Kq = f(Zs, Zs, s), f(Zq, Zs, s)
        ((W1 * K).sum() + (W2 * Kq).sum()).backward()
        grads.append((K.detach(), Kq.detach(), Zs.grad, Zq.grad))
    for new, ref in zip(*grads):
        assert torch.allclose(new, ref, rtol=1e-12, atol=1e-13)
    # and the numpy kernel the partner rebuilds with
    assert np.allclose(grads[0][1].numpy(), gaussian(B.numpy(), A.numpy(), s), rtol=1e-12, atol=1e-14)


def test_kernel_matrix_is_exactly_symmetric_with_unit_diagonal():
    Z = rows(200, 4, 4) * 30.0  # large norms: |a|^2 + |b|^2 - 2ab cancels hardest
    K = gaussian_torch(Z, Z, 2.0)
    assert torch.equal(K, K.T)
    assert torch.equal(K.diagonal(), torch.ones(200, dtype=F64))
    assert (K >= 0).all() and (K <= 1).all()


def test_gradcheck():
    A, B = rows(6, 3, 5).requires_grad_(), rows(4, 3, 6).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: gaussian_torch(a, b, 0.9), (A, B))
    assert torch.autograd.gradcheck(lambda a: gaussian_torch(a, a, 0.9), (A,))
