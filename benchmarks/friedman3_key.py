"""Issue 2's acceptance figures on Friedman #3 (prints figures; not a test).

Setup (the paper's): make_friedman3 with noise 0.1, 10,000 rows, seed 0; the first 5,000
rows are the owner's training rows, the last 5,000 the test rows. The key is the
nu-method, encapsulated by 5-fold CV on the training rows. We report test RMSE of the key
trained on (a) all 5,000 training rows, (b) 100 forged rows, (c) 100 randomly sampled real
rows (mean over 10 draws), and of kernel ridge and SVR each tuned by 5-fold CV on the
100 forged rows only.

    python benchmarks/friedman3_key.py [--rows 100] [--steps 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from enfo_sdk import encapsulate, forge
from enfo_sdk.data.builtin import friedman3


def rmse(pred, y):
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def tuned_attackers(X, y, seed):
    """Kernel ridge and SVR, each tuned by 5-fold CV on (X, y) alone."""
    gammas = np.geomspace(0.01, 10, 7)
    krr = GridSearchCV(
        make_pipeline(StandardScaler(), KernelRidge(kernel="rbf")),
        {"kernelridge__alpha": np.geomspace(1e-6, 1, 7), "kernelridge__gamma": gammas},
        cv=5, scoring="neg_mean_squared_error",
    )
    svr = GridSearchCV(
        make_pipeline(StandardScaler(), SVR(kernel="rbf")),
        {"svr__C": np.geomspace(0.1, 1000, 5), "svr__gamma": gammas, "svr__epsilon": [0.01, 0.05, 0.1]},
        cv=5, scoring="neg_mean_squared_error",
    )
    return {"kernel ridge": krr.fit(X, y), "SVR": svr.fit(X, y)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    df = friedman3(n=10000, noise=0.1, seed=0)
    train, test = df.iloc[:5000], df.iloc[5000:]
    X, y = train.drop(columns="y"), train["y"]
    Xte, yte = test.drop(columns="y"), test["y"]

    t0 = time.perf_counter()
    spec = encapsulate(X, y, seed=args.seed)
    t_enc = time.perf_counter() - t0
    full = rmse(spec.build().fit(X, y).predict(Xte), yte)

    t0 = time.perf_counter()
    res = forge(X, y, spec, rows=args.rows, steps=args.steps, seed=args.seed)
    t_forge = time.perf_counter() - t0
    forged = rmse(res.model().predict(Xte), yte)

    g = np.random.default_rng(args.seed)
    sampled = []
    for _ in range(10):
        idx = g.choice(len(X), args.rows, replace=False)
        sampled.append(rmse(spec.build().fit(X.iloc[idx], y.iloc[idx]).predict(Xte), yte))
    sampled_mean = float(np.mean(sampled))

    attackers = {name: rmse(m.predict(Xte), yte) for name, m in tuned_attackers(res.X, res.y, args.seed).items()}

    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print(f"key: {spec.algorithm} v{spec.version} {spec.hyperparameters}")
    print(f"encapsulation: {t_enc:.1f} s   forging: {t_forge:.1f} s "
          f"({res.metrics['steps_run']} steps, best at {res.metrics['best_step']})")
    print()
    print(f"{'training data':<36}{'test RMSE':>10}{'vs full':>10}")
    print(f"{'key, all 5,000 owner rows':<36}{full:>10.4f}{'':>10}")
    print(f"{f'key, {args.rows} forged rows':<36}{forged:>10.4f}{forged / full - 1:>+10.1%}")
    print(f"{f'key, {args.rows} sampled rows (10 draws)':<36}{sampled_mean:>10.4f}{sampled_mean / full - 1:>+10.1%}")
    for name, r in attackers.items():
        print(f"{f'{name}, CV-tuned on forged rows':<36}{r:>10.4f}{r / full - 1:>+10.1%}")
    print()
    checks = [
        ("forged within 5% of full data", forged <= 1.05 * full, f"{forged / full - 1:+.1%}"),
        ("forged >= 30% lower than sampled", forged <= 0.70 * sampled_mean, f"{1 - forged / sampled_mean:.1%} lower"),
        *[(f"{n} >= 10% worse than key", r >= 1.10 * forged, f"{r / forged - 1:+.1%}") for n, r in attackers.items()],
        ("encapsulation under 60 s", t_enc < 60, f"{t_enc:.1f} s"),
    ]
    for name, ok, fig in checks:
        print(f"[{'PASS' if ok else 'MISS'}] {name}: {fig}")


if __name__ == "__main__":
    main()
