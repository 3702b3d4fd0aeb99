"""Forging from a SQL source with ``data.stream: true``: memory stays flat as the table grows
(prints figures; not a test).

A DuckDB file (``--data``, made once) holds two Friedman #3-like tables generated inside DuckDB
with SQL: ``owner_small`` (``--small`` rows, default 50,000) and ``owner_big`` (``--big`` rows,
default 5,000,000); columns id, x1 ~ U(0, 100), x2 ~ U(40 pi, 560 pi), x3 ~ U(0, 1),
x4 ~ U(1, 11), y = atan((x2 x3 - 1 / (x2 x4)) / x1) + 0.1 N(0, 1), the uniforms drawn from
DuckDB's ``hash(id, k) / 2^64`` (so the tables are the same on every run) and the normal by
Box-Muller. Each table is forged from through the whole owner workflow
(:func:`enfo_sdk.workflows.run_forge`, as ``enfo-owner forge`` does) with a contract whose
``data.source`` is ``{sql: "SELECT x1, x2, x3, x4, y FROM owner_...", connection: FILE}`` and
``data.stream: true``: the result is fetched as Arrow batches and spooled to a temporary
Parquet file, which :class:`enfo_sdk.stream.ParquetSource` streams.

Each case runs in its own child process (one after the other, alternating, ``--repeats``
times; medians), so its peak resident memory (``ru_maxrss``: torch, DuckDB and all) is its own.
Printed per case (medians): peak RSS when the rows are read (the query, the spool, the split
count, the encapsulation subsample, the validation and test scans), when forging is done, and
for the whole run (the evaluation fits the key on the 5,000-row training subsample and predicts
the test rows, at most 100,000 of them, 4,096 at a time); the read's time, encapsulation,
per-step forging time (forging seconds / steps, one evaluation at the end), the evaluation and
the whole run. One fixed key (bandwidth
2, 200 iterations) so a step costs the same in both cases.

    python benchmarks/sql_stream.py [--data /tmp/enfo-sql-bench/owner.duckdb] [--small 50000]
                                    [--big 5000000] [--steps 300] [--repeats 2]
                                    [--spool 1000000,2500000,5000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = {"bandwidth": [2.0], "iterations": [200]}
FORGE = {"rows": 100, "batch_size": 256, "lr": 0.02, "seed": 0, "patience": 1000}

TABLE_SQL = """
CREATE OR REPLACE TABLE {name} AS
WITH u AS (
  SELECT range AS id,
         hash(range, 1)::DOUBLE / pow(2, 64) AS u1, hash(range, 2)::DOUBLE / pow(2, 64) AS u2,
         hash(range, 3)::DOUBLE / pow(2, 64) AS u3, hash(range, 4)::DOUBLE / pow(2, 64) AS u4,
         greatest(hash(range, 5)::DOUBLE / pow(2, 64), 1e-300) AS u5,
         hash(range, 6)::DOUBLE / pow(2, 64) AS u6
  FROM range({rows})
), x AS (
  SELECT id, 100 * u1 AS x1, 40 * pi() + 520 * pi() * u2 AS x2, u3 AS x3, 1 + 10 * u4 AS x4,
         sqrt(-2 * ln(u5)) * cos(2 * pi() * u6) AS z
  FROM u
)
SELECT id, x1, x2, x3, x4, atan((x2 * x3 - 1 / (x2 * x4)) / x1) + 0.1 * z AS y FROM x
"""


def make_database(path: Path, small: int, big: int) -> Path:
    import duckdb

    marker = path.with_suffix(f".done-{small}-{big}")
    if marker.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    for name, rows in (("owner_small", small), ("owner_big", big)):
        t = time.perf_counter()
        con.execute(TABLE_SQL.format(name=name, rows=int(rows)))
        print(f"made {name}: {rows:,} rows in {time.perf_counter() - t:.1f} s", flush=True)
    con.close()
    marker.write_text("ok\n")
    return path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(database: str, table: str, steps: int) -> dict:
    """One forge run through the owner workflow; prints a JSON line."""
    import yaml

    from enfo_sdk.contract import parse_contract
    from enfo_sdk.workflows import run_forge

    work = Path(tempfile.mkdtemp(prefix="enfo-sql-bench-"))
    os.environ["ENFO_OWNER_KEY"] = str(work / "owner.key")
    contract = {
        "version": 1,
        "data": {"source": {"sql": f"SELECT x1, x2, x3, x4, y FROM {table}",
                            "connection": database},
                 "target": "y", "test_fraction": 0.2, "stream": True},
        "key": {"algorithm": "nu-method", "search": KEY},
        "forge": {**FORGE, "steps": steps, "eval_every": steps},
        "output": {"bundle": "bundle.parquet"},
    }
    text = yaml.safe_dump(contract, sort_keys=False)
    peak_at: dict[str, float] = {}

    def progress(phase: str, fraction: float) -> None:
        if fraction == 0.0 and phase not in peak_at:  # a phase starts: the peak so far
            peak_at[phase] = _peak_mb()

    t = time.perf_counter()
    run = run_forge(parse_contract(text, work / "key.yaml").resolved(work), progress=progress)
    total = time.perf_counter() - t
    s = run.seconds
    start = s["total"] - sum(v for k, v in s.items() if k != "total")
    return {
        "table": table, "peak_mb": _peak_mb(), "peak_mb_to_forged": peak_at["evaluate"],
        "peak_mb_read": peak_at["encapsulate"],
        "start_s": start, "encapsulate_s": s["encapsulate"], "evaluate_s": s["evaluate"],
        "ms_per_step": 1000 * s["forge"] / run.result.metrics["steps_run"],
        "steps": run.result.metrics["steps_run"], "total_s": total,
        "test_rmse_forged": run.test_rmse["forged"], "test_rmse_full": run.test_rmse["full"],
    }


def child_spool(database: str, rows: int) -> dict:
    """Only the spool of the first ``rows`` rows of owner_big (no forging); prints a JSON line."""
    from enfo_sdk.data.sql import SqlQuery, spool_sql

    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        _, n = spool_sql(SqlQuery(f"SELECT x1, x2, x3, x4, y FROM owner_big LIMIT {rows}",
                                  database), folder)
    return {"rows": n, "seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


def _run_child(database: str, table: str, steps: int, spool: int = 0) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", table, "--data", database,
           "--steps", str(steps), "--spool-child", str(spool)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {table} failed:\n{out.stderr[-3000:]}")
    return json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="/tmp/enfo-sql-bench/owner.duckdb")
    p.add_argument("--small", type=int, default=50_000)
    p.add_argument("--big", type=int, default=5_000_000)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--spool", default="",
                   help="also spool only the first N rows of owner_big, for each N in this "
                   "comma-separated list (peak RSS of the spool alone)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--spool-child", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        out = child_spool(a.data, a.spool_child) if a.spool_child else child(a.data, a.child, a.steps)
        print(json.dumps(out))
        return
    database = str(make_database(Path(a.data), a.small, a.big))
    for n in [int(v) for v in a.spool.split(",") if v]:
        print(f"spool only: {json.dumps(_run_child(database, 'spool', a.steps, spool=n))}", flush=True)
    runs: dict[str, list[dict]] = {"owner_small": [], "owner_big": []}
    for r in range(a.repeats):
        for table in runs:
            res = _run_child(database, table, a.steps)
            runs[table].append(res)
            print(f"repeat {r + 1} {table}: {json.dumps(res)}", flush=True)
    print()
    rows = {"owner_small": a.small, "owner_big": a.big}
    if not a.repeats:
        return
    print("| table | rows | peak RSS after read (MB) | after forging (MB) | whole run (MB) | "
          "read (s) | encapsulate (s) | ms / step | evaluate (s) | whole run (s) | "
          "test RMSE forged / full |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for table, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "table"}
        print(f"| {table} | {rows[table]:,} | {med['peak_mb_read']:.0f} | "
              f"{med['peak_mb_to_forged']:.0f} | {med['peak_mb']:.0f} | {med['start_s']:.1f} | "
              f"{med['encapsulate_s']:.1f} | {med['ms_per_step']:.1f} | {med['evaluate_s']:.1f} | "
              f"{med['total_s']:.1f} | {med['test_rmse_forged']:.4f} / {med['test_rmse_full']:.4f} |")


if __name__ == "__main__":
    main()
