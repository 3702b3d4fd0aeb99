"""Forging on small tables: forged/full and sampled/full at several seeds (prints figures; not a test).

Issue 15, item 0. Forging only, no attackers, so a table of a few hundred rows takes seconds a
seed. Tables: ``housing`` and ``cps1985`` through their ``enfo-owner init`` contracts (written
to ``--contracts`` from ``benchmarks/data/T.csv``; the forge workflow's own split and test rows),
and any table of ``benchmarks/tables.py`` (its protocol: test fraction 0.3, its test rows).
The key is encapsulated once per table; each seed forges ``forge.rows`` rows (the contract's, or
``min(100, n_train // 4)``), and *sampled* is as many real training rows (same seed).

    python benchmarks/small_tables.py --tables housing,cps1985,engel,star98 --seeds 0 1 2
    python benchmarks/small_tables.py --before ...   # the rule of main before: selection
                                                     # validation, lr 0.01 x bandwidth

``--before`` pins ``selection=validation`` and ``lr`` = :func:`enfo_sdk.forging.settings.default_lr`
(the defaults before the small-table rule); ``--forge NAME=VALUE`` sets any other setting.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CONTRACT_TABLES = {"housing": "price", "cps1985": "wage", "boston": "medv"}


def prepare(name: str, contracts: Path) -> dict:
    if name in CONTRACT_TABLES:
        from enfo_sdk.contract import load_contract
        from enfo_sdk.workflows.common import encapsulate_contract
        from enfo_sdk.workflows.owner_data import load_owner_split

        path = contracts / f"{name}.yaml"
        if not path.exists():
            contracts.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "owner_cli.main", "init", "--data",
                            str(ROOT / "benchmarks" / "data" / f"{name}.csv"), "--target",
                            CONTRACT_TABLES[name], "--out", str(path)], check=True, cwd=ROOT)
        c = load_contract(path)
        split = load_owner_split(c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = encapsulate_contract(c, split.X_train, split.y_train, None, [], columns=split.columns)
        _, test = split.holdout_roles(c.data.seed)
        X, y = split.forge_rows()
        return dict(X=X, y=y, Xt=split.X_test[test], yt=split.y_test[test], spec=spec, m=c.forge.rows)
    import tables

    q = tables.prepare(tables.TABLES[name], 0.3)
    return dict(X=q["X"], y=q["y"], Xt=q["Xt"], yt=q["yt"], spec=q["spec"], m=min(100, len(q["y"]) // 4))


def key_rmse(spec, X, y, Xt, yt) -> float:
    pred = spec.build().fit(np.asarray(X, np.float64), np.asarray(y, np.float64)).predict(Xt)
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(yt)) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="housing,cps1985,boston,engel,star98,cars,diabetes,macrodata,grunfeld")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--before", action="store_true", help="the rule before: selection validation, lr 0.01 x bandwidth")
    ap.add_argument("--forge", action="append", default=[], help="a forging setting NAME=VALUE (JSON value)")
    ap.add_argument("--contracts", default="/tmp/enfo-small-tables", help="folder for the init contracts")
    args = ap.parse_args()
    from enfo_sdk import forge
    from enfo_sdk.evaluate import make_baseline
    from enfo_sdk.forging.settings import default_lr

    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.forge)}
    t_start = time.perf_counter()
    print(f"{'table':10} {'train':>5} {'rows':>4} {'seed':>4} {'forged/full':>11} {'sampled/full':>12} "
          f"{'kept':>5} {'lowest':>6} {'run':>5} {'selection':>10} {'lr':>7} {'s':>5}")
    summary = []
    for name in args.tables.split(","):
        p = prepare(name, Path(args.contracts))
        spec = p["spec"]
        Xa, ya = np.asarray(p["X"], np.float64), np.asarray(p["y"], np.float64)
        full = key_rmse(spec, Xa, ya, p["Xt"], p["yt"])
        ov = dict(overrides)
        if args.before:
            ov = {"selection": "validation", "lr": default_lr(spec), **ov}
        forged, sampled = [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            res = forge(p["X"], p["y"], spec, rows=p["m"], seed=seed, **ov)
            sec = time.perf_counter() - t0
            f = key_rmse(spec, res.X, res.y, p["Xt"], p["yt"]) / full
            smp = make_baseline("sampled", np.column_stack([Xa, ya]), p["m"], seed=seed)
            s = key_rmse(spec, smp[:, :-1], smp[:, -1], p["Xt"], p["yt"]) / full
            forged.append(f)
            sampled.append(s)
            m = res.metrics
            print(f"{name:10} {len(ya):5d} {p['m']:4d} {seed:4d} {f:11.3f} {s:12.3f} {m['best_step']:5d} "
                  f"{m.get('lowest_step', m['best_step']):6d} {m['steps_run']:5d} "
                  f"{res.settings.get('selection', 'validation'):>10} {res.settings['lr']:7.4f} {sec:5.1f}", flush=True)
        summary.append((name, len(ya), float(np.mean(forged)), float(np.mean(sampled))))
    print("\nmean over seeds " + " ".join(map(str, args.seeds)) + (" (--before)" if args.before else ""))
    print("| table | training rows | forged / full | sampled / full | forged < sampled |")
    print("|---|---|---|---|---|")
    for name, n, f, s in summary:
        print(f"| {name} | {n} | {f:.3f} | {s:.3f} | {'yes' if f < s else '**no**'} |")
    fs = np.array([f for _, _, f, _ in summary])
    beats = sum(f < s for _, _, f, s in summary)
    print(f"\nforged / full median {np.median(fs):.3f}, worst {fs.max():.3f}; forged beats sampled on "
          f"{beats} of {len(summary)}; wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
