"""Random consortia: how often the mechanism and the paper's findings hold in our model.

Prints figures for benchmarks/RESULTS.md ("Consortium planning"); not a test. Instances are
drawn from numpy's Generator(PCG64(seed)) like tests/consortium/strategies.py: 2-5 members,
h in [0, 0.6], v in [10, 1000], caps in [10, 5000], costs around a row's marginal value,
gamma in [0, 2], power-law curves; instances violating assumption A1 are redrawn.

    python benchmarks/consortium_random.py --instances 200 --seed 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from enfo_sdk.consortium import Consortium, LearningCurve, choose_rate, equilibrium
from enfo_sdk.consortium.game import marginal_scale
from enfo_sdk.consortium.mechanism import own_row_subsidy
from enfo_sdk.errors import ConsortiumError


def draw(rng: np.random.Generator) -> Consortium:
    while True:
        n = int(rng.integers(2, 6))
        curve = LearningCurve(rng.uniform(0, 0.5), rng.uniform(0.05, 5), rng.uniform(0.05, 1.5), rng.uniform(1, 50))
        h, v, cap = rng.uniform(0, 0.6, n), rng.uniform(10, 1000, n), rng.uniform(10, 5000, n)
        cost = rng.uniform(0.05, 3.0, n) * v * -curve.d1(cap * rng.uniform(0.05, 0.5))
        try:
            return Consortium(tuple(f"m{i}" for i in range(n)), rng.integers(0, 5000, n).astype(float), h,
                              cost, v, cap, float(rng.uniform(0, 2)), curve, curve)
        except ConsortiumError:
            continue


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.Generator(np.random.PCG64(args.seed))
    t0 = time.perf_counter()
    stats = dict(viable=0, viable_without=0, planned_lower=0, planned_lower_bought_ir=0, fixed_lower=0, planned_gain=0,
                 gamma_up=0, gamma_cases=0, het_up=0, het_down=0, het_cases=0, kkt=0.0, sweeps=0)
    for _ in range(args.instances):
        c = draw(rng)
        ch = choose_rate(c)
        scale = max(1.0, abs(ch.none.welfare))
        stats["viable"] += ch.best.viable
        stats["viable_without"] += bool(np.all(ch.none.utilities >= ch.none.outside))
        lower = ch.best.welfare < ch.none.welfare - 1e-12 * scale
        stats["planned_lower"] += lower
        stats["planned_lower_bought_ir"] += lower and ch.best.viable and not ch.none.viable
        stats["planned_gain"] += ch.best.welfare > ch.none.welfare + 1e-9 * scale
        fixed = next(o for o in ch.grid if abs(o.rate - 1.0) < 1e-12)
        stats["fixed_lower"] += fixed.welfare < ch.none.welfare - 1e-12 * scale
        subsidy = own_row_subsidy(c, ch.best.rate, ch.price)
        stats["kkt"] = max(stats["kkt"], float(np.max(ch.best.equilibrium.kkt / marginal_scale(c, ch.best.rows, subsidy))))
        stats["sweeps"] = max(stats["sweeps"], ch.best.equilibrium.sweeps)
        try:
            more = equilibrium(c.replace(competition=c.competition * 1.25 + 0.05)).rows.sum()
            stats["gamma_cases"] += 1
            stats["gamma_up"] += more >= ch.none.rows.sum() - 1e-9 * c.max_rows.sum()
        except ConsortiumError:
            pass
        try:
            hetero = equilibrium(c.replace(heterogeneity=np.minimum(c.heterogeneity * 1.25, 0.99))).rows.sum()
            stats["het_cases"] += 1
            stats["het_up"] += hetero > ch.none.rows.sum() + 1e-9 * c.max_rows.sum()
            stats["het_down"] += hetero < ch.none.rows.sum() - 1e-9 * c.max_rows.sum()
        except ConsortiumError:
            pass
    n = args.instances
    print(f"instances {n} (seed {args.seed}), {time.perf_counter() - t0:.1f} s")
    print(f"viable with the planned mechanism: {stats['viable']}/{n}; "
          f"every member IR without any transfer: {stats['viable_without']}/{n}")
    print(f"planned mechanism lowers welfare: {stats['planned_lower']}/{n} (of which rho=0 not viable, "
          f"rho* viable: {stats['planned_lower_bought_ir']}); raises it: {stats['planned_gain']}/{n}")
    print(f"fixed rate 1 lowers welfare: {stats['fixed_lower']}/{n}")
    print(f"total rows rise (or stay) when gamma x1.25+0.05: {stats['gamma_up']}/{stats['gamma_cases']}")
    print(f"total rows when every h x1.25: up {stats['het_up']}, down {stats['het_down']} of {stats['het_cases']}")
    print(f"largest KKT residual / marginal scale {stats['kkt']:.2e}; most sweeps {stats['sweeps']}")


if __name__ == "__main__":
    main()
