"""How to fit the forged rows' temperature: test log-loss of four fits on the same bundles.

For each table and forging seed (the split and key of ``benchmarks/classification.py``), one
bundle is forged and its key's scores are turned into probabilities with the temperature fitted

* ``val_plain``: by the plain log-loss on the forging validation rows (the fit before Platt
  targets: it reaches the bracket's floor when those rows are separated perfectly);
* ``val_platt``: against Platt targets on the forging validation rows;
* ``train_platt``: against Platt targets on all the owner's training rows (what forging does);
* ``encapsulated``: the temperature encapsulation fitted on the full key's out-of-fold scores.

Prints a markdown table of the test log-loss (mean over seeds) and how often each fit ended
within 1% of the bracket's floor. Accuracy is the same for all (tau never changes the class).

    python benchmarks/classification_temperature.py --rows 100 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from classification import TABLES, split
from enfo_sdk import encapsulate, forge
from enfo_sdk.evaluate.classification import classification_metrics
from enfo_sdk.forging.owner_rows import ArrayRows
from enfo_sdk.keys.classify import TEMPERATURE_BRACKET, fit_temperature, softmax

FITS = ("val_plain", "val_platt", "train_platt", "encapsulated")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--rows", default="100", help="'per_class' (10 per class) or a number")
    ap.add_argument("--steps", type=int, default=800)
    a = ap.parse_args()
    t_start = time.perf_counter()
    print("| table | rows | " + " | ".join(f"{f} log-loss" for f in FITS) + " | fits at the floor |")
    print("|---|---|" + "---|" * (len(FITS) + 1))
    for name in a.tables:
        X, y, Xt, yt, ct = split(name)
        k = len(ct.target.classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = encapsulate(X, y, algorithm="nu-method-classifier").with_columns(ct)
        usable = len(y) - max(1, int(round(0.2 * len(y))))
        rows = 10 * k if a.rows == "per_class" else min(int(a.rows), usable - 1)
        losses = {f: [] for f in FITS}
        floor = {f: 0 for f in FITS}
        for seed in a.seeds:
            res = forge(X, y, spec, rows=rows, seed=seed, steps=a.steps)
            model = res.spec.build().fit(res.X, res.y)
            rows_data = ArrayRows(X, y, spec, 0.2, seed, torch.device("cpu"))  # forge's split
            val = (model.decision_function(spec.preprocessing.inverse_X(rows_data.Zval.numpy())),
                   rows_data.tval.numpy().argmax(1))
            train = model.decision_function(X.to_numpy(np.float64)), y.to_numpy().astype(int)
            taus = {"val_plain": fit_temperature(*val, targets="one_hot"), "val_platt": fit_temperature(*val),
                    "train_platt": fit_temperature(*train),
                    "encapsulated": spec.hyperparameters["temperature"]}
            Ft = model.decision_function(np.asarray(Xt, np.float64))
            for f, tau in taus.items():
                losses[f].append(classification_metrics(yt, softmax(Ft, tau))["log_loss"])
                floor[f] += tau < 1.01 * TEMPERATURE_BRACKET[0] * np.exp(0.5)  # the grid's first cell
        print(f"| {name} | {rows} | " + " | ".join(f"{np.mean(losses[f]):.4f}" for f in FITS) + " | "
              + ", ".join(f"{f} {floor[f]}/{len(a.seeds)}" for f in FITS if floor[f]) + " |", flush=True)
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
