"""Where issue 6's augment and adaptable targets stop: reference rows and two probe terms.

Same data, key, own rows and test rows as ``benchmarks/modes.py`` (its ``prepare``). Printed per
dataset, for bundles of 100 rows:

real rows      100 rows drawn from the owner's training rows (``--draws`` draws): what a
               bundle aligned *perfectly* with the owner's data is. Its gain for the partner
               (own 1,000 rows + the rows, against own rows alone, the key trained on both),
               its KL / JS / W1 to the owner's rows (the divergences' floor at 100 rows), the
               key trained on it alone, and kernel ridge / SVR (the attacker zoo's, tuned by
               5-fold CV) trained on it.
mixing probe   mode rival plus a custom term (``forge(penalty=...)``) that *raises* the error
               of the key trained on the rows mixed with 256 owner rows, scored on 256 others
               of the same minibatch (``--batch-size`` 512):
               - w * log mean (f_mix(z_b) - t_b)^2: the direct probe for a bundle that trains the
               key well and still does not help a partner's own rows.
CV probe       mode rival plus + w * (5-fold cross-validation error of the key on the rows):
               kernel ridge and SVR are tuned by 5-fold CV on the bundle, so rows that are easy
               to fit *out of fold* are what they need (the paper's adaptable term is the key's
               in-sample training error, which the key, T = 1,999 on Friedman #3, already
               drives to ~0.002).

Rows kept: the key's best validation RMSE (mode rival), as in ``forge``. Not a test: minutes.

    python benchmarks/mode_limits.py [--datasets friedman3,clv,cdnow] [--mix-weights 0.03,0.1,0.3,1]
                                     [--cv-weights 1,10,30,100] [--draws 5] [--mix-rows 256]
                                     [--batch-size 512] [--no-plain] [--seed 0]
                                     [--results benchmarks/RESULTS-mode-limits.md]
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modes import ROOT, prepare  # noqa: E402

MIX_ROWS = 256
FOLDS = 5


def mixing_penalty(w: float, mix_rows: int = MIX_ROWS):
    def mixing(ctx):
        k = mix_rows if mix_rows < ctx.Zb.shape[0] else ctx.Zb.shape[0] // 2
        idx = torch.randperm(ctx.Zb.shape[0], generator=ctx.generator)
        fit = ctx.key_fit(torch.cat([ctx.Z, ctx.Zb[idx[:k]]]), torch.cat([ctx.t, ctx.tb[idx[:k]]]))
        r = fit(ctx.Zb[idx[k:]]) - ctx.tb[idx[k:]]
        return -w * torch.log((r * r).mean() + 1e-300)
    return mixing


def cv_penalty(w: float):
    def cv_error(ctx):
        m = ctx.Z.shape[0]
        perm = torch.randperm(m, generator=ctx.generator)
        total = ctx.t.new_zeros(())
        for k in range(FOLDS):
            out = perm[k::FOLDS]
            keep = torch.ones(m, dtype=torch.bool, device=ctx.Z.device)
            keep[out] = False
            r = ctx.key_fit(ctx.Z[keep], ctx.t[keep])(ctx.Z[out]) - ctx.t[out]
            total = total + (r * r).sum()
        return w * total / m
    return cv_error


def krr_svr(Xb, yb, p, key):
    from enfo_sdk.evaluate.attackers import attacker_zoo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = attacker_zoo(Xb, yb, p["Xt"], p["yt"], key_rmse=key, seed=0, names=("krr", "svr"))
    return z["models"]["krr"]["rmse"], z["models"]["svr"]["rmse"]


def measure(Xb, yb, p, adapt: bool) -> dict:
    from enfo_sdk.evaluate.divergence import divergences
    from enfo_sdk.evaluate.utility import external_rivalry

    mix = external_rivalry(p["spec"], Xb, yb, p["Xo"], p["yo"], p["Xt"], p["yt"])
    key, mixed = mix["bundle"], mix["augmented"]
    div = divergences(np.column_stack([p["Xa"], p["ya"]]), np.column_stack([Xb, yb]))
    out = {"key": key, "vs_full": key / p["full"] - 1, "gain": 1 - mixed / p["own_alone"],
           "kl": div["kl"], "js": div["js"], "w1": div["wasserstein"]}
    if adapt:
        out["krr_rmse"], out["svr_rmse"] = krr_svr(Xb, yb, p, key)
        out["krr"], out["svr"] = out["krr_rmse"] / key, out["svr_rmse"] / key
    return out


def fmt(r: dict) -> str:
    s = (f"key {r['key']:.4g} ({r['vs_full']:+.1%} vs full)  gain {r['gain']:+.1%}  "
         f"KL {r['kl']:.3f} JS {r['js']:.3f} W1 {r['w1']:.3f}")
    if "krr" in r:
        s += f"  krr {r['krr_rmse']:.4g} (x{r['krr']:.3f}) svr {r['svr_rmse']:.4g} (x{r['svr']:.3f})"
    return s


def run_dataset(name: str, args) -> dict:
    from enfo_sdk.forge import forge

    p = prepare(name, args.own)
    print(f"{name}: key {dict(p['spec'].hyperparameters)}, full {p['full']:.4g}, own alone {p['own_alone']:.4g}",
          flush=True)
    out = {"dataset": name, "key": dict(p["spec"].hyperparameters), "full": p["full"],
           "own_alone": p["own_alone"], "real": [], "mix": [], "cv": []}
    rng = np.random.default_rng(0)
    for i in range(args.draws):
        idx = rng.choice(len(p["ya"]), 100, replace=False)
        r = measure(p["Xa"][idx], p["ya"][idx], p, adapt=True)
        out["real"].append(r)
        print(f"  real rows, draw {i}: {fmt(r)}", flush=True)
    kw = {**p["base_kw"], "mode": "rival", "seed": args.seed}
    runs = [("plain", 0.0, None)] if args.plain else []
    runs += [("mix", w, mixing_penalty(w, args.mix_rows)) for w in args.mix_weights]
    runs += [("cv", w, cv_penalty(w)) for w in args.cv_weights]
    for kind, w, pen in runs:
        t0 = time.perf_counter()
        res = forge(p["Xtr"], p["ytr"], p["spec"], batch_size=args.batch_size, penalty=pen, **kw)
        Xb, yb = np.asarray(res.X, np.float64), np.asarray(res.y, np.float64)
        r = measure(Xb, yb, p, adapt=True)
        r.update(weight=w, best_step=res.metrics["best_step"], steps=res.metrics["steps_run"],
                 seconds=time.perf_counter() - t0)
        if kind == "plain":
            out["plain"] = r
        else:
            out[kind].append(r)
        print(f"  {kind} w={w:g}: {fmt(r)}  kept step {r['best_step']} of {r['steps']} "
              f"[{r['seconds']:.0f} s]", flush=True)
    return out


def write(results: list[dict], args, path: Path, seconds: float) -> None:
    cmd = ("python benchmarks/mode_limits.py " + " ".join(sys.argv[1:])).strip()
    lines = [
        "# Limits of the augment and adaptable targets: reference rows and probe terms (issue 6)", "",
        f"Command: `{cmd}` (from the repository root, venv active).  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Wall clock {seconds / 60:.1f} min.", "",
        "100 rows; own rows, test rows and key as in `RESULTS-modes.md`. gain = 1 - RMSE(key on own "
        "1,000 rows + the 100 rows) / RMSE(key on own rows alone). krr / svr = the attacker zoo's "
        "kernel ridge / SVR (5-fold CV on the 100 rows) trained on the 100 rows: test RMSE and its ratio "
        "to the key's trained on the same rows. "
        f"Forged rows: forging seed {args.seed}, minibatch {args.batch_size}, rows kept by the key's validation "
        "RMSE. Probe terms (`forge(penalty=...)`, see the script's docstring): *mixing* raises the "
        f"error of the key trained on the rows + {args.mix_rows} owner rows; *cv* lowers the key's "
        f"{FOLDS}-fold CV error on the rows.", "",
    ]
    for r in results:
        lines += [f"## {r['dataset']}", "",
                  f"Key {r['key']}; full data {r['full']:.4g}; own rows alone {r['own_alone']:.4g}.", "",
                  "| rows | key RMSE (vs full) | own + rows (gain) | KL | JS | W1 | krr RMSE (/ key) | svr RMSE (/ key) |",
                  "|---|---|---|---|---|---|---|---|"]
        real = r["real"]

        def row(label, x):
            return (f"| {label} | {x['key']:.4g} ({x['vs_full']:+.1%}) | {x['gain']:+.1%} | {x['kl']:.3f} | "
                    f"{x['js']:.3f} | {x['w1']:.3f} | {x['krr_rmse']:.4g} (x{x['krr']:.3f}) | "
                    f"{x['svr_rmse']:.4g} (x{x['svr']:.3f}) |")
        if real:
            mean = {k: float(np.mean([x[k] for x in real])) for k in real[0]}
            lo = {k: float(np.min([x[k] for x in real])) for k in real[0]}
            hi = {k: float(np.max([x[k] for x in real])) for k in real[0]}
            lines.append(row(f"100 real owner rows, mean of {len(real)} draws", mean))
            lines.append(f"| (range over draws) | {lo['key']:.4g}-{hi['key']:.4g} | {lo['gain']:+.1%} to {hi['gain']:+.1%} "
                         f"| {lo['kl']:.3f}-{hi['kl']:.3f} | {lo['js']:.3f}-{hi['js']:.3f} | {lo['w1']:.3f}-{hi['w1']:.3f} "
                         f"| {lo['krr_rmse']:.4g}-{hi['krr_rmse']:.4g} | {lo['svr_rmse']:.4g}-{hi['svr_rmse']:.4g} |")
        if "plain" in r:
            lines.append(row("forged, rival (no term)", r["plain"]))
        for x in r["mix"]:
            lines.append(row(f"forged, rival + mixing w={x['weight']:g} (kept step {x['best_step']})", x))
        for x in r["cv"]:
            lines.append(row(f"forged, rival + cv w={x['weight']:g} (kept step {x['best_step']})", x))
        lines.append("")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")


def floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="friedman3,clv,cdnow")
    ap.add_argument("--own", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="forging seed of the forged bundles")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--mix-weights", type=floats, default=floats("0.03,0.1,0.3,1"))
    ap.add_argument("--mix-rows", type=int, default=MIX_ROWS, help="owner rows mixed in by the mixing probe")
    ap.add_argument("--cv-weights", type=floats, default=floats("1,10,30,100"))
    ap.add_argument("--no-plain", dest="plain", action="store_false", help="skip the bundle without a term")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS-mode-limits.md"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = [run_dataset(d, args) for d in args.datasets.split(",")]
    write(results, args, Path(args.results), time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
