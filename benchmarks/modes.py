"""Issue 6's figures: forging modes and the rival-strength dial on the three example datasets.

For each dataset (the contracts in examples/) the owner's table is read and split exactly as
``enfo-owner forge`` splits it, the key is encapsulated once, and bundles of 100 rows are forged
in these settings (everything else the contract's):

    rival                  the base objective (paper)
    rival, rival_weight w  plus the surrogate-attacker term (docs/keys.md, "Rival strength")
    augment, weight 1, 10  plus the Sinkhorn alignment term
    adaptable, weight 1    plus the key's training error on the bundle

A partner's own rows are ``--own`` (1,000) held-out rows drawn by ``enfo_sdk.evaluate.split_holdout``
(the rule of the evaluation's outside rows and of the sweep's own rows); the other held-out rows
are the test rows every RMSE is scored on. Printed per bundle: the key's test
RMSE, the key on own rows + bundle against own rows alone, KL / JS / W1 between bundle and
owner rows (docs/metrics.md), and the attacker zoo trained on the bundle alone (kernel ridge
and SVR for adaptable; every family for rival; the best one's RMSE / the key's). Rival settings
run over ``--seeds`` forging seeds (the best-attacker ratio varies by several points between
seeds). Writes a Markdown report (``--results``). Not a test: it takes minutes.

    python benchmarks/modes.py [--datasets friedman3,clv,cdnow] [--seeds 3] [--rival-weight 0.03]
                               [--adaptable-weights 1] [--modes rival,augment,adaptable]
                               [--results benchmarks/RESULTS-modes.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def setting_list(rival_weight: float, adaptable_weights=(1.0,), modes=("rival", "augment", "adaptable")):
    out = [
        ("rival", {"mode": "rival"}),
        (f"rival, rival_weight {rival_weight:g}", {"mode": "rival", "rival_weight": rival_weight}),
        ("augment, weight 1", {"mode": "augment", "alignment_weight": 1.0}),
        ("augment, weight 10", {"mode": "augment", "alignment_weight": 10.0}),
    ] + [(f"adaptable, weight {w:g}", {"mode": "adaptable", "adaptability_weight": w}) for w in adaptable_weights]
    return [(label, kw) for label, kw in out if kw["mode"] in modes]


def prepare(name: str, own_rows: int) -> dict:
    """The example's owner rows split as ``enfo-owner forge`` splits them, the partner's own rows
    and the test rows (``split_holdout``), the encapsulated key, and the contract's forging
    settings (but mode and seed)."""
    from enfo_sdk.contract import load_contract
    from enfo_sdk.evaluate import split_holdout
    from enfo_sdk.evaluate.utility import key_rmse
    from enfo_sdk.workflows.common import encapsulate_contract
    from enfo_sdk.workflows.owner_data import load_owner_split

    contract = load_contract(ROOT / "examples" / name / "key.yaml")
    split = load_owner_split(contract, check_rows=False, stream=False)
    Xtr, ytr = split.X_train, split.y_train
    Xh, yh = split.X_test, split.y_test
    own, test = split_holdout(len(yh), own_rows, contract.data.seed)
    t0 = time.perf_counter()
    spec = encapsulate_contract(contract, Xtr, ytr, None, [], columns=split.columns)
    d = dict(Xtr=Xtr, ytr=ytr, Xa=Xtr.to_numpy(np.float64), ya=ytr.to_numpy(np.float64),
             Xo=Xh[own], yo=yh[own], Xt=Xh[test], yt=yh[test], spec=spec,
             encapsulate_s=time.perf_counter() - t0,
             base_kw={k: v for k, v in contract.forge.forge_kwargs().items() if k not in ("mode", "seed")})
    d["full"] = key_rmse(spec, d["Xa"], d["ya"], d["Xt"], d["yt"])
    d["own_alone"] = key_rmse(spec, d["Xo"], d["yo"], d["Xt"], d["yt"])
    return d


def run_dataset(name: str, seeds: int, own_rows: int, rival_weight: float, adaptable_weights=(1.0,),
                modes=("rival", "augment", "adaptable")) -> dict:
    from enfo_sdk.evaluate.attackers import attacker_zoo
    from enfo_sdk.evaluate.divergence import divergences
    from enfo_sdk.evaluate.utility import external_rivalry
    from enfo_sdk.forge import forge

    p = prepare(name, own_rows)
    Xtr, ytr, Xa, ya, spec = p["Xtr"], p["ytr"], p["Xa"], p["ya"], p["spec"]
    Xo, yo, Xt, yt = p["Xo"], p["yo"], p["Xt"], p["yt"]
    k = len(yo)
    out = {"dataset": name, "key": dict(spec.hyperparameters), "encapsulate_s": p["encapsulate_s"],
           "full": p["full"], "own_alone": p["own_alone"],
           "own_rows": int(k), "test_rows": int(len(yt)), "runs": []}
    print(f"{name}: key {out['key']}, full data {out['full']:.4g}, own {k} rows alone {out['own_alone']:.4g}",
          flush=True)
    base_kw = p["base_kw"]
    train = np.column_stack([Xa, ya])
    for label, kw in setting_list(rival_weight, adaptable_weights, modes):
        for seed in range(seeds if kw["mode"] == "rival" else 1):
            t1 = time.perf_counter()
            res = forge(Xtr, ytr, spec, seed=seed, **{**base_kw, **kw})
            seconds = time.perf_counter() - t1
            Xb, yb = np.asarray(res.X, np.float64), np.asarray(res.y, np.float64)
            mix = external_rivalry(spec, Xb, yb, Xo, yo, Xt, yt)
            key, mixed = mix["bundle"], mix["augmented"]
            div = divergences(train, np.column_stack([Xb, yb]))
            names = ("krr", "svr") if kw["mode"] == "adaptable" else (
                None if kw["mode"] == "rival" else ())
            zoo = None
            if names != ():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    zoo = attacker_zoo(Xb, yb, Xt, yt, key_rmse=key, seed=0,
                                       **({} if names is None else {"names": names}))
            run = {"setting": label, "seed": seed, "key": key, "own_plus_bundle": mixed,
                   "gain": 1.0 - mixed / out["own_alone"], "kl": div["kl"], "js": div["js"],
                   "w1": div["wasserstein"], "steps": res.metrics["steps_run"], "forge_s": seconds,
                   "attackers": None if zoo is None else {n: m["rmse"] / key for n, m in zoo["models"].items()},
                   "best": None if zoo is None else (zoo["best"], zoo["best_ratio"])}
            out["runs"].append(run)
            best = "" if zoo is None else f"  best attacker {zoo['best']} x{zoo['best_ratio']:.3f}"
            extra = ("" if zoo is None or names is None else "  " + " ".join(
                f"{n} x{r:.3f}" for n, r in run["attackers"].items()))
            print(f"  {label:<28} seed {seed}: key {key:.4g} ({key / out['full'] - 1:+.1%} vs full)  "
                  f"own+bundle {mixed:.4g} (gain {run['gain']:+.1%})  KL {div['kl']:.3f} JS {div['js']:.3f} "
                  f"W1 {div['wasserstein']:.3f}{best}{extra}  [{seconds:.0f} s]", flush=True)
    return out


def mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else float("nan")


def write_results(results: list[dict], args, path: Path, seconds: float) -> None:
    cmd = "python benchmarks/modes.py " + " ".join(sys.argv[1:])
    lines = [
        "# Forging modes and the rival-strength dial: measured figures (issue 6)", "",
        f"Command: `{cmd.strip()}` (from the repository root, venv active).  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), Python "
        f"{platform.python_version()}. Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
        f"Wall clock {seconds / 60:.1f} min.", "",
        "100 forged rows; the contracts in `examples/`; a partner's own rows = "
        f"{args.own} held-out rows, the rest of the held-out rows are the test rows. "
        "gain = 1 - RMSE(own + bundle) / RMSE(own alone): positive means the bundle helps the partner. "
        f"Rival settings: mean over forging seeds 0..{args.seeds - 1} (per-seed rows below).", "",
    ]
    for r in results:
        lines += [f"## {r['dataset']}", "",
                  f"Key {r['key']}; full data {r['full']:.4g}; own {r['own_rows']} rows alone "
                  f"{r['own_alone']:.4g}; {r['test_rows']} test rows.", "",
                  "| setting | key RMSE (vs full) | own + bundle (gain) | KL | JS | W1 | best attacker / key |",
                  "|---|---|---|---|---|---|---|"]
        settings = list(dict.fromkeys(run["setting"] for run in r["runs"]))
        for s in settings:
            runs = [x for x in r["runs"] if x["setting"] == s]
            key = mean(x["key"] for x in runs)
            best = [x["best"] for x in runs if x["best"]]
            if best and runs[0]["attackers"] and set(runs[0]["attackers"]) == {"krr", "svr"}:
                btxt = " / ".join(f"{n} x{mean(x['attackers'][n] for x in runs):.3f}" for n in ("krr", "svr"))
            elif best:
                btxt = f"x{mean(b[1] for b in best):.3f} (" + ", ".join(f"{b[0]} {b[1]:.3f}" for b in best) + ")"
            else:
                btxt = "not run"
            lines.append(
                f"| {s}{f' (n={len(runs)})' if len(runs) > 1 else ''} | {key:.4g} ({key / r['full'] - 1:+.1%}) | "
                f"{mean(x['own_plus_bundle'] for x in runs):.4g} ({mean(x['gain'] for x in runs):+.1%}) | "
                f"{mean(x['kl'] for x in runs):.3f} | {mean(x['js'] for x in runs):.3f} | "
                f"{mean(x['w1'] for x in runs):.3f} | {btxt} |")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="friedman3,clv,cdnow")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--own", type=int, default=1000)
    ap.add_argument("--rival-weight", type=float, default=0.03)
    ap.add_argument("--adaptable-weights", default="1", help="comma-separated adaptability weights")
    ap.add_argument("--modes", default="rival,augment,adaptable", help="which modes to run")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS-modes.md"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    aw = tuple(float(v) for v in args.adaptable_weights.split(","))
    modes = tuple(args.modes.split(","))
    results = [run_dataset(d, args.seeds, args.own, args.rival_weight, aw, modes) for d in args.datasets.split(",")]
    write_results(results, args, Path(args.results), time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
