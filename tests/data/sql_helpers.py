"""Databases for the SQL-source tests, written with each engine's own client (not enfo_sdk)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from enfo_sdk.data.builtin import friedman3

COLUMNS = ["x1", "x2", "x3", "x4", "y"]
QUERY = "SELECT x1, x2, x3, x4, y FROM owner ORDER BY id"


def owner_rows(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Friedman #3 rows with an ``id`` column first (the ORDER BY key)."""
    df = friedman3(n=n, seed=seed)[COLUMNS]
    return df.assign(id=range(n))[["id", *COLUMNS]]


def make_duckdb(path: Path, df: pd.DataFrame, table: str = "owner") -> str:
    import duckdb

    con = duckdb.connect(str(path))
    con.register("frame", df)
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
    con.close()
    return str(path)


def make_sqlite(path: Path, df: pd.DataFrame, table: str = "owner") -> str:
    con = sqlite3.connect(path)
    df.to_sql(table, con, index=False)
    con.close()
    return f"sqlite://{path}"


def make_postgres(server: dict, df: pd.DataFrame, table: str) -> str:
    """Create ``table`` on the test server (ADBC's bulk ingest); return the URI (no password)."""
    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa
    from urllib.parse import quote

    uri = server["uri"]
    with pg.connect(f"{uri}&password={quote(server['password'], safe='')}") as con:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.adbc_ingest(table, pa.Table.from_pandas(df, preserve_index=False), mode="create")
        con.commit()
    return uri


def mixed_rows(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A mixed-type owner table with gaps: ``id`` (the ORDER BY key), ``area`` (float, 5% missing),
    ``rooms`` (integer), ``kind`` (three levels, 4% missing), ``driveway`` (yes/no), ``built``
    (dates) and the target ``price``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    area = rng.uniform(40.0, 220.0, n)
    area[rng.choice(n, n // 20, replace=False)] = np.nan
    rooms = rng.integers(1, 7, n)
    kind = rng.choice(["flat", "house", "loft"], n).astype(object)
    kind[rng.choice(n, n // 25, replace=False)] = None
    driveway = rng.choice(["yes", "no"], n)
    built = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 25000, n), unit="D")
    price = (900.0 + 4.0 * np.nan_to_num(area, nan=120.0) + 60.0 * rooms
             + np.select([kind == "house", kind == "loft"], [300.0, 150.0], 0.0)
             + 80.0 * (driveway == "yes") + 0.01 * (built - pd.Timestamp("1950-01-01")).days
             + rng.normal(0.0, 25.0, n))
    return pd.DataFrame({"id": range(n), "area": area, "rooms": rooms, "kind": kind,
                         "driveway": driveway, "built": built, "price": price})
