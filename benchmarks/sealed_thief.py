"""What sealing the key buys: a thief who tunes the key family on the bundle alone vs the partner.

Issue 16 item 3 (prints figures, not a test). A thief who steals an unsealed bundle reads the key
from the manifest and is as well off as the partner. From a sealed bundle (format v4) it gets
the forged rows and column names only; its best move with our own SDK is to tune the same key
family (the nu-method: bandwidth and iterations T, with its own standardisation fitted on the
forged rows) by 5-fold cross-validation on the forged rows -- ``enfo_sdk.encapsulate`` at its
defaults on the bundle -- and train that on the rows. The partner opens the sealed key and
trains the owner's key (hyperparameters and preprocessing chosen on the owner's full data).
Both are scored on the same held-out rows the bundle never saw; the thief is handed those rows
already encoded (generous to the thief: a sealed v2 key also hides the column encoding). Each
ratio has a 95% paired percentile bootstrap interval over those rows (2,000 resamples).

Tables: the README quick start (``examples/friedman3/key.yaml``: 5,000 training rows, 100
forged rows, forged with the contract's settings) and tables of ``benchmarks/tables.py`` (its
protocol: seeded split, ``min(100, n_train // 4)`` forged rows, the key by ``encapsulate`` on
the training rows, forge at its defaults).

    python benchmarks/sealed_thief.py --seeds 0 1 2 --tables friedman3,diabetes,engel
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def quick_start(seed: int):
    """(spec, forged X, forged y, held-out X, held-out y, n_train) of the README's contract."""
    from enfo_sdk.contract import load_contract
    from enfo_sdk.forge import forge
    from enfo_sdk.workflows.common import encapsulate_contract
    from enfo_sdk.workflows.owner_data import load_owner_split

    contract = load_contract(ROOT / "examples" / "friedman3" / "key.yaml")
    split = load_owner_split(contract)
    spec = encapsulate_contract(contract, split.X_train, split.y_train, None, [], columns=split.columns)
    res = forge(*split.forge_rows(), spec, split.forge_settings(contract, seed=seed))
    out = spec, np.asarray(res.X, np.float64), np.asarray(res.y, np.float64), split.X_test, split.y_test, split.n_train
    split.close()
    return out


def table_run(name: str, seed: int, cache: dict):
    """The same for a table of benchmarks/tables.py, under its protocol (test rows only)."""
    import tables
    from enfo_sdk import forge

    if name not in cache:
        cache[name] = tables.prepare(tables.TABLES[name], 0.3)
    p = cache[name]
    m = min(tables.FORGED_ROWS, len(p["y"]) // 4)
    res = forge(p["X"], p["y"], p["spec"], rows=m, seed=seed)
    return p["spec"], np.asarray(res.X, np.float64), np.asarray(res.y, np.float64), p["Xt"], p["yt"], len(p["y"])


def measure(spec, Xf, yf, Xt, yt, boot: int = 2000) -> dict:
    from enfo_sdk import encapsulate

    yt = np.asarray(yt, np.float64)
    e_partner = (spec.build().fit(Xf, yf).predict(Xt) - yt) ** 2
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "best value on the grid's edge" and friends
        stolen = encapsulate(Xf, yf, algorithm=spec.algorithm, cv=5, seed=0)
    e_thief = (stolen.build().fit(Xf, yf).predict(Xt) - yt) ** 2
    # 95% paired percentile bootstrap over the held-out rows: how much the test set alone moves the ratio
    idx = np.random.default_rng(0).integers(0, len(yt), size=(boot, len(yt)))
    ratios = np.sqrt(e_thief[idx].mean(1) / e_partner[idx].mean(1))
    partner, thief = float(np.sqrt(e_partner.mean())), float(np.sqrt(e_thief.mean()))
    return {"partner": partner, "thief": thief, "ratio": thief / partner,
            "interval": tuple(np.percentile(ratios, [2.5, 97.5])), "key": dict(spec.hyperparameters),
            "stolen": dict(stolen.hyperparameters), "thief_seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", default="friedman3,diabetes,engel",
                    help="friedman3 (the README quick start) and names from benchmarks/tables.py")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="forging seeds")
    args = ap.parse_args()
    cache: dict = {}
    print(f"{'table':<10} {'seed':>4} {'n_train':>7} {'rows':>4} {'n_test':>6} {'partner':>10} {'thief':>10} "
          f"{'thief/partner':>13} {'95% interval':>14}  key -> thief's CV pick")
    ratios: dict[str, list[float]] = {}
    for name in args.tables.split(","):
        for seed in args.seeds:
            spec, Xf, yf, Xt, yt, n = quick_start(seed) if name == "friedman3" else table_run(name, seed, cache)
            r = measure(spec, Xf, yf, Xt, yt)
            ratios.setdefault(name, []).append(r["ratio"])
            hp = lambda d: ", ".join(f"{k} {v:.4g}" for k, v in d.items() if k != "nu")  # noqa: E731
            print(f"{name:<10} {seed:>4} {n:>7} {len(yf):>4} {len(yt):>6} {r['partner']:>10.5g} {r['thief']:>10.5g} "
                  f"{r['ratio']:>13.3f} [{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]  {hp(r['key'])} -> "
                  f"{hp(r['stolen'])}", flush=True)
    for name, rs in ratios.items():
        print(f"{name}: thief/partner mean {np.mean(rs):.3f} (min {min(rs):.3f}, max {max(rs):.3f}) over "
              f"{len(rs)} seed(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
