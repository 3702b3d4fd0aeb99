"""How to fit the forged rows' temperature: test log-loss of four fits on the same bundles.

For each table and forging seed (the split and key of ``benchmarks/classification.py``), one
bundle is forged and its key's scores are turned into probabilities with the temperature fitted

* ``val_plain``: by the plain log-loss on the forging validation rows (the fit before Platt
  targets: it reaches the bracket's floor when those rows are separated perfectly);
* ``val_platt``: against Platt targets on the forging validation rows;
* ``train_platt``: against Platt targets on all the owner's training rows;
* ``encapsulated``: the temperature encapsulation fitted on the full key's out-of-fold scores
  (what the forged rows' key keeps, docs/keys.md).

Prints a markdown table of the test log-loss (mean over seeds) and how often each fit ended
within 1% of the bracket's floor. Accuracy is the same for all (tau never changes the class).

    python benchmarks/classification_temperature.py --rows 100 --seeds 0 1 2 3 4
    python benchmarks/classification_temperature.py --contract key.yaml --seeds 0 1 2
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


def contract_task(path: str):
    """A classification contract's training rows, protocol test rows, key and forge settings."""
    from enfo_sdk.contract import load_contract
    from enfo_sdk.workflows.common import encapsulate_contract
    from enfo_sdk.workflows.owner_data import load_owner_split

    contract = load_contract(path)
    owner = load_owner_split(contract)
    spec = encapsulate_contract(contract, owner.X_train, owner.y_train, None, [], columns=owner.columns)
    _, test = owner.holdout_roles(contract.data.seed)
    return (owner.X_train, owner.y_train, owner.X_test[test], owner.y_test[test], spec,
            owner.forge_settings(contract))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--rows", default="100", help="'per_class' (10 per class) or a number")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--contract", help="instead of the built-in tables: a classification contract (its "
                    "split, test rows, key and forge settings, the forging seed replaced by --seeds)")
    a = ap.parse_args()
    t_start = time.perf_counter()
    print("| table | rows | " + " | ".join(f"{f} log-loss" for f in FITS) + " | fits at the floor |")
    print("|---|---|" + "---|" * (len(FITS) + 1))
    for name in [a.contract] if a.contract else a.tables:
        if a.contract:
            X, y, Xt, yt, spec, settings = contract_task(a.contract)
            rows = settings.rows
        else:
            X, y, Xt, yt, ct = split(name)
            k = len(ct.target.classes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spec = encapsulate(X, y, algorithm="nu-method-classifier").with_columns(ct)
            usable = len(y) - max(1, int(round(0.2 * len(y))))
            rows = 10 * k if a.rows == "per_class" else min(int(a.rows), usable - 1)
            settings = None
        losses = {f: [] for f in FITS}
        floor = {f: 0 for f in FITS}
        for seed in a.seeds:
            if settings is None:
                res = forge(X, y, spec, rows=rows, seed=seed, steps=a.steps)
            else:
                res = forge(X, y, spec, settings.replace(seed=seed))
            model = res.spec.build().fit(res.X, res.y)
            validation = 0.2 if settings is None else settings.validation
            rows_data = ArrayRows(X, y, spec, validation, seed, torch.device("cpu"))  # forge's split
            val = (model.decision_function(spec.preprocessing.inverse_X(rows_data.Zval.numpy())),
                   rows_data.tval.numpy().argmax(1))
            train = model.decision_function(X.to_numpy(np.float64)), y.to_numpy().astype(int)
            taus = {"val_plain": fit_temperature(*val, targets="one_hot"), "val_platt": fit_temperature(*val),
                    "train_platt": fit_temperature(*train),
                    "encapsulated": spec.hyperparameters["temperature"]}  # = res.spec's
            Ft = model.decision_function(np.asarray(Xt, np.float64))
            for f, tau in taus.items():
                losses[f].append(classification_metrics(yt, softmax(Ft, tau))["log_loss"])
                floor[f] += tau < 1.01 * TEMPERATURE_BRACKET[0] * np.exp(0.5)  # the grid's first cell
        print(f"| {name} | {rows} | " + " | ".join(f"{np.mean(losses[f]):.4f}" for f in FITS) + " | "
              + ", ".join(f"{f} {floor[f]}/{len(a.seeds)}" for f in FITS if floor[f]) + " |", flush=True)
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
