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
