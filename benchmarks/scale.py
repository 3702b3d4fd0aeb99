"""Issue 7's scale figures: streaming from a large Parquet dataset, distributed forging, and the
``--from`` update path (prints figures; not a test).

1. Streaming vs in-memory. A Parquet dataset of ``--rows`` rows (default 20 million; 8 features:
   Friedman #3's x1..x4 and four uniform noise columns z1..z4, target y; 10 files, row groups of
   131,072 rows; 1.8 GB, generated once into ``--data``) is forged from with
   :class:`enfo_sdk.stream.ParquetSource`; the same forging settings run on a 10,000-row
   in-memory table of the same distribution. Each case runs in its own child process, one after
   the other, so that its peak resident memory (``ru_maxrss``, including torch itself) is its own.
   Per-step time = forging seconds / steps with one evaluation at the end (``eval_every`` =
   ``steps``); the stream's one-off start (split counting, the encapsulation subsample, the
   validation scan, the first minibatch buffer) is reported separately. Both cases use one fixed key
   (bandwidth 2, 200 iterations; preprocessing fitted on 5,000 rows) so a step costs the same.
   The two cases alternate ``--repeats`` times; medians.
2. ``--from`` vs restart (the paper's streamed training). Old data A and new data B are two
   independent 5,000-row Friedman #3 draws. Rows forged on A (``--steps-update`` steps) start
   forging on B (``init_rows``, as ``enfo-owner forge --from`` does) versus a restart from
   k-means centroids of B; same key, seed and settings, each at forge's default learning rate
   (the update's is a quarter of the restart's: ``enfo_sdk.forge.UPDATE_LR_FACTOR``). Printed,
   for ``--pairs`` independent (A, B) pairs: the restart's best validation RMSE and the step it
   reached it, and the first step at which the update reached it (the steps ratio).
3. ``--distributed``: two gloo ranks under torchrun on this machine (loopback) forging from the
   same dataset, per-step time (on a 2-core machine this shows the overhead, not a speed-up).

    python benchmarks/scale.py [--rows 20000000] [--data /tmp/enfo-scale] [--steps 300]
                               [--repeats 2] [--skip-stream] [--skip-update] [--distributed]
                               [--steps-update 1500] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

FEATURES = ["x1", "x2", "x3", "x4", "z1", "z2", "z3", "z4"]
ROW_GROUP = 131072
FILES = 10
KEY = {"bandwidth": [2.0], "iterations": [200]}  # one fixed key: equal cost per step
FORGE = dict(rows=100, batch_size=256, lr=0.02, seed=0, patience=1000, threads=1)


def _friedman8(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    x1 = rng.uniform(0, 100, n)
    x2 = rng.uniform(40 * np.pi, 560 * np.pi, n)
    x3 = rng.uniform(0, 1, n)
    x4 = rng.uniform(1, 11, n)
    y = np.arctan((x2 * x3 - 1 / (x2 * x4)) / x1) + 0.1 * rng.standard_normal(n)
    cols = {"x1": x1, "x2": x2, "x3": x3, "x4": x4}
    for k in ("z1", "z2", "z3", "z4"):
        cols[k] = rng.uniform(0, 1, n)
    cols["y"] = y
    return cols


def make_dataset(folder: Path, rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    marker = folder / f"_done_{rows}"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    rng = np.random.default_rng(2024)
    per_file = -(-rows // FILES)
    left = rows
    for i in range(FILES):
        n_file = min(per_file, left)
        left -= n_file
        if n_file <= 0:
            break
        with pq.ParquetWriter(folder / f"part-{i:03d}.parquet", pa.schema(
                [(c, pa.float64()) for c in [*FEATURES, "y"]])) as w:
            done = 0
            while done < n_file:
                k = min(1 << 20, n_file - done)
                w.write_table(pa.table(_friedman8(k, rng)), row_group_size=ROW_GROUP)
                done += k
    marker.write_text("ok\n")
    return folder


def _spec(X, y):
    from enfo_sdk import encapsulate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encapsulate(X, y, search=KEY, seed=0)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- child processes ---------------------------------------------------------------------------
def child_stream(data: str, steps: int) -> dict:
    from enfo_sdk.forge import forge
    from enfo_sdk.stream import ParquetSource

    t = time.perf_counter()
    src = ParquetSource(data, "y", FEATURES)
    Xs, ys = src.sample(5000, seed=0)
    spec = _spec(Xs, ys)
    src.validation_rows()
    src.batch(1, FORGE["batch_size"], FORGE["seed"])  # the first buffer is part of the start
    start = time.perf_counter() - t
    res = forge(src, None, spec, steps=steps, eval_every=steps, **FORGE)
    src.close()
    return {"ms_per_step": 1000 * res.metrics["seconds"] / steps, "start_s": start,
            "peak_mb": _peak_mb(), "rows": src.n_rows, "val_rmse": res.metrics["best_val_rmse"]}


def child_memory(steps: int) -> dict:
    import pandas as pd

    from enfo_sdk.forge import forge

    cols = _friedman8(10000, np.random.default_rng(7))
    df = pd.DataFrame(cols)
    X, y = df[FEATURES], df["y"]
    spec = _spec(X.iloc[:5000], y.iloc[:5000])
    res = forge(X, y, spec, steps=steps, eval_every=steps, **FORGE)
    return {"ms_per_step": 1000 * res.metrics["seconds"] / steps, "peak_mb": _peak_mb(),
            "val_rmse": res.metrics["best_val_rmse"]}


def child_dist(data: str, steps: int) -> dict | None:
    from enfo_sdk.distributed import init, shard_source
    from enfo_sdk.forge import forge
    from enfo_sdk.stream import ParquetSource

    rank, world = init()
    Xs, ys = ParquetSource(data, "y", FEATURES).sample(5000, seed=0)
    spec = _spec(Xs, ys)
    src = shard_source(data, "y", FEATURES)
    src.validation_rows()
    res = forge(src, None, spec, steps=steps, eval_every=steps, distributed=True, **FORGE)
    src.close()
    out = {"ms_per_step": 1000 * res.metrics["seconds"] / steps, "peak_mb": _peak_mb(), "world": world}
    return out if rank == 0 else None


def _run_child(args: list[str], torchrun: bool = False) -> dict:
    me = str(Path(__file__).resolve())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if torchrun:
        env["GLOO_SOCKET_IFNAME"] = "lo"
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
               "--master-addr", "127.0.0.1", "--master-port", str(port), me, *args]
    else:
        cmd = [sys.executable, me, *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


# -- the update path -----------------------------------------------------------------------------
def update_vs_restart(steps: int, pair: int = 0) -> dict:
    """One old/new data pair (seeds 2 pair + 1, 2 pair + 2): restart vs update, default lrs
    (the restart 0.01 x bandwidth, the update a quarter of it: forge's UPDATE_LR_FACTOR)."""
    from enfo_sdk.data.builtin import friedman3
    from enfo_sdk.forge import forge

    a = friedman3(n=5000, seed=2 * pair + 1)
    b = friedman3(n=5000, seed=2 * pair + 2)
    Xa, ya = a.drop(columns="y"), a["y"]
    Xb, yb = b.drop(columns="y"), b["y"]
    spec = _spec(Xa, ya)
    kw = dict(rows=100, batch_size=256, seed=0, eval_every=10, patience=1000, threads=1)
    old = forge(Xa, ya, spec, steps=steps, **kw)
    restart = forge(Xb, yb, spec, steps=steps, **kw)
    update = forge(Xb, yb, spec, steps=steps, init_rows=old.data, **kw)
    target = restart.metrics["best_val_rmse"]
    h = update.history
    reached = h.loc[h["val_rmse"] <= target, "step"]
    hr = restart.history
    caught_up = hr.loc[hr["val_rmse"] <= float(h["val_rmse"].iloc[0]), "step"]
    return {
        "pair": pair, "steps": steps, "lr_restart": restart.settings["lr"], "lr_update": update.settings["lr"],
        "restart_best": target, "restart_best_step": restart.metrics["best_step"],
        "update_start": float(h["val_rmse"].iloc[0]), "restart_start": float(restart.history["val_rmse"].iloc[0]),
        "update_best": update.metrics["best_val_rmse"],
        "update_steps_to_restart_best": int(reached.iloc[0]) if len(reached) else None,
        "restart_steps_to_update_start": int(caught_up.iloc[0]) if len(caught_up) else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--data", type=Path, default=Path("/tmp/enfo-scale"))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--steps-update", type=int, default=1500)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip-stream", action="store_true")
    p.add_argument("--skip-update", action="store_true")
    p.add_argument("--pairs", type=int, default=3, help="old/new data pairs for the --from comparison")
    p.add_argument("--distributed", action="store_true")
    p.add_argument("--child", choices=["stream", "memory", "dist"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        fn = {"stream": lambda: child_stream(str(a.data), a.steps), "memory": lambda: child_memory(a.steps),
              "dist": lambda: child_dist(str(a.data), a.steps)}[a.child]
        out = fn()
        if out is not None:
            print(json.dumps(out))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    if not a.skip_stream or a.distributed:
        t = time.perf_counter()
        data = make_dataset(a.data / f"rows-{a.rows}", a.rows)
        size = sum(f.stat().st_size for f in data.glob("*.parquet")) / 1e9
        print(f"dataset {data}: {a.rows:,} rows x 8 features, {size:.2f} GB ({time.perf_counter() - t:.0f} s)")
    if not a.skip_stream:
        runs = {"stream": [], "memory": []}
        for _ in range(a.repeats):
            for case in ("memory", "stream"):
                runs[case].append(_run_child(["--child", case, "--data", str(data), "--steps", str(a.steps)]))
        med = {c: float(np.median([r["ms_per_step"] for r in v])) for c, v in runs.items()}
        print(f"\nforging 100 rows, batch 256, {a.steps} steps, one thread, medians of {a.repeats}:")
        print(f"  in-memory 10,000 rows : {med['memory']:7.2f} ms/step   peak RSS "
              f"{max(r['peak_mb'] for r in runs['memory']):6.0f} MB")
        print(f"  stream {a.rows:>14,} : {med['stream']:7.2f} ms/step   peak RSS "
              f"{max(r['peak_mb'] for r in runs['stream']):6.0f} MB   "
              f"(start: {np.median([r['start_s'] for r in runs['stream']]):.1f} s once)")
        print(f"  stream / in-memory    : {med['stream'] / med['memory']:.2f}x")
    if a.distributed:
        d = _run_child(["--child", "dist", "--data", str(data), "--steps", str(a.steps)], torchrun=True)
        print(f"\ntorchrun, {d['world']} gloo ranks (loopback): {d['ms_per_step']:.2f} ms/step, "
              f"rank-0 peak RSS {d['peak_mb']:.0f} MB")
    if not a.skip_update:
        print(f"\n--from vs restart on new data (5,000 rows, 100 forged, {a.steps_update} steps max, "
              f"{a.pairs} old/new data pairs):")
        for pair in range(a.pairs):
            u = update_vs_restart(a.steps_update, pair)
            ratio = (u["update_steps_to_restart_best"] / u["restart_best_step"]
                     if u["update_steps_to_restart_best"] is not None and u["restart_best_step"] else None)
            print(f"  pair {pair}: restart (lr {u['lr_restart']:g}) {u['restart_start']:.4f} -> best "
                  f"{u['restart_best']:.4f} at step {u['restart_best_step']}; --from (lr {u['lr_update']:g}) "
                  f"{u['update_start']:.4f} -> best {u['update_best']:.4f}, reaches the restart's best at "
                  f"step {u['update_steps_to_restart_best']}; steps ratio "
                  f"{'never' if ratio is None else f'{ratio:.2f}'}", flush=True)

if __name__ == "__main__":
    main()
