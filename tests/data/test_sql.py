"""SQL sources on real engines: DuckDB and SQLite files made here, a throwaway PostgreSQL server
(tests/conftest.py). The reference is always the DataFrame the database was filled from."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from enfo_sdk.data.sql import (
    Connection, SqlQuery, SqlStreamSource, parse_connection, read_sql, resolve_connection,
    spool_sql,
)
from enfo_sdk.data.tables import read_table
from enfo_sdk.errors import ConfigError, DataError

from .sql_helpers import COLUMNS, QUERY, make_duckdb, make_postgres, make_sqlite, owner_rows

PW_ENV = "ENFO_TEST_PG_PASSWORD"


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def database(request, tmp_path, monkeypatch):
    """(connection, password_env, rows): the owner rows in a fresh database of each engine."""
    df = owner_rows()
    if request.param == "duckdb":
        return make_duckdb(tmp_path / "owner.duckdb", df), None, df
    if request.param == "sqlite":
        return make_sqlite(tmp_path / "owner.db", df), None, df
    server = request.getfixturevalue("postgres")
    table = f"owner_{abs(hash(request.node.name)) % 10**8}"
    uri = make_postgres(server, df, table)
    monkeypatch.setenv(PW_ENV, server["password"])
    request.node.pg_table = table
    return uri, PW_ENV, df


def _query(database, request, sql=QUERY):
    conn, pw, _ = database
    table = getattr(request.node, "pg_table", None)
    return SqlQuery(sql.replace("FROM owner", f"FROM {table}") if table else sql, conn, pw,
                    where="key.yaml: data.source")


@pytest.mark.parametrize("text, engine, target", [
    ("data/a.duckdb", "duckdb", "data/a.duckdb"),
    ("duckdb:///abs/a.duckdb", "duckdb", "/abs/a.duckdb"),
    ("DuckDB://rel.duckdb", "duckdb", "rel.duckdb"),
    ("sqlite:///abs/a.db", "sqlite", "/abs/a.db"),
    ("postgresql://me@db:5432/crm?host=/run/pg", "postgresql", "postgresql://me@db:5432/crm?host=/run/pg"),
    ("postgres://me@db/crm", "postgresql", "postgres://me@db/crm"),
])
def test_parse_connection_knows_each_engine(text, engine, target):
    assert parse_connection(text) == Connection(engine, target)


@pytest.mark.parametrize("text, needle", [
    ("mysql://me@db/crm", "unknown engine scheme 'mysql'"),
    ("postgresql://me:hunter2@db/crm", "holds a password"),
    ("postgresql://me@db/crm?password=hunter2", "holds a password"),
    ("sqlite://", "needs a database file"),
    ("  ", "empty"),
])
def test_parse_connection_refuses(text, needle):
    with pytest.raises(ConfigError, match=needle) as e:
        parse_connection(text, where="k.yaml: data.source.connection")
    assert str(e.value).startswith("k.yaml: data.source.connection: ")
    assert "hunter2" not in str(e.value)  # a password is never repeated


def test_resolve_connection_makes_files_absolute(tmp_path):
    assert resolve_connection("a.duckdb", tmp_path) == str(tmp_path / "a.duckdb")
    assert resolve_connection("sqlite://sub/a.db", tmp_path) == f"sqlite://{tmp_path / 'sub' / 'a.db'}"
    assert resolve_connection("duckdb:///abs/a.duckdb", tmp_path) == "duckdb:///abs/a.duckdb"
    assert resolve_connection("postgresql://me@db/crm", tmp_path) == "postgresql://me@db/crm"


def test_read_sql_returns_the_rows_the_database_was_filled_with(database, request, tmp_path):
    df = read_sql(_query(database, request))
    expected = database[2][COLUMNS].reset_index(drop=True)
    pd.testing.assert_frame_equal(df, expected)  # float64 exactly, in ORDER BY order
    # and exactly what read_table gives for the same rows in a Parquet file
    expected.to_parquet(tmp_path / "same.parquet", index=False)
    pd.testing.assert_frame_equal(df, read_table(tmp_path / "same.parquet"))


def test_spool_writes_fixed_row_groups_of_the_result(database, request, tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir()
    path, rows = spool_sql(_query(database, request), folder, ["x2", "y"], row_group_rows=64)
    assert rows == 300 and sorted(p.name for p in folder.iterdir()) == ["query.parquet"]
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [64, 64, 64, 64, 44]
    got = pq.read_table(path).to_pandas()
    pd.testing.assert_frame_equal(got, database[2][["x2", "y"]].reset_index(drop=True))


def test_stream_source_reads_the_result_and_removes_its_spool(database, request, tmp_path):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    source = SqlStreamSource(_query(database, request), "y", ["x1", "x3"], test_fraction=0.2,
                             spool_dir=spool_dir)
    spool = source.path.parent
    assert spool.parent == spool_dir and source.n_rows == 300
    X, y = source.sample(50, seed=1)
    rows = database[2]
    index = pd.MultiIndex.from_frame(rows[["x1", "x3", "y"]])
    assert list(X.columns) == ["x1", "x3"] and len(y) == 50
    assert index.isin(pd.MultiIndex.from_arrays([X["x1"], X["x3"], y])).sum() == 50
    source.close()
    assert not spool.exists() and list(spool_dir.iterdir()) == []


def test_queries_cannot_write(database, request):
    q = _query(database, request, "DELETE FROM owner")
    with pytest.raises(ConfigError, match=r"data\.source\.sql: .* refused the query") as e:
        read_sql(q)
    assert q.parsed.engine in str(e.value)
    assert len(read_sql(_query(database, request))) == 300  # nothing deleted


def test_postgres_password_comes_from_the_environment(postgres, monkeypatch):
    uri = make_postgres(postgres, owner_rows(n=10), "pw_check")
    q = SqlQuery("SELECT y FROM pw_check", uri, PW_ENV, where="k.yaml: data.source")
    monkeypatch.setenv(PW_ENV, "wrong-password")
    with pytest.raises(DataError, match="data.source.connection: cannot open the postgresql") as e:
        read_sql(q)
    assert "password authentication failed" in str(e.value)
    assert "wrong-password" not in str(e.value)
    monkeypatch.delenv(PW_ENV)
    with pytest.raises(ConfigError, match=f"data.source.password_env: environment variable {PW_ENV} is not set"):
        read_sql(q)
    monkeypatch.setenv(PW_ENV, postgres["password"])
    assert np.array_equal(read_sql(q)["y"].to_numpy(), owner_rows(n=10)["y"].to_numpy())


def test_non_numeric_and_null_columns_are_named(tmp_path):
    import duckdb

    path = tmp_path / "x.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range::DOUBLE AS x, 'a' AS s, "
                "CASE WHEN range = 70000 THEN NULL ELSE 1.0 END::DOUBLE AS y FROM range(70001)")
    con.close()
    with pytest.raises(DataError, match="column 's' of the duckdb query is string"):
        spool_sql(SqlQuery("SELECT * FROM t", str(path)), tmp_path, ["s", "y"])
    # the NULL sits in the second batch: the half-written file is removed too
    with pytest.raises(DataError, match="column 'y' of the duckdb query holds NULL"):
        spool_sql(SqlQuery("SELECT * FROM t ORDER BY x", str(path)), tmp_path, ["x", "y"])
    with pytest.raises(DataError, match=r"no column\(s\) \['z'\]"):
        spool_sql(SqlQuery("SELECT * FROM t", str(path)), tmp_path, ["x"], target="z")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.duckdb"]


def test_a_missing_engine_package_names_the_extra(tmp_path, monkeypatch):
    # an import that fails, as it does where the package is not installed
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ConfigError, match=r"needs the duckdb package: pip install 'enfo-sdk\[db\]'"):
        read_sql(SqlQuery("SELECT 1", str(tmp_path / "a.duckdb")))


NATIVE_ROWS = [  # (price NUMERIC(8,2), opened DATE, open BOOLEAN, y)
    ("12.50", "2020-01-01", True, 1.0), ("7.25", "2021-06-30", None, 2.0),
    (None, "1999-12-31", False, 3.0), ("100.00", None, True, 4.0),
]
NATIVE_DDL = "CREATE TABLE native (id INTEGER, price NUMERIC(8,2), opened DATE, open BOOLEAN, y DOUBLE PRECISION)"


def _native_values() -> str:
    sql = lambda v: "NULL" if v is None else repr(v) if isinstance(v, str) else str(v).upper()  # noqa: E731
    return ", ".join(f"({i}, {', '.join(sql(v) for v in row)})" for i, row in enumerate(NATIVE_ROWS))


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_a_databases_own_types_infer_as_they_mean(engine, tmp_path, request, monkeypatch):
    """NUMERIC is a number (not Decimal objects, which would infer categorical), DATE a datetime,
    BOOLEAN with a gap a boolean: what infer_schema makes of them, and the values it encodes."""
    from enfo_sdk.data.columns import infer_schema

    insert = f"INSERT INTO native VALUES {_native_values()}"
    if engine == "duckdb":
        import duckdb

        conn = str(tmp_path / "native.duckdb")
        with duckdb.connect(conn) as con:
            con.execute(NATIVE_DDL)
            con.execute(insert)
        pw = None
    else:
        import adbc_driver_postgresql.dbapi as pg
        from urllib.parse import quote

        server = request.getfixturevalue("postgres")
        conn, pw = server["uri"], PW_ENV
        monkeypatch.setenv(PW_ENV, server["password"])
        with pg.connect(f"{conn}&password={quote(server['password'], safe='')}") as con:
            with con.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS native")
                cur.execute(NATIVE_DDL)
                cur.execute(insert)
            con.commit()
    df = read_sql(SqlQuery("SELECT price, opened, open, y FROM native ORDER BY id", conn, pw))
    schema = infer_schema(df, "y")
    assert {k: v.type for k, v in schema.items()} == {"price": "numeric", "opened": "datetime",
                                                      "open": "boolean"}
    expected_price = [float(r[0]) if r[0] else np.nan for r in NATIVE_ROWS]
    np.testing.assert_array_equal(df["price"].to_numpy(np.float64), expected_price)
    assert list(df["opened"]) == [pd.Timestamp(r[1]) if r[1] else pd.NaT for r in NATIVE_ROWS]
    assert list(df["open"]) == [r[2] for r in NATIVE_ROWS]
    # and the streaming spool takes NUMERIC as a number too
    spool = tmp_path / "spool"
    spool.mkdir()
    path, rows = spool_sql(SqlQuery("SELECT price, y FROM native WHERE price IS NOT NULL "
                                    "ORDER BY id", conn, pw), spool)
    got = pq.read_table(path).to_pandas()
    assert rows == 3 and got["price"].tolist() == [12.5, 7.25, 100.0]
