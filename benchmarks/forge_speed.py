"""Issue 7's per-step speed figures for the nu-method's differentiable fit (prints figures;
not a test).

One forging step = forward + backward of
    L = mean_b (k(z_b, Z_s) c_T(K(Z_s), t_s) - t_b)^2
for a batch of 256 query rows (4 standardized features, Gaussian kernel, bandwidth 1,
nu = 1, float64, torch on the CPU), with gradients w.r.t. the synthetic rows Z_s and their
targets t_s. Methods, timed round-robin inside each repeat so that load from other jobs on
the machine hits all of them alike; the table shows medians (and the 25-75% range):

    fast      enfo_sdk.keys.nu_spectral.nu_fit_fast (spectral or adjoint, by m and T)
    spectral  nu_fit_spectral (eigh + Daleckii-Krein backward)
    adjoint   nu_fit_torch (forward recursion + adjoint recursion)
    unroll    nu_fit_unrolled (plain autograd; the reference)
    floor     no fit (c = K t): building k(Z_s, Z_s), k(z_b, Z_s) and the loss, forward and
              backward -- common to all methods, a lower bound for any of them
    floor+eigh, floor+2T matvec   the floor plus only the irreducible core of each exact method
              (one eigh; 2T sequential K-products with nothing else): the last column prints
              the best speed-up over the unroll that either family could reach on this machine

    python benchmarks/forge_speed.py [--rows 100 300 1000] [--iterations 200] [--batch 256]
                                     [--repeats 15] [--threads 1]
    python benchmarks/forge_speed.py --calibrate   # spectral vs adjoint over an (m, T) grid

Threads: ``--threads`` (default 1) limits both torch's and numpy's (OpenBLAS) thread pools.
On a machine shared with other CPU jobs, multi-threaded BLAS/OpenMP regions stall at their
barriers whenever a worker thread is descheduled (steps then take whole scheduler ticks,
4-16 ms, even for a 100 x 100 product), which swamps the comparison; one thread per process
gives stable medians. Use ``--threads 2`` on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

try:  # a scikit-learn dependency; limits numpy's OpenBLAS pool
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from enfo_sdk.keys.kernels_torch import gaussian_torch
from enfo_sdk.keys.nu_adjoint import nu_fit_torch, nu_fit_unrolled
from enfo_sdk.keys.nu_spectral import nu_fit_fast, nu_fit_spectral, uses_spectral


def _kernel_only(K, t, T, nu):
    """No fit at all (c = K t): the cost of the kernel matrices and the loss, a floor."""
    return K @ t


def _eigh_only(K, t, T, nu):
    """The floor plus one eigendecomposition of K: what the spectral path cannot go below."""
    torch.linalg.eigh(K.detach())
    return K @ t


def _matvecs_only(K, t, T, nu):
    """The floor plus 2T sequential K-products in numpy (forward + adjoint recursions, no
    arithmetic besides): what a recursion-based path cannot go below."""
    Kn, v = K.detach().numpy() / K.shape[0], t.detach().numpy()  # / m: no overflow over 2T products
    for _ in range(2 * int(T)):
        v = Kn @ v
    return K @ t


METHODS = {
    "floor": _kernel_only,
    "floor+eigh": _eigh_only,
    "floor+2T matvec": _matvecs_only,
    "fast": nu_fit_fast,
    "spectral": nu_fit_spectral,
    "adjoint": nu_fit_torch,
    "unroll": nu_fit_unrolled,
}


def problem(m: int, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(m, 4, dtype=torch.float64, generator=g)
    t = torch.sin(Z[:, 0]) + 0.5 * Z[:, 1] * Z[:, 2]
    Zb = torch.randn(batch, 4, dtype=torch.float64, generator=g)
    tb = torch.sin(Zb[:, 0]) + 0.5 * Zb[:, 1] * Zb[:, 2]
    return Z, (t - t.mean()) / t.std(), Zb, (tb - tb.mean()) / tb.std()


def step(fit, Z, t, Zb, tb, T: int, nu: float = 1.0, s: float = 1.0) -> float:
    """Seconds for one forward + backward."""
    Zs = Z.clone().requires_grad_()
    ts = t.clone().requires_grad_()
    t0 = time.perf_counter()
    c = fit(gaussian_torch(Zs, Zs, s), ts, T, nu)
    loss = ((gaussian_torch(Zb, Zs, s) @ c - tb) ** 2).mean()
    loss.backward()
    return time.perf_counter() - t0


def timings(methods, m, T, batch, repeats, warmup=1):
    Z, t, Zb, tb = problem(m, batch)
    out = {k: [] for k in methods}
    for _ in range(warmup):
        for k in methods:
            step(METHODS[k], Z, t, Zb, tb, T)
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        for k in rng.permutation(methods):  # a fresh order each round: no method always follows the unroll
            out[k].append(1e3 * step(METHODS[k], Z, t, Zb, tb, T))
    return {k: np.array(v) for k, v in out.items()}


def header():
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )


def main_table(args):
    header()
    names = ["fast", "spectral", "adjoint", "unroll", "floor", "floor+eigh", "floor+2T matvec"]
    print(f"# nu-method, T = {args.iterations}, batch {args.batch}, ms per step: median [25%-75%] "
          f"over {args.repeats} repeats")
    cols = "".join(f"{n:>24s}" for n in names)
    print(f"{'rows':>6s}{cols}{'unroll/fast':>13s}{'fast uses':>11s}   bound")
    for m in args.rows:
        reps = args.repeats if m <= 300 else max(5, args.repeats // 2)
        r = timings(names, m, args.iterations, args.batch, reps)
        cells = ""
        for n in names:
            q1, med, q3 = np.percentile(r[n], [25, 50, 75])
            cells += f"{med:.2f} [{q1:.1f}-{q3:.1f}]".rjust(24)
        speedup = np.median(r["unroll"]) / np.median(r["fast"])
        uses = "spectral" if uses_spectral(m, args.iterations) else "adjoint"
        adj = np.median(r["unroll"]) / np.median(r["adjoint"])
        core = min(np.median(r["floor+eigh"]), np.median(r["floor+2T matvec"]))
        print(f"{m:6d}{cells}{speedup:12.1f}x{uses:>11s}   unroll/(floor+core) "
              f"{np.median(r['unroll']) / core:.1f}x  (unroll/adjoint {adj:.1f}x)")


def calibrate(args):
    header()
    Ts = [25, 50, 100, 200, 400, 800, 1600]
    print("# ms per step (median), spectral / adjoint; ratio < 1 means spectral is faster")
    print(f"{'rows':>6s}" + "".join(f"{'T=' + str(T):>20s}" for T in Ts))
    for m in args.rows:
        reps = args.repeats if m <= 300 else max(5, args.repeats // 2)
        cells = ""
        for T in Ts:
            r = timings(["spectral", "adjoint"], m, T, args.batch, reps)
            sp, ad = np.median(r["spectral"]), np.median(r["adjoint"])
            cells += f"{sp:7.1f}/{ad:7.1f} {sp / ad:4.2f}"
        print(f"{m:6d}{cells}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=None)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if threadpool_limits is not None:
        threadpool_limits(a.threads)
    if a.calibrate:
        a.rows = a.rows or [50, 100, 200, 300, 500, 700, 1000]
        calibrate(a)
    else:
        a.rows = a.rows or [100, 300, 1000]
        main_table(a)
