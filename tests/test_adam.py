"""The forged rows' Adam (enfo_sdk.forging.adam) against torch.optim.Adam: the same bits."""

import torch

from enfo_sdk.forging.adam import Adam


def _loss(x: torch.Tensor, k: int) -> torch.Tensor:
    """A changing, badly scaled objective (gradients over ~6 orders of magnitude)."""
    w = torch.logspace(-3, 3, x.numel(), dtype=torch.float64).reshape(x.shape)
    return (w * (x - torch.sin(torch.tensor(0.1 * k, dtype=torch.float64))) ** 2).sum() + (x**4).sum()


def test_steps_equal_torch_adam_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(30, 5, dtype=torch.float64, generator=g)
    a = x0.clone().requires_grad_()
    b = x0.clone().requires_grad_()
    ours, theirs = Adam(a, lr=0.01), torch.optim.Adam([b], lr=0.01)
    for k in range(300):
        for x, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            _loss(x, k).backward()
            opt.step()
        assert torch.equal(a, b), f"step {k + 1}"
    st = theirs.state[b]
    step, m, v = ours.moments()
    assert step == float(st["step"]) == 300.0
    assert torch.equal(m, st["exp_avg"]) and torch.equal(v, st["exp_avg_sq"])


def test_restore_continues_the_same_run():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(8, 3, dtype=torch.float64, generator=g)
    a = x0.clone().requires_grad_()
    ours = Adam(a, lr=0.05)
    assert ours.moments() is None
    for k in range(40):
        ours.zero_grad()
        _loss(a, k).backward()
        ours.step()
        if k == 19:  # a checkpoint after 20 steps
            saved = a.detach().clone(), *(t.clone() for t in ours.moments()[1:])
    b = saved[0].clone().requires_grad_()
    resumed = Adam(b, lr=0.05)
    resumed.restore(20.0, saved[1], saved[2])
    for k in range(20, 40):
        resumed.zero_grad()
        _loss(b, k).backward()
        resumed.step()
    assert torch.equal(a, b)
