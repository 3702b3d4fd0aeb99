"""The example consortium end to end: plan, forge, multi-bundle train, each member's key RMSE.

Four members (examples/consortium/consortium.yaml: north, south, east, west with
heterogeneity 0.05 to 0.35) hold Friedman #3 tables drawn from the built-in generator: a row
of member n comes with probability h_n from n's own band of x1 (a quarter of [0, 100]) and
otherwise from the whole range, so h_n is the share of n's distribution the others' rows do
not cover (docs/consortium.md). Each member has its own signing key and contract; all forge
for one agreed key spec (the first member encapsulates it). Three ways to get a key, each
scored by test RMSE on each member's own held-out rows (2,000 rows from its mixture):

* planned -- every member forges its rows of ``enfo-owner consortium plan``; a partner trains
  the agreed key on the union of the bundles (``enfo-partner train B1 B2 ...``);
* equal -- the same total rows split equally, union as above;
* no consortium -- the member trains the agreed key on its own real training rows (the
  model's outside option), and, for reference, on its own planned bundle alone.

    python benchmarks/consortium_example.py --out out/consortium-bench --steps 150 --seed 0

Not a test; prints a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "consortium" / "consortium.yaml"


def member_table(pool: pd.DataFrame, band: int, bands: int, h: float, n: int, rng) -> pd.DataFrame:
    """n rows: each from the member's own x1 band with probability h, else from the whole pool."""
    own = pool[(pool.x1 >= 100 * band / bands) & (pool.x1 < 100 * (band + 1) / bands)]
    k = int(rng.binomial(n, h))
    rows = [own.sample(k, random_state=int(rng.integers(2**31))),
            pool.sample(n - k, random_state=int(rng.integers(2**31)))]
    return pd.concat(rows).sample(frac=1, random_state=int(rng.integers(2**31))).reset_index(drop=True)


def write_members(out: Path, config: dict, steps: int, seed: int) -> dict:
    from enfo_sdk.data.builtin import friedman3
    from enfo_sdk.signing import keygen

    rng = np.random.Generator(np.random.PCG64(seed))
    pool = friedman3(n=200_000, seed=seed)
    members = config["members"]
    info = {}
    for i, m in enumerate(members):
        name = m["name"]
        table = member_table(pool, i, len(members), m["heterogeneity"], m["local_rows"] + 2000, rng)
        table.iloc[: m["local_rows"]].to_csv(out / f"{name}.csv", index=False)
        table.iloc[m["local_rows"]:].to_csv(out / f"{name}.test.csv", index=False)
        key = out / "keys" / f"{name}.key"
        if not key.exists():
            keygen(key, comment=name)
        for arm in ("planned", "equal"):
            contract = {
                "version": 1,
                "data": {"source": f"{name}.csv", "target": "y", "test_fraction": 0.2, "seed": seed},
                "key": {"algorithm": "nu-method", "search": {"bandwidth": [0.5, 1.0, 2.0], "iterations": {"max": 300}}},
                "forge": {"rows": 1, "steps": steps, "seed": seed},
                "output": {"bundle": f"{arm}/{name}.bundle.parquet"},
                "signing": {"key": f"keys/{name}.key", "owner": name},
            }
            (out / f"{name}.{arm}.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
        info[name] = {"test": out / f"{name}.test.csv", "pub": out / "keys" / f"{name}.key.pub"}
    return info


def rmse(model, spec, table: pd.DataFrame) -> float:
    pred = model.predict(spec.encode(table, unknown="ignore"))
    return float(np.sqrt(np.mean((pred - table["y"].to_numpy(np.float64)) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=150, help="Forging steps per member.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from enfo_sdk.consortium.config import load_consortium_config
    from enfo_sdk.consortium.forging import forge_members
    from enfo_sdk.consortium.plan import make_plan, write_plan
    from enfo_sdk.partner import load_model
    from enfo_sdk.spec import KeySpec
    from enfo_sdk.workflows.partner_steps import train_bundles

    t0 = time.perf_counter()
    out = args.out.resolve()
    (out / "keys").mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(CONFIG.read_text())
    info = write_members(out, config, args.steps, args.seed)
    names = list(info)
    cfg = load_consortium_config(CONFIG)
    plan = make_plan(cfg.consortium(CONFIG), rates=cfg.rates())
    plan_path = write_plan(plan, out / "plan")["plan"]
    planned = {n: int(r) for n, r in zip(names, plan.planned_rows)}
    total = sum(planned.values())
    equal = {n: total // len(names) + (i < total % len(names)) for i, n in enumerate(names)}
    equal_path = out / "plan" / "equal.json"
    equal_path.write_text(json.dumps({"members": [{"name": n, "rows": r} for n, r in equal.items()]}))
    key_spec = out / "plan" / "key-spec.json"
    pubs = [info[n]["pub"] for n in names]
    models, bundles = {}, {}
    for arm, path in (("planned", plan_path), ("equal", equal_path)):
        done = forge_members(path, {n: out / f"{n}.{arm}.yaml" for n in names}, key_spec=key_spec)
        bundles[arm] = [m.run.bundle for m in done if m.run is not None]
        run = train_bundles(bundles[arm], pubs, out / f"{arm}.model.parquet")
        models[arm] = load_model(run.model_path)
    spec = KeySpec.model_validate_json(key_spec.read_text())
    rows = []
    for i, n in enumerate(names):
        test = pd.read_csv(info[n]["test"])
        own = pd.read_csv(out / f"{n}.csv")
        alone_real = spec.build().fit(spec.encode(own), own["y"].to_numpy(np.float64))
        alone_bundle = train_bundles([bundles["planned"][i]], pubs, out / f"{n}.alone.model.parquet")
        rows.append({
            "member": n, "h": config["members"][i]["heterogeneity"], "planned_rows": planned[n],
            "equal_rows": equal[n], "planned": rmse(models["planned"], spec, test),
            "equal": rmse(models["equal"], spec, test), "own_real": rmse(alone_real, spec, test),
            "own_bundle": rmse(load_model(alone_bundle.model_path), spec, test),
        })
    print(f"| member | h | planned rows | equal rows | RMSE planned | RMSE equal | own real rows | own bundle only |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['member']} | {r['h']} | {r['planned_rows']} | {r['equal_rows']} | {r['planned']:.4f} | "
              f"{r['equal']:.4f} | {r['own_real']:.4f} | {r['own_bundle']:.4f} |")
    mean = {k: np.mean([r[k] for r in rows]) for k in ("planned", "equal", "own_real", "own_bundle")}
    print(f"| mean | | {total} | {total} | {mean['planned']:.4f} | {mean['equal']:.4f} | "
          f"{mean['own_real']:.4f} | {mean['own_bundle']:.4f} |")
    print(f"\n{time.perf_counter() - t0:.0f} s; plan and figures in {out / 'plan'}")
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
