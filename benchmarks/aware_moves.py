"""Attacker-aware moves of the forged targets (issue 15, item 2; prints figures, not a test).

The rival dial's least-visible move (:mod:`enfo_sdk.forging.dial`) moves the forged targets along
the direction the *key* sees least; on public tables the attackers did not see it either. This
benchmark measures moves aimed at the attackers instead. For fixed forged features the linear
attackers of the zoo (:mod:`enfo_sdk.evaluate.attackers`: ridge with intercept, KRR with an RBF
kernel, each inside its pipeline of standardized features and target) predict the owner's rows
as ``B_h t`` for targets ``t`` at a fixed hyperparameter ``h`` -- linear in ``t`` like the key's
``A t`` (:func:`enfo_sdk.forging.dial.key_matrix`). ``B_h`` is formed in closed form
(:func:`ridge_map`, :func:`krr_map`; checked against the fitted grid search's predictions), for
the ``h`` the attackers' 5-fold CV picks on the forged rows and its grid neighbours, each weighted
by ``1 / trace(B_h^T B_h)``. Two directions (``A``, ``B_h`` on the owner rows the dial's plan
uses: forging's training rows and its validation split; ``M = A^T A / n + eps * tr(A^T A / n) / m * I``):

* ``aware``: the top generalized eigenvector of ``(sum_h w_h B_h^T B_h, M)`` -- the move that
  changes the linear attackers' predictions most per unit change of the key's -- signed so the
  attackers' owner-row error rises at first order (``g . d > 0``, below);
* ``grad``: ``M^-1 g``, ``g = sum_h w_h B_h^T (B_h t - t_owner) / n`` -- the attackers' error
  gradient, at the least key change.

Each is applied on the dial's move grid (:data:`enfo_sdk.forging.dial.MOVE_GRID`, clipped into
the target's box); for each budget of :data:`BUDGETS` the largest move whose *validation* cost
(the larger of the exact validation cost and the cost without luck, as the dial's budget) is
within it is kept. The whole zoo is re-tuned by CV on the moved rows and scored on the test rows
(forged / full; best attacker / key). The report gives both "always move" (the largest move
within the budget, every run) and the dial's own rule (:func:`enfo_sdk.forging.calibration.choose`:
the fast zoo's validation ratio, the paired bootstrap's lower bound above 0), i.e. what the move
would do as a dial candidate chosen by the validation split alone.

Tables, splits, key and forging: ``benchmarks/tables.py`` (``prepare``, forging at defaults,
``min(100, n_train // 4)`` rows). Each (table, seed, eps) is stored as JSON under ``--store``:

    OMP_NUM_THREADS=1 python benchmarks/aware_moves.py --tables macrodata,engel --seeds 0 1 2
    python benchmarks/aware_moves.py --report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: Validation key-cost budgets a move is sized to.
BUDGETS = (0.01, 0.03, 0.05)
#: The seven tables whose ceiling (an attacker predicting the targets' mean) is above 1.2x.
HEADROOM = "macrodata,grunfeld,engel,star98,cars,seattle,diabetes"
RIDGE_ALPHAS = [1e-3, 1e-2, 1e-1, 1.0, 10.0]  # the zoo's grids (enfo_sdk.evaluate.attackers)
KRR_ALPHAS = [1e-3, 1e-2, 1e-1, 1.0]
KRR_GAMMAS = [0.03, 0.1, 0.3, 1.0]


def ridge_map(Xs: np.ndarray, Xo: np.ndarray, alpha: float) -> np.ndarray:
    """(n, m): ridge with intercept fitted on standardized features ``Xs`` predicts rows ``Xo``
    as this matrix times the targets (a target standardization does not change it)."""
    m = len(Xs)
    xm = Xs.mean(0)
    Xc = Xs - xm
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(Xs.shape[1]), Xc.T)
    return (Xo - xm) @ W @ (np.eye(m) - 1.0 / m) + 1.0 / m


def krr_map(Xs: np.ndarray, Xo: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """(n, m): KRR (RBF, no intercept) on the centred target, the mean added back (the zoo's
    target standardization), as a matrix of the targets."""
    from sklearn.metrics.pairwise import rbf_kernel

    m = len(Xs)
    G = np.linalg.inv(rbf_kernel(Xs, Xs, gamma=gamma) + alpha * np.eye(m))
    return rbf_kernel(Xo, Xs, gamma=gamma) @ G @ (np.eye(m) - 1.0 / m) + 1.0 / m


def _neighbours(grid: list, best) -> list:
    i = grid.index(best)
    return grid[max(0, i - 1): i + 2]


def _rmse(r) -> float:
    r = np.asarray(r, np.float64)
    return float(np.sqrt(np.mean(r * r)))


def _zoo(Xf, yf, Xt, yt, Xval, seed):
    """The whole zoo tuned by CV on (Xf, yf): test RMSE per attacker, validation predictions."""
    from enfo_sdk.evaluate import ZOO
    from enfo_sdk.evaluate.attackers import make_attacker

    rmse, val = {}, {}
    for name in ZOO:
        s = make_attacker(name, len(yf), seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s.fit(Xf, yf)
        rmse[name] = _rmse(s.predict(Xt) - yt)
        val[name] = s.predict(Xval).tolist()
    return rmse, val


def directions(A, t, t_owner, maps, eps):
    """The ``aware`` and ``grad`` directions (module docstring) and the top generalized eigenvalue."""
    n, m = A.shape
    AtA = A.T @ A / n
    M = AtA + eps * np.trace(AtA) / m * np.eye(m)
    S, g = np.zeros((m, m)), np.zeros(m)
    for B in maps:
        BtB = B.T @ B / n
        w = 1.0 / np.trace(BtB)
        S += w * BtB
        g += w * B.T @ (B @ t - t_owner) / n
    ev, U = np.linalg.eigh(M)
    Mi = U @ np.diag(ev ** -0.5) @ U.T
    lam, V = np.linalg.eigh(Mi @ S @ Mi)
    aware = Mi @ V[:, -1]
    if g @ aware < 0:
        aware = -aware
    return {"aware": aware, "grad": np.linalg.solve(M, g)}, float(lam[-1])


def run(table: str, seed: int, p: dict, eps: float) -> dict:
    """Forge ``table`` with ``seed`` and measure every move (module docstring); JSON-ready."""
    import tables as T

    from enfo_sdk import forge
    from enfo_sdk.evaluate.attackers import make_attacker
    from enfo_sdk.forging.dial import MOVE_GRID, key_matrix, plan, targets_at
    from enfo_sdk.forging.settings import ForgeSettings

    spec = p["spec"]
    pre = spec.preprocessing
    m = min(T.FORGED_ROWS, len(p["y"]) // 4)
    res = forge(p["X"], p["y"], spec, rows=m, seed=seed)
    s = ForgeSettings.build(rows=m, seed=seed)
    pl, (Xval, yval) = plan(res, p["X"], p["y"], validation=s.validation, seed=s.seed)
    Xval = np.asarray(Xval, np.float64)
    Xf, yf = np.asarray(res.X, np.float64), np.asarray(res.y, np.float64)
    tf = pl.t
    Xt, yt = np.asarray(p["Xt"], np.float64), np.asarray(p["yt"], np.float64)
    tt = pre.transform_y(yt)
    A_test = key_matrix(spec, pre.transform_X(Xf), pre.transform_X(Xt), tf)
    full = _rmse(T.predict(spec, p["X"], p["y"], Xt) - yt)
    mu, sd = Xf.mean(0), Xf.std(0)
    sd[sd == 0] = 1.0
    Xs, Xos = (Xf - mu) / sd, (pre.inverse_X(pl.Z_owner) - mu) / sd
    picks = {}
    for name in ("ridge", "krr"):  # the CV's picks on the forged rows, and a check of the maps
        search = make_attacker(name, m, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(Xf, yf)
        h = picks[name] = {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()}
        B = (ridge_map(Xs, (Xt - mu) / sd, h["alpha"]) if name == "ridge"
             else krr_map(Xs, (Xt - mu) / sd, h["alpha"], h["gamma"]))
        gap = np.abs(pre.inverse_y(B @ tf) - search.predict(Xt)).max() / np.abs(yt).max()
        if not gap < 1e-6:
            raise SystemExit(f"{table} seed {seed}: the {name} map misses its fitted search by {gap:.2g}")
    maps = [ridge_map(Xs, Xos, a) for a in _neighbours(RIDGE_ALPHAS, picks["ridge"]["alpha"])]
    maps += [krr_map(Xs, Xos, a, gm) for a in _neighbours(KRR_ALPHAS, picks["krr"]["alpha"])
             for gm in _neighbours(KRR_GAMMAS, picks["krr"]["gamma"])]
    A = pl.A_owner
    dirs, lam = directions(A, tf, pl.t_owner, maps, eps)
    r_key = A @ tf - pl.t_owner
    val0 = _rmse(pl.A_val @ tf - pl.t_val)

    def costs(tn):
        d = A @ (tn - tf)
        return _rmse(pl.A_val @ tn - pl.t_val) / val0 - 1, float(np.sqrt(1 + d @ d / (r_key @ r_key)) - 1)

    key0 = _rmse(A_test @ tf - tt) * pre.target_scale
    z, val = _zoo(Xf, yf, Xt, yt, Xval, seed)
    out = {"table": table, "seed": seed, "eps": eps, "rows": m, "picks": picks, "gen_eig": lam,
           "y_val": np.asarray(yval, np.float64).tolist(),
           "base": {"forged": key0 / full, "attacker": min(z.values()) / key0, "best": min(z, key=z.get),
                    "val_pred": {"key": pre.inverse_y(pl.A_val @ tf).tolist(), **val}},
           "moves": {}}
    done = {}
    for kind, d in dirs.items():
        step = np.sqrt(m) * d / np.linalg.norm(d)
        grid = [(float(e), *costs(targets_at(tf, step, float(e), pl.box))) for e in MOVE_GRID]
        for b in BUDGETS:
            ok = [e for e, c, sc in grid if max(c, sc) <= b]
            if not ok:
                out["moves"][f"{kind}@{b:g}"] = None
                continue
            e = max(ok)
            if (kind, e) not in done:
                tn = targets_at(tf, step, e, pl.box)
                kt = _rmse(A_test @ tn - tt) * pre.target_scale
                z, val = _zoo(Xf, pre.inverse_y(tn), Xt, yt, Xval, seed)
                c, sc = costs(tn)
                done[(kind, e)] = {"move": e, "val_cost": c, "settled_cost": sc, "test_cost": kt / key0 - 1,
                                   "forged": kt / full, "attacker": min(z.values()) / kt, "best": min(z, key=z.get),
                                   "val_pred": {"key": pre.inverse_y(pl.A_val @ tn).tolist(), **val}}
            out["moves"][f"{kind}@{b:g}"] = done[(kind, e)]
    return out


# -- the report ------------------------------------------------------------------------------
def _dial_choice(r: dict, kinds: tuple[str, ...], b: float) -> dict:
    """The dial's rule on the base and the ``kinds`` moves at budget ``b``: the chosen figures."""
    from enfo_sdk.evaluate.rivalry import FAST_ZOO
    from enfo_sdk.forging.calibration import best_ratio, choose, paired_gain

    y = np.asarray(r["y_val"])
    idx = np.arange(len(y))[None]

    def fast(vp):
        return {k: np.asarray(v) for k, v in vp.items() if k == "key" or k in FAST_ZOO}

    bp = fast(r["base"]["val_pred"])
    cands = [{"kind": "base", "key_cost": 0.0, "settled_cost": 0.0, "ratio": float(best_ratio(y, bp, idx)[0]),
              "fig": r["base"]}]
    for k in kinds:
        v = r["moves"].get(f"{k}@{b:g}")
        if v is not None:
            cp = fast(v["val_pred"])
            cands.append({"kind": k, "key_cost": v["val_cost"], "settled_cost": v["settled_cost"],
                          "ratio": float(best_ratio(y, cp, idx)[0]), "gain_low": paired_gain(y, bp, cp)[1],
                          "fig": v})
    c = choose(cands, b)
    return {**c["fig"], "kind": c["kind"]}


def report(store: Path, eps: float) -> None:
    runs = [json.loads(f.read_text()) for f in sorted(store.glob("*.json"))]
    runs = [r for r in runs if r["eps"] == eps]
    if not runs:
        raise SystemExit(f"nothing stored under {store} for eps {eps:g}")
    tables = list(dict.fromkeys(r["table"] for r in sorted(runs, key=lambda r: HEADROOM.find(r["table"]))))
    by = {t: sorted([r for r in runs if r["table"] == t], key=lambda r: r["seed"]) for t in tables}
    print(f"eps {eps:g}: {len(runs)} runs; per table the mean over seeds of test forged / full and best "
          "attacker / key; test and validation (budget) key cost\n")

    def figures(pick):
        return {t: (np.mean([pick(r)["forged"] for r in by[t]]), np.mean([pick(r)["attacker"] for r in by[t]]))
                for t in tables}

    variants = [("base", lambda r: r["base"], None)]
    for kind in ("aware", "grad"):
        for b in BUDGETS:
            variants.append((f"always {kind} <= {100 * b:g}%",
                             lambda r, k=f"{kind}@{b:g}": r["moves"][k] or r["base"], f"{kind}@{b:g}"))
    for kinds in (("aware",), ("grad",), ("aware", "grad")):
        for b in BUDGETS:
            variants.append((f"dial {'+'.join(kinds)} <= {100 * b:g}%",
                             lambda r, ks=kinds, bb=b: _dial_choice(r, ks, bb), None))
    print("| variant | " + " | ".join(tables) + " | median forged / full | median attacker / key | both |")
    print("|---|" + "---|" * (len(tables) + 3))
    for name, pick, key in variants:
        f = figures(pick)
        cells = []
        for t in tables:
            cell = f"{f[t][0]:.3f} / {f[t][1]:.3f}"
            if key is not None:
                ms = [r["moves"][key] for r in by[t]]
                tc = np.mean([0.0 if v is None else v["test_cost"] for v in ms])
                vc = np.mean([0.0 if v is None else max(v["val_cost"], v["settled_cost"]) for v in ms])
                cell += f" ({100 * tc:+.1f}%, val {100 * vc:+.1f}%)"
            elif name.startswith("dial"):
                cell += " [" + "".join(pick(r)["kind"][0] for r in by[t]) + "]"
            cells.append(cell)
        fa = np.array([f[t] for t in tables])
        both = int(np.sum((fa[:, 0] <= 1.05) & (fa[:, 1] >= 1.2)))
        print(f"| {name} | " + " | ".join(cells) + f" | {np.median(fa[:, 0]):.3f} | {np.median(fa[:, 1]):.3f} | "
              f"{both} of {len(tables)} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default=HEADROOM)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--eps", type=float, default=1e-2, help="ridge of the key's quadratic form, relative")
    ap.add_argument("--store", default=str(ROOT / "benchmarks" / "tables-runs" / "aware"))
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    store = Path(args.store)
    if args.report:
        report(store, args.eps)
        return 0
    import tables as T

    store.mkdir(parents=True, exist_ok=True)
    for name in args.tables.split(","):
        p = T.prepare(T.TABLES[name], 0.3)
        for seed in args.seeds:
            t0 = time.perf_counter()
            o = run(name, seed, p, args.eps)
            path = store / f"{name}-seed{seed}-eps{args.eps:g}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(o))
            tmp.replace(path)
            b = o["base"]
            print(f"{name} seed {seed} [{time.perf_counter() - t0:.0f} s] base forged/full {b['forged']:.3f} "
                  f"{b['best']}/key {b['attacker']:.3f}", flush=True)
            for k, v in o["moves"].items():
                print(f"  {k}: " + ("no move within the budget" if v is None else
                      f"move {v['move']:.3g} sd, validation cost {100 * v['val_cost']:+.1f}% (without luck "
                      f"{100 * v['settled_cost']:+.1f}%), test cost {100 * v['test_cost']:+.1f}%, forged/full "
                      f"{v['forged']:.3f}, {v['best']}/key {v['attacker']:.3f}"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
