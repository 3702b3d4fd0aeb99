"""Is the adaptable miss on Friedman #3 the attacker zoo's grid? Kernel ridge and SVR on wider grids.

The zoo (``enfo_sdk.evaluate.attackers``) tunes kernel ridge over alpha 1e-3..1 and SVR over
C 0.3..30; the key fits its rows almost exactly (kernel ridge as the key needs alpha 1e-8). This
script forges the same bundles as ``benchmarks/modes.py`` (forging seed 0: rival, and adaptable
at the weights given) and trains kernel ridge (alpha 1e-8..1, gamma 0.01..3) and SVR (C 0.3..3000,
gamma 0.01..3, epsilon 0.001..0.1) on each, tuned by 5-fold CV on the 100 rows as the zoo is, and
prints each one's test RMSE over the key's with the parameters CV chose.

``--krr-key BANDWIDTH,ALPHA`` adds a bundle forged for kernel ridge *as the key* (those
hyperparameters, the nu-method key's preprocessing; on Friedman #3 ``encapsulate(...,
algorithm="krr")`` picks 2,1e-8, in 519 s): the key's RMSE is then what kernel ridge can do on
100 forged rows when its hyperparameters are known, against the same model tuned by CV on them.
Not a test: minutes.

    python benchmarks/adaptable_grid.py [--dataset friedman3] [--weights 1,30,300] [--krr-key 2,1e-8]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modes import prepare  # noqa: E402

GRIDS = {
    "krr": {"alpha": list(np.geomspace(1e-8, 1, 9)), "gamma": list(np.geomspace(0.01, 3, 6))},
    "svr": {"C": [0.3, 3, 30, 300, 3000], "gamma": list(np.geomspace(0.01, 3, 6)), "epsilon": [0.001, 0.01, 0.1]},
}


def wide(name, Xb, yb, Xt, yt):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    model = KernelRidge(kernel="rbf") if name == "krr" else SVR(kernel="rbf")
    pipe = TransformedTargetRegressor(regressor=Pipeline([("scale", StandardScaler()), ("model", model)]),
                                      transformer=StandardScaler())
    search = GridSearchCV(pipe, {f"regressor__model__{k}": v for k, v in GRIDS[name].items()},
                          cv=KFold(5, shuffle=True, random_state=0), scoring="neg_mean_squared_error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(Xb, yb)
    rmse = float(np.sqrt(np.mean((search.predict(Xt) - yt) ** 2)))
    return rmse, {k.rsplit("__", 1)[-1]: float(f"{v:.3g}") for k, v in search.best_params_.items()}


def main() -> int:
    from enfo_sdk import forge
    from enfo_sdk.evaluate.utility import key_rmse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="friedman3")
    ap.add_argument("--weights", default="1,30,300", help="adaptability weights")
    ap.add_argument("--krr-key", default="", help="BANDWIDTH,ALPHA of a kernel ridge key to forge for too")
    args = ap.parse_args()
    p = prepare(args.dataset, 1000)
    print(f"{args.dataset}: key {dict(p['spec'].hyperparameters)}, full data {p['full']:.4g}")
    settings = [("rival", {"mode": "rival"})] + [
        (f"adaptable w={w}", {"mode": "adaptable", "adaptability_weight": float(w)}) for w in args.weights.split(",")]
    specs = {label: p["spec"] for label, _ in settings}
    if args.krr_key:
        from enfo_sdk import KeySpec

        bw, alpha = (float(v) for v in args.krr_key.split(","))
        krr = KeySpec(algorithm="krr", version=1, hyperparameters={"bandwidth": bw, "alpha": alpha},
                      preprocessing=p["spec"].preprocessing)
        label = f"krr key {args.krr_key}, rival"
        settings.append((label, {"mode": "rival"}))
        specs[label] = krr
    for label, kw in settings:
        t0 = time.perf_counter()
        spec = specs[label]
        res = forge(p["Xtr"], p["ytr"], spec, seed=0, **{**p["base_kw"], **kw})
        Xb, yb = np.asarray(res.X, np.float64), np.asarray(res.y, np.float64)
        key = key_rmse(spec, Xb, yb, p["Xt"], p["yt"])
        parts = [f"{label}: key {key:.4g} ({key / p['full'] - 1:+.1%} vs full)"]
        for name in ("krr", "svr"):
            rmse, chosen = wide(name, Xb, yb, p["Xt"], p["yt"])
            parts.append(f"{name} x{rmse / key:.3f} {chosen}")
        print("  ".join(parts) + f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
