"""Forging across public real regression tables: quality and rivalry (issue 15; prints figures, not a test).

Every table ships inside an installable wheel, so nothing is downloaded at run time:
scikit-learn (BSD-3-Clause, a core dependency), statsmodels (BSD-3-Clause) and vega_datasets
(MIT; the data keep their original sources' terms), the last two in the ``tables`` extra
(``pip install 'enfo-sdk[tables]'``). :data:`TABLES` lists each table, its source, its target and
what was dropped. They differ in size (203 to 20,190 rows), dimension (1 to 20 features after
encoding) and smoothness (a 1-D Engel curve, macro series, noisy survey counts).

Protocol per table (the same one as ``enfo-owner evaluate``, docs/metrics.md):

* rows with a missing value are dropped; tables above :data:`MAX_ROWS` rows are cut to a seeded
  subsample of that many (stated in the output);
* a seeded split (seed 0) holds out ``--test-fraction`` (default 0.3) of the rows; the held-out
  rows are split once more by :func:`enfo_sdk.evaluate.split_holdout` into *outside* rows (at most
  1,000, at most half) and *test* rows, on which every RMSE is scored;
* column types are inferred (:func:`enfo_sdk.data.columns.infer_schema`) and encoded by a
  :class:`~enfo_sdk.data.columns.ColumnTransform` fitted on the training rows, so forged rows stay
  in range and categorical columns work;
* the key: :func:`enfo_sdk.encapsulate` at its defaults (nu-method) on the training rows;
* forged rows: ``min(100, n_train // 4)`` (fewer than 100 for the small tables, where 100 rows
  would be most of the table; ``--rows-fraction`` scales it), :func:`enfo_sdk.forge` at its defaults (or ``--forge`` overrides),
  one run per seed; *sampled*: as many real training rows drawn without replacement (the
  ``sampled`` baseline, same seed);
* attackers: the whole attacker zoo (:mod:`enfo_sdk.evaluate.attackers`, seven families tuned by
  5-fold CV on the forged rows alone), scored on the test rows; the best one per seed;
* outside rows: the key trained on the forged rows plus the outside rows (``+outside``: its RMSE
  over the forged rows' alone; above 1 means outside data does not help).

Intervals: 95% percentile bootstrap over the test rows (``--boot`` resamples, paired: one resample
scores every model, and a ratio's interval is that of the mean over seeds of the per-seed ratios).
They show how much the small test sets alone can move a figure; seed-to-seed spread is separate.

Run in pieces (the machine is slow): each (table, seed) is stored as JSON under ``--store``
(default ``benchmarks/tables-runs/<tag>``), and ``--report`` builds the table from what is stored:

    python benchmarks/tables.py --tables diabetes,engel --seeds 0 1 2   # forge and measure
    python benchmarks/tables.py --report [--results benchmarks/RESULTS-tables.md]
    python benchmarks/tables.py --list
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Tables above this many rows are cut to a seeded subsample (encapsulation and the full-data key
#: are O(n^2) in memory and O(n^3) in time).
MAX_ROWS = 3000
FORGED_ROWS = 100
SPLIT_SEED = 0


@dataclass(frozen=True)
class Table:
    """One benchmark table: where it comes from and how it is read."""

    name: str
    source: str
    target: str
    note: str
    load: Callable[[], pd.DataFrame]


def _sklearn_diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame


def _sm(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import statsmodels.datasets as smd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(smd, name).load_pandas().data.copy()
    return load


def _star98() -> pd.DataFrame:
    df = _sm("star98")()
    df["share_above"] = df["NABOVE"] / (df["NABOVE"] + df["NBELOW"])
    return df.drop(columns=["NABOVE", "NBELOW"])


def _grunfeld() -> pd.DataFrame:
    df = _sm("grunfeld")()
    df["firm"] = df["firm"].astype(str)
    df["year"] = df["year"].astype(float)
    return df


def _macrodata() -> pd.DataFrame:
    return _sm("macrodata")().drop(columns=["quarter"])


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import data

        return getattr(data, name)()
    return load


def _cars() -> pd.DataFrame:
    df = _vega("cars")().drop(columns=["Name"])
    df["Year"] = df["Year"].dt.year.astype(float)
    return df


def _seattle() -> pd.DataFrame:
    df = _vega("seattle_weather")()
    df["day_of_year"] = df["date"].dt.dayofyear.astype(float)
    df["year"] = df["date"].dt.year.astype(float)
    return df.drop(columns=["date"])


#: The benchmark's tables, smallest first.
TABLES = {t.name: t for t in [
    Table("macrodata", "statsmodels macrodata (US quarterly, 1959-2009)", "realinv",
          "12 macro series -> real investment; quarter dropped; smooth, trending", _macrodata),
    Table("grunfeld", "statsmodels grunfeld (Grunfeld 1958)", "invest",
          "value, capital, year, firm (categorical, 11 levels) -> gross investment", _grunfeld),
    Table("engel", "statsmodels engel (Engel food expenditure)", "foodexp",
          "1 feature (income) -> food expenditure; smooth, heteroscedastic", _sm("engel")),
    Table("star98", "statsmodels star98 (California schools, 1998)", "share_above",
          "20 features -> share of pupils above the national maths median (NABOVE/(NABOVE+NBELOW))",
          _star98),
    Table("cars", "vega_datasets cars (UCI Auto MPG)", "Miles_per_Gallon",
          "6 numeric + Origin (categorical) -> MPG; Name dropped, Year as a number; rows with a gap dropped",
          _cars),
    Table("diabetes", "scikit-learn load_diabetes (Efron et al. 2004)", "target",
          "10 features (unscaled) -> disease progression after one year; noisy", _sklearn_diabetes),
    Table("seattle", "vega_datasets seattle-weather (2012-2015)", "temp_max",
          "precipitation, temp_min, wind, weather (categorical), day of year, year -> max temperature",
          _seattle),
    Table("fair", "statsmodels fair (Fair 1978 affairs survey)", "affairs",
          "8 survey answers -> time in affairs; heavy-tailed, mostly 0", _sm("fair")),
    Table("randhie", "statsmodels randhie (RAND health insurance experiment)", "mdvis",
          "9 features -> outpatient visits; count, noisy", _sm("randhie")),
]}


# -- one table, prepared once ----------------------------------------------------------------
def prepare(table: Table, test_fraction: float) -> dict[str, Any]:
    from enfo_sdk import encapsulate
    from enfo_sdk.data.columns import ColumnTransform, infer_schema
    from enfo_sdk.evaluate import split_holdout

    df = table.load().rename(columns=str).dropna().reset_index(drop=True)
    n_read = len(df)
    if len(df) > MAX_ROWS:
        df = df.iloc[np.sort(np.random.default_rng(SPLIT_SEED).choice(len(df), MAX_ROWS, replace=False))].reset_index(drop=True)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(df))
    n_hold = int(round(test_fraction * len(df)))
    train, hold = df.iloc[np.sort(perm[n_hold:])], df.iloc[np.sort(perm[:n_hold])]
    schema = infer_schema(df, table.target, where=table.name)
    columns = ColumnTransform.fit(train, schema, table.target, where=f"{table.name} (training rows)")
    X = columns.encode_frame(train)
    y = pd.Series(columns.target_values(train), index=train.index, name=table.target)
    Xh, yh = columns.encode(hold, unknown="ignore"), columns.target_values(hold)
    ext, test = split_holdout(len(yh), 1000, SPLIT_SEED)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = encapsulate(X, y, seed=SPLIT_SEED).with_columns(columns)
    return {
        "X": X, "y": y, "Xo": Xh[ext], "yo": yh[ext], "Xt": Xh[test], "yt": yh[test],
        "spec": spec, "n_read": n_read, "n": len(df), "encapsulate_seconds": time.perf_counter() - t0,
    }


def predict(spec, X, y, Xt) -> np.ndarray:
    return np.asarray(spec.build().fit(np.asarray(X, np.float64), np.asarray(y, np.float64)).predict(Xt),
                      np.float64)


def forged_rows(n_train: int, fraction: float = 1.0) -> int:
    """The benchmark's forged-row count: ``min(100, n_train // 4)``, times ``fraction``
    (``--rows-fraction``; at least 5)."""
    return max(5, int(round(min(FORGED_ROWS, n_train // 4) * fraction)))


def run_seed(table: Table, p: dict[str, Any], seed: int, forge_overrides: dict[str, Any],
             attackers: tuple[str, ...], dial: tuple[float, float, float] | None = None,
             rows_fraction: float = 1.0) -> dict[str, Any]:
    """Forge once with ``seed`` and measure everything on the test rows; JSON-ready. ``dial``
    (target, max_key_cost, seconds) runs the rival dial (:func:`enfo_sdk.forging.calibration.calibrate`)
    on the forged rows first, as ``forge.rivalry.max_key_cost`` does in a contract."""
    from enfo_sdk import forge
    from enfo_sdk.evaluate import make_baseline
    from enfo_sdk.evaluate.attackers import make_attacker
    from enfo_sdk.forging.settings import ForgeSettings

    spec, Xtr, ytr = p["spec"], p["X"].to_numpy(np.float64), p["y"].to_numpy(np.float64)
    m = forged_rows(len(ytr), rows_fraction)
    t0 = time.perf_counter()
    res = forge(p["X"], p["y"], spec, rows=m, seed=seed, **forge_overrides)
    forge_seconds = time.perf_counter() - t0
    dial_record, base_pred = None, None
    if dial is not None:
        from enfo_sdk.forging.calibration import calibrate

        s = ForgeSettings.build(rows=m, seed=seed, **forge_overrides)
        base_pred = predict(spec, res.X, res.y, p["Xt"])
        base_rows = (res.X, res.y)
        res, rec = calibrate(res, p["X"], p["y"], target=dial[0], max_key_cost=dial[1],
                             validation=s.validation, seed=s.seed, seconds=dial[2])
        dial_record = rec.to_json()
    Xf, yf = np.asarray(res.X, np.float64), np.asarray(res.y, np.float64)
    sampled = make_baseline("sampled", np.column_stack([Xtr, ytr]), m, seed=seed)
    pred = {
        "full": predict(spec, Xtr, ytr, p["Xt"]),
        "forged": predict(spec, Xf, yf, p["Xt"]),
        "sampled": predict(spec, sampled[:, :-1], sampled[:, -1], p["Xt"]),
        "outside": predict(spec, np.vstack([Xf, p["Xo"]]), np.concatenate([yf, p["yo"]]), p["Xt"]),
        "mean_only": np.full(len(p["yt"]), float(np.mean(yf))),  # ignores the features (the forge table's line)
    }
    t1 = time.perf_counter()
    params = {}
    sides = [("", Xf, yf)]
    if dial is not None and dial_record["kind"] != "base":  # the dial changed the rows: the attackers without it too
        sides.append(("undialled:", np.asarray(base_rows[0], np.float64), np.asarray(base_rows[1], np.float64)))
    for prefix, Xa, ya in sides:
        for name in attackers:
            search = make_attacker(name, m, seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(Xa, ya)
            pred[f"{prefix}attacker:{name}"] = np.asarray(search.predict(p["Xt"]), np.float64)
            if not prefix:
                params[name] = {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()}
    if dial is not None:
        pred["forged_undialled"] = base_pred
    return {
        "dial": dial_record, "table": table.name, "seed": seed, "rows": m, "rows_fraction": rows_fraction,
        "n_read": p["n_read"], "n": p["n"],
        "n_train": len(ytr), "n_outside": len(p["yo"]), "n_test": len(p["yt"]),
        "features": int(Xtr.shape[1]), "key": dict(spec.hyperparameters),
        "forge": {k: (v.item() if hasattr(v, "item") else v) for k, v in res.metrics.items()},
        "forge_overrides": forge_overrides, "forge_seconds": forge_seconds,
        "dial_seconds": None if dial_record is None else dial_record["seconds"],
        "attack_seconds": time.perf_counter() - t1, "encapsulate_seconds": p["encapsulate_seconds"],
        "attacker_params": params, "y_test": p["yt"].tolist(),
        "pred": {k: v.tolist() for k, v in pred.items()},
    }


# -- the report ------------------------------------------------------------------------------
def rmse_rows(err2: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """RMSE of squared errors ``err2`` (n,) over each bootstrap resample ``idx`` (B, n)."""
    return np.sqrt(err2[idx].mean(axis=1))


def summarise(runs: list[dict[str, Any]], boot: int) -> dict[str, Any]:
    """One table's figures over its seeds, with paired bootstrap intervals over the test rows."""
    y = np.asarray(runs[0]["y_test"])
    idx = np.random.default_rng(12345).integers(0, len(y), size=(boot, len(y)))
    idx = np.vstack([np.arange(len(y)), idx])  # row 0: the test rows as they are

    def err2(run, k):
        return (np.asarray(run["pred"][k]) - y) ** 2

    def ratio(a, b):  # mean over seeds of RMSE(a)/RMSE(b): point and interval
        r = np.mean([rmse_rows(err2(r_, a) if isinstance(a, str) else a(r_), idx)
                     / rmse_rows(err2(r_, b), idx) for r_ in runs], axis=0)
        return float(r[0]), float(np.percentile(r[1:], 2.5)), float(np.percentile(r[1:], 97.5))

    def best_attacker(run):
        names = [k for k in run["pred"] if k.startswith("attacker:")]
        return min(names, key=lambda k: float(np.mean(err2(run, k))))

    best = [best_attacker(r) for r in runs]
    family = Counter(b.split(":", 1)[1] for b in best).most_common(1)[0][0]
    full = float(math.sqrt(np.mean(err2(runs[0], "full"))))
    forged_per_seed = [float(math.sqrt(np.mean(err2(r, "forged")))) / full for r in runs]
    sampled_per_seed = [float(math.sqrt(np.mean(err2(r, "sampled")))) / full for r in runs]
    r0 = runs[0]
    return {
        "table": r0["table"], "n": r0["n"], "n_read": r0["n_read"], "n_train": r0["n_train"],
        "n_test": r0["n_test"], "n_outside": r0["n_outside"], "features": r0["features"],
        "rows": r0["rows"], "seeds": [r["seed"] for r in runs], "full": full,
        "forged": ratio("forged", "full"), "sampled": ratio("sampled", "full"),
        "forged_vs_sampled": ratio("forged", "sampled"),
        "attacker": ratio(lambda r: err2(r, best_attacker(r)), "forged"), "family": family,
        "outside": ratio("outside", "forged"),
        "mean_only": ratio("mean_only", "forged") if all("mean_only" in r["pred"] for r in runs) else None,
        "forged_per_seed": forged_per_seed, "sampled_per_seed": sampled_per_seed,
        "kept_steps": [r["forge"]["best_step"] for r in runs],
        "steps_run": [r["forge"]["steps_run"] for r in runs],
        "seconds": sum(r["forge_seconds"] + (r.get("dial_seconds") or 0) + r["attack_seconds"] for r in runs)
        + r0["encapsulate_seconds"],
    }


def fmt(t: tuple[float, float, float]) -> str:
    return f"{t[0]:.3f} [{t[1]:.2f}, {t[2]:.2f}]"


def report_lines(rows: list[dict[str, Any]], target: float, max_cost: float) -> list[str]:
    lines = [
        "| table | rows used (read) | features | train / outside / test | forged rows | seeds | "
        "full RMSE | forged / full | sampled / full | forged < sampled | best attacker / key (family) | "
        "mean only / key | +outside / forged | kept steps | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        beats = r["forged"][0] < r["sampled"][0]
        lines.append(
            f"| {r['table']} | {r['n']} ({r['n_read']}) | {r['features']} | {r['n_train']} / {r['n_outside']} / "
            f"{r['n_test']} | {r['rows']} | {len(r['seeds'])} | {r['full']:.4g} | {fmt(r['forged'])} | "
            f"{fmt(r['sampled'])} | {'yes' if beats else '**no**'} | {fmt(r['attacker'])} ({r['family']}) | "
            f"{fmt(r['mean_only']) if r.get('mean_only') else '--'} | {fmt(r['outside'])} | {', '.join(map(str, r['kept_steps']))} | {r['seconds']:.0f} |"
        )
    if not rows:
        return lines
    forged = np.array([r["forged"][0] for r in rows])
    attack = np.array([r["attacker"][0] for r in rows])
    beats = sum(r["forged"][0] < r["sampled"][0] for r in rows)
    both = sum(r["forged"][0] <= 1 + max_cost and r["attacker"][0] >= target for r in rows)
    worst_f, worst_a = rows[int(np.argmax(forged))], rows[int(np.argmin(attack))]
    lines += ["", (
        f"**Summary** ({len(rows)} tables): forged / full median {np.median(forged):.3f}, worst "
        f"{forged.max():.3f} ({worst_f['table']}); best attacker / key median {np.median(attack):.3f}, "
        f"worst {attack.min():.3f} ({worst_a['table']}); forged beats sampled (mean over seeds) on "
        f"{beats} of {len(rows)}; forged / full <= {1 + max_cost:.2f} and attacker >= {target:g}x on "
        f"{both} of {len(rows)}."
    )]
    means = [r for r in rows if r.get("mean_only")]
    if means:
        out = [r["table"] for r in means if r["mean_only"][0] < target]
        lines[-1] += (f" Mean only / key (a model that ignores the features) below {target:g}x on {len(out)} of "
                      f"{len(means)}{': ' + ', '.join(out) if out else ''} -- there no rows meet the attacker target "
                      "against an attacker whose CV shrinks it to the mean.")
    return lines
    return lines


def load_runs(store: Path) -> dict[str, list[dict[str, Any]]]:
    by_table: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(store.glob("*.json")):
        run = json.loads(f.read_text())
        by_table.setdefault(run["table"], []).append(run)
    return by_table


def _figures(run: dict[str, Any], undialled: bool = False) -> dict[str, Any]:
    """One run's forged / full and best attacker / key (the key on the run's forged rows; with
    ``undialled``, on its rows before the dial: the attackers on those rows when the dial changed
    them, else the same ones)."""
    y = np.asarray(run["y_test"])
    r = {k: math.sqrt(float(np.mean((np.asarray(v) - y) ** 2))) for k, v in run["pred"].items()}
    forged, prefix = "forged", "attacker:"
    if undialled:
        forged = "forged_undialled"
        if any(k.startswith("undialled:") for k in r):
            prefix = "undialled:attacker:"
    best = min((k for k in r if k.startswith(prefix)), key=r.get)
    return {"forged": r[forged] / r["full"], "attacker": r[best] / r[forged], "family": best[len(prefix):]}


def _choice(d: dict[str, Any]) -> str:
    """The dial's choice in a few characters."""
    if d.get("kind") == "rival":
        return f"rival w={d['rival_weight']:g}"
    if d.get("kind", "move" if d["move"] > 0 else "base") == "move":
        return f"move {d['move']:.2g} sd"
    return "unchanged"


def compare_lines(on: dict[str, list[dict[str, Any]]], off: dict[str, list[dict[str, Any]]] | None,
                  target: float, max_cost: float) -> list[str]:
    """Per table: the dial's runs (``on``) against the same seeds without it (``off``, e.g. the
    ``default`` store; None: the same runs' rows before the dial), and the summary over the
    tables both hold."""
    from enfo_sdk.forging.settings import SMALL_VALIDATION_ROWS

    lines = ["| table | seeds | same rows before the dial | forged / full off -> on | best attacker / key off -> on "
             "(family on) | dial's choice (per seed) | dial's validation ratio (unchanged -> kept) | dial seconds |",
             "|---|---|---|---|---|---|---|---|"]
    rows = []
    for t in [t for t in TABLES if t in on]:
        runs = sorted(on[t], key=lambda r: r["seed"])
        base = {r["seed"]: r for r in (on if off is None else off).get(t, [])}
        runs = [r for r in runs if r["seed"] in base]
        if not runs:
            continue
        f_on = [_figures(r) for r in runs]
        f_off = [_figures(base[r["seed"]], undialled=off is None) for r in runs]
        mean = lambda fs, k: float(np.mean([f[k] for f in fs]))  # noqa: E731
        # forge.rivalry.dial: auto -- on where the validation split is small and the forged rows
        # miss the target there (enfo_sdk.forging.calibration.dial_applies, stop_at_target)
        f_auto = [fn if r["dial"]["validation_rows"] < SMALL_VALIDATION_ROWS and r["dial"]["base_ratio"] is not None
                  and r["dial"]["base_ratio"] < target else ff for r, fn, ff in zip(runs, f_on, f_off)]
        row = {"forged_off": mean(f_off, "forged"), "forged_on": mean(f_on, "forged"),
               "attacker_off": mean(f_off, "attacker"), "attacker_on": mean(f_on, "attacker"),
               "forged_auto": mean(f_auto, "forged"), "attacker_auto": mean(f_auto, "attacker")}
        dials = [r["dial"] for r in runs]
        val = "; ".join(f"{d['base_ratio']:.3f} -> {d['ratio']:.3f}" for d in dials)
        # the other store's forged rows against this run's before the dial (the key's test predictions)
        same = off is None or all(np.allclose(r["pred"]["forged_undialled"], base[r["seed"]]["pred"]["forged"],
                                              rtol=1e-6, atol=0) for r in runs)
        if same:  # the summary compares like with like only
            rows.append(row)
        lines.append(
            f"| {t} | {', '.join(str(r['seed']) for r in runs)} | {'yes' if same else '**no**'} | "
            f"{row['forged_off']:.3f} -> {row['forged_on']:.3f} | "
            f"{row['attacker_off']:.3f} -> {row['attacker_on']:.3f} ({', '.join(f['family'] for f in f_on)}) | "
            f"{'; '.join(_choice(d) for d in dials)} | {val} | "
            f"{sum(d['seconds'] for d in dials):.0f} |")
    if rows:
        for tag in ("off", "on", "auto"):
            f = np.array([r[f"forged_{tag}"] for r in rows])
            a = np.array([r[f"attacker_{tag}"] for r in rows])
            both = int(np.sum((f <= 1 + max_cost) & (a >= target)))
            lines.append("")
            what = (" (forge.rivalry.dial: auto -- on only where the validation split has fewer than "
                    f"{SMALL_VALIDATION_ROWS} rows and the forged rows' validation ratio is below {target:g})"
                    if tag == "auto" else "")
            lines.append(f"**Dial {tag}**{what} ({len(rows)} tables with the same rows before the dial): forged / full median {np.median(f):.3f}; best "
                         f"attacker / key median {np.median(a):.3f}; forged / full <= {1 + max_cost:.2f} and "
                         f"attacker >= {target:g}x on {both} of {len(rows)}.")
    return lines


def write_report(args) -> None:
    store = Path(args.store)
    by_table = load_runs(store)
    if not by_table:
        raise SystemExit(f"nothing stored under {store}; run some tables first")
    order = [t for t in TABLES if t in by_table]
    rows = [summarise(sorted(by_table[t], key=lambda r: r["seed"]), args.boot) for t in order]
    for line in report_lines(rows, args.target, args.max_cost):
        print(line)
    compared = []
    if args.compare:
        other = None if args.compare == "self" else load_runs(Path(args.compare))
        what = ("the same runs' rows before the dial" if other is None else
                f"`{Path(args.compare).name}` on the same seeds (the same forged rows before the dial)")
        compared = ["", f"With and without the dial: this store against {what}:", "",
                    *compare_lines(by_table, other, args.target, args.max_cost)]
        for line in compared:
            print(line)
    if args.results:
        try:
            store = store.resolve().relative_to(ROOT)
        except ValueError:
            pass
        overrides = {json.dumps(r.get("forge_overrides", {}), sort_keys=True) for t in order for r in by_table[t]}
        text = "\n".join([
            f"### Tables benchmark: `{store.name}`", "",
            f"Store `{store}`; forging overrides {', '.join(sorted(overrides))}. Report command: "
            f"`python benchmarks/tables.py --report --store {store}`. Machine: {platform.machine()}, "
            f"{os.cpu_count()} cores (shared), Python {platform.python_version()}. "
            f"Report date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; seconds per table = forging (+ the rival dial) + "
            "attackers over its seeds, plus encapsulation once.", "",
            *report_lines(rows, args.target, args.max_cost), *compared, "",
        ])
        path = Path(args.results)
        old = path.read_text() if path.exists() else ""
        marker = f"### Tables benchmark: `{store.name}`"
        if marker in old:  # replace this store's section, keep the others
            head, rest = old.split(marker, 1)
            tail = rest.split("\n### ", 1)
            old = head + ("### " + tail[1] if len(tail) > 1 else "")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(old.rstrip() + ("\n\n" if old.strip() else "") + text)
        tmp.replace(path)
        print(f"wrote {path}")


def parse_override(s: str) -> tuple[str, Any]:
    k, _, v = s.partition("=")
    if not _:
        raise argparse.ArgumentTypeError(f"--forge takes NAME=VALUE, got {s!r}")
    try:
        return k, json.loads(v)
    except json.JSONDecodeError:
        return k, v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default=",".join(TABLES), help="comma-separated names (--list shows them)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--forge", type=parse_override, action="append", default=[],
                    help="a forging setting NAME=VALUE for every run (repeatable), e.g. --forge patience=80")
    ap.add_argument("--attackers", default="all", help="comma-separated attacker names, or all")
    ap.add_argument("--tag", default="default", help="name of the store folder under benchmarks/tables-runs")
    ap.add_argument("--store", default=None, help="folder of the per-run JSON (default benchmarks/tables-runs/TAG)")
    ap.add_argument("--report", action="store_true", help="build the table from the stored runs")
    ap.add_argument("--results", default=None, help="with --report: also write the section into this Markdown file")
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--target", type=float, default=1.2, help="attacker ratio the summary counts as met")
    ap.add_argument("--max-cost", type=float, default=0.05, help="forged / full - 1 the summary counts as met")
    ap.add_argument("--dial", default=None, metavar="TARGET,MAX_KEY_COST[,SECONDS]",
                    help="run the rival dial on the forged rows (as forge.rivalry.max_key_cost), "
                         "e.g. --dial 1.2,0.03 (SECONDS: the zoo's budget per candidate, default 60)")
    ap.add_argument("--compare", default=None, metavar="STORE",
                    help="with --report: compare this store's runs (made with --dial) with STORE's on the same seeds, "
                         "or with the same runs' rows before the dial (self)")
    ap.add_argument("--rows-fraction", type=float, default=1.0,
                    help="forge this fraction of the usual rows (min(100, n_train // 4)), at least 5")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    args.store = args.store or str(ROOT / "benchmarks" / "tables-runs" / args.tag)
    if not 0 < args.rows_fraction <= 1:
        ap.error(f"--rows-fraction must be in (0, 1], got {args.rows_fraction}")
    if args.list:
        for t in TABLES.values():
            print(f"{t.name:10} {t.target:18} {t.source}: {t.note}")
        return 0
    if args.report:
        write_report(args)
        return 0
    from enfo_sdk.evaluate import ZOO

    attackers = ZOO if args.attackers == "all" else tuple(args.attackers.split(","))
    overrides = dict(args.forge)
    dial = None
    if args.dial:
        parts = [float(v) for v in args.dial.split(",")]
        dial = (parts[0], parts[1], parts[2] if len(parts) > 2 else 60.0)
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    for name in args.tables.split(","):
        if name not in TABLES:
            raise SystemExit(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        t0 = time.perf_counter()
        p = prepare(TABLES[name], args.test_fraction)
        print(f"{name}: {p['n']} rows, key {dict(p['spec'].hyperparameters)} "
              f"[{p['encapsulate_seconds']:.0f} s]", flush=True)
        for seed in args.seeds:
            run = run_seed(TABLES[name], p, seed, overrides, attackers, dial, args.rows_fraction)
            path = store / f"{name}-seed{seed}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(run))
            tmp.replace(path)
            y = np.asarray(run["y_test"])
            r = {k: math.sqrt(float(np.mean((np.asarray(v) - y) ** 2))) for k, v in run["pred"].items()}
            best = min((k for k in r if k.startswith("attacker:")), key=r.get)
            print(f"  seed {seed}: forged/full {r['forged'] / r['full']:.3f} sampled/full "
                  f"{r['sampled'] / r['full']:.3f} {best[9:]}/key {r[best] / r['forged']:.3f} "
                  f"+outside {r['outside'] / r['forged']:.3f} kept step {run['forge']['best_step']} of "
                  f"{run['forge']['steps_run']} [{run['forge_seconds']:.0f} + {run['attack_seconds']:.0f} s]",
                  flush=True)
            if run["dial"] is not None:
                print(f"    undialled forged/full {r['forged_undialled'] / r['full']:.3f}; {run['dial']['message']} "
                      f"[{run['dial']['seconds']:.0f} s]", flush=True)
        print(f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
