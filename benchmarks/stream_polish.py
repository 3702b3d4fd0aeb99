"""The targets' polish on a streamed source: large public tables forged from Parquet with and
without it (prints figures; not a test).

The in-memory benchmark (``benchmarks/tables.py``) cuts its tables to 3,000 rows; here the two
large ones are read whole and forged the way a table too large for memory is: from a Parquet
file through :class:`enfo_sdk.stream.ParquetSource` (its own per-row split: 30% test rows,
forging's validation rows from the rest). Per table:

* rows with a missing value dropped; column types inferred and encoded by a
  :class:`~enfo_sdk.data.columns.ColumnTransform` fitted on the whole table (its bounds and
  levels), the encoded rows written to one Parquet file (4,096-row row groups);
* the key: :func:`enfo_sdk.encapsulate` at its defaults on the source's seeded sample of 5,000
  training rows (as ``enfo-owner forge`` encapsulates a streamed table);
* *full*: the key fitted on a seeded sample of at most 10,000 training rows (the cap of
  ``enfo-owner evaluate``); *sampled*: the key on 100 seeded training rows;
* *forged*: :func:`enfo_sdk.forge` of 100 rows from the source at its defaults, ``polish`` on
  (the default) and off, one run per seed;
* every RMSE on the source's test rows (at most 100,000).

    OMP_NUM_THREADS=1 python benchmarks/stream_polish.py [--tables randhie,fair] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ROWS = 5000
FULL_ROWS = 10_000
ROWS = 100


def rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def run_table(name: str, seeds: list[int], folder: Path) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tables import TABLES

    from enfo_sdk import encapsulate, forge
    from enfo_sdk.data.columns import ColumnTransform, infer_schema
    from enfo_sdk.stream import ParquetSource

    table = TABLES[name]
    df = table.load().rename(columns=str).dropna().reset_index(drop=True)
    schema = infer_schema(df, table.target, where=name)
    path = folder / f"{name}.parquet"
    columns = ColumnTransform.fit(df, schema, table.target, where=name)
    enc = columns.encode_frame(df).assign(**{table.target: columns.target_values(df)})
    pq.write_table(pa.Table.from_pandas(enc, preserve_index=False), path, row_group_size=4096)
    source = ParquetSource(path, table.target, test_fraction=0.3)
    Xs, ys = source.sample(SAMPLE_ROWS, 0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = encapsulate(Xs, ys, seed=0)
    enc_s = time.perf_counter() - t0
    Xt, yt = source.test_rows()
    Xf, yf = source.sample(FULL_ROWS, 1)
    full = rmse(spec.build().fit(Xf.to_numpy(), yf.to_numpy()).predict(Xt), yt)
    print(f"{name}: {len(df):,} rows, {source.n_train:,} training, {source.n_validation:,} validation, "
          f"{len(yt):,} test; key {dict(spec.hyperparameters)} ({enc_s:.0f} s); full (on {len(yf):,} rows) "
          f"RMSE {full:.4g}", flush=True)
    out = {"on": [], "off": [], "sampled": []}
    for seed in seeds:
        line = [f"  seed {seed}:"]
        for polish, tag in ((None, "on"), (False, "off")):
            src = ParquetSource(path, table.target, test_fraction=0.3)
            t0 = time.perf_counter()
            res = forge(src, None, spec, rows=ROWS, seed=seed, polish=polish)
            sec = time.perf_counter() - t0
            src.close()
            r = rmse(spec.build().fit(res.X, res.y).predict(Xt), yt) / full
            out[tag].append(r)
            lam = res.metrics.get("polish_lambda", "-")
            line.append(f"{tag} {r:.3f} (kept step {res.metrics['best_step']} of {res.metrics['steps_run']}, "
                        f"lambda {lam}, {sec:.1f} s)")
        Xr, yr = source.sample(ROWS, 100 + seed)
        out["sampled"].append(rmse(spec.build().fit(Xr.to_numpy(), yr.to_numpy()).predict(Xt), yt) / full)
        line.append(f"sampled {out['sampled'][-1]:.3f}")
        print(" ".join(line), flush=True)
    print(f"  mean over seeds: forged / full with the polish {np.mean(out['on']):.3f}, without "
          f"{np.mean(out['off']):.3f}; sampled / full {np.mean(out['sampled']):.3f}", flush=True)
    source.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="randhie,fair")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for name in args.tables.split(","):
            run_table(name, args.seeds, Path(d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
