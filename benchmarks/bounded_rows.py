"""Bounded against unbounded forged rows, and the early-stopping patience (prints figures; not a test).

Since typed columns (issue 13), forged rows live inside their columns' ranges by construction
(a sigmoid box per numeric column, :mod:`enfo_sdk.forging.params`), which slows the first
improvements; this measures what that and the patience default cost on the quick start's
setting: Friedman #3, 5,000 training / 5,000 test rows, a fixed nu-method key (bandwidth 2,
T 1999, the quick start's encapsulated key), 100 forged rows, seed 0.

    python benchmarks/bounded_rows.py [--patience 20 40] [--rows 100] [--seeds 0]

Columns: rows (bounded = key with its column encoding, so forging keeps rows inside the
training range; unbounded = the same key with no encoding), patience, the step forging kept,
test RMSE of the key on the forged rows over the key on all training rows, and seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from enfo_sdk import encapsulate, forge
from enfo_sdk.data.columns import ColumnTransform, infer_schema
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.evaluate.utility import key_rmse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patience", type=int, nargs="+", default=[20, 40])
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()

    df = friedman3(n=10_000, seed=0)
    perm = np.random.default_rng(0).permutation(len(df))
    train, test = df.iloc[np.sort(perm[5000:])], df.iloc[np.sort(perm[:5000])]
    columns = ColumnTransform.fit(train, infer_schema(train, "y", None, None, where="friedman3"), "y")
    X, y = columns.encode_frame(train), train["y"]
    X_test, y_test = columns.encode(test), test["y"].to_numpy()
    key = encapsulate(X, y, search={"bandwidth": [2.0], "iterations": [1999]})
    full = key_rmse(key, X.to_numpy(), y.to_numpy(), X_test, y_test)
    print(f"key: {key.hyperparameters}; full-data test RMSE {full:.4f}")
    print(f"{'rows':>10} {'patience':>8} {'seed':>4} {'kept step':>9} {'forged/full':>11} {'seconds':>8}")
    for bounded in (True, False):
        spec = key.with_columns(columns if bounded else None)
        for patience in args.patience:
            for seed in args.seeds:
                t0 = time.perf_counter()
                res = forge(X, y, spec, rows=args.rows, patience=patience, seed=seed)
                secs = time.perf_counter() - t0
                ratio = key_rmse(key, res.X, res.y, X_test, y_test) / full
                print(f"{'bounded' if bounded else 'unbounded':>10} {patience:>8} {seed:>4} "
                      f"{res.metrics['best_step']:>9} {ratio:>11.4f} {secs:>8.1f}")


if __name__ == "__main__":
    main()
