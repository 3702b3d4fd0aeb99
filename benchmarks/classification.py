"""Classification keys on the built-in classification tables: forged vs full vs sampled rows.

For each table (breast_cancer, wine, churn): a seeded 70/30 train/test split, the key
(``nu-method-classifier`` by default) encapsulated on the training rows, then for each bundle
size (10 rows per class, and 100 rows -- capped below the rows forging learns from) and each
forging seed: the key's test accuracy and log-loss on the forged rows, on as many real
training rows sampled at random (same seed), and on all training rows; with ``--zoo`` the best
CV-tuned classifier attacker on the first seed's bundle of the first loss beside the key. Prints a markdown table.

    python benchmarks/classification.py --seeds 0 1 2 3 4 --loss squared cross_entropy
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from enfo_sdk import encapsulate, forge
from enfo_sdk.data.builtin import load_builtin
from enfo_sdk.data.columns import ColumnTransform, infer_schema, target_classes
from enfo_sdk.evaluate.classification import attacker_zoo_classify, key_classification

TABLES = {"breast_cancer": {}, "wine": {}, "churn": {"n": 2000}}


def split(name: str):
    df, target = load_builtin(name, **TABLES[name])
    perm = np.random.default_rng(0).permutation(len(df))
    n_test = int(round(0.3 * len(df)))
    train, test = df.iloc[np.sort(perm[n_test:])], df.iloc[np.sort(perm[:n_test])]
    ct = ColumnTransform.fit(train, infer_schema(df, target), target, task="classification",
                             classes=target_classes(df[target], target, name))
    return (ct.encode_frame(train), pd.Series(ct.target_values(train), name=target),
            ct.encode(test), ct.target_values(test), ct)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--loss", nargs="+", default=["squared"])
    ap.add_argument("--sizes", nargs="+", default=["per_class", "100"])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--algorithm", default="nu-method-classifier")
    ap.add_argument("--zoo", action="store_true")
    a = ap.parse_args()
    print("| table | k | rows | loss | full acc | forged acc (mean ± sd) | sampled acc (mean ± sd) | "
          "full log-loss | forged log-loss | sampled log-loss | forge s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    zoo_lines = []
    for name in a.tables:
        X, y, Xt, yt, ct = split(name)
        k = len(ct.target.classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = encapsulate(X, y, algorithm=a.algorithm).with_columns(ct)
        full = key_classification(spec, X, y, Xt, yt)
        usable = len(y) - max(1, int(round(0.2 * len(y))))
        for size in a.sizes:
            rows = 10 * k if size == "per_class" else min(int(size), usable - 1)
            for loss in a.loss:
                fa, fl, sa, sl, secs = [], [], [], [], []
                for seed in a.seeds:
                    t0 = time.perf_counter()
                    res = forge(X, y, spec, rows=rows, seed=seed, steps=a.steps, class_loss=loss)
                    secs.append(time.perf_counter() - t0)
                    m = key_classification(res.spec, res.X, res.y, Xt, yt)
                    fa.append(m["accuracy"])
                    fl.append(m["log_loss"])
                    idx = np.random.default_rng(seed).choice(len(y), rows, replace=False)
                    s = key_classification(spec, X.to_numpy()[idx], y.to_numpy()[idx], Xt, yt)
                    sa.append(s["accuracy"])
                    sl.append(s["log_loss"])
                    if a.zoo and seed == a.seeds[0] and loss == a.loss[0]:
                        z = attacker_zoo_classify(res.X, res.y, Xt, yt, k, key=m, seed=seed)
                        zoo_lines.append(
                            f"| {name} | {rows} | {loss} | {m['accuracy']:.4f} | {m['log_loss']:.4f} | "
                            f"{z['best']} | {z['best_accuracy']:.4f} | {z['best_log_loss']:.4f} |")
                        print(f"zoo {zoo_lines[-1]}", flush=True)
                print(f"| {name} | {k} | {rows} | {loss} | {full['accuracy']:.4f} | "
                      f"{np.mean(fa):.4f} ± {np.std(fa):.4f} | {np.mean(sa):.4f} ± {np.std(sa):.4f} | "
                      f"{full['log_loss']:.4f} | {np.mean(fl):.4f} | {np.mean(sl):.4f} | {np.mean(secs):.1f} |",
                      flush=True)
    if zoo_lines:
        print("\n| table | rows | loss | key acc | key log-loss | best attacker | its acc | its log-loss |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(zoo_lines))


if __name__ == "__main__":
    main()
