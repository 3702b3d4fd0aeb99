"""enfo-owner forge from a SQL source: the same bundle as from the same table in a file, and one
clean error, naming the contract key and the engine, for each way a database source fails."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from owner_cli.main import cli

from data.sql_helpers import make_duckdb, make_postgres, make_sqlite, mixed_rows  # tests/ is on sys.path (rootdir)
from .conftest import TINY_SEARCH, owner_table, tiny_contract, write_contract

SQL = "SELECT x1, x2, x3, x4, y FROM owner ORDER BY id"


def forge(runner, contract):
    return runner.invoke(cli, ["forge", "--contract", str(contract), "--quiet"])


def owner_with_id():
    df = owner_table()
    return df.assign(id=range(len(df)))


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    """The system temporary folder, made empty and private to the test (spools go there)."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def sql_contract(sql=SQL, connection="owner.duckdb", stream=False, **source):
    return tiny_contract(data={"source": {"sql": sql, "connection": connection, **source},
                               "target": "y", "test_fraction": 0.5, "stream": stream})


@pytest.mark.parametrize("stream", [False, True])
def test_a_duckdb_query_forges_the_bundle_its_table_forges(runner, project, spool_dir, stream):
    make_duckdb(project / "owner.duckdb", owner_with_id())
    owner_table().to_parquet(project / "owner.parquet", index=False)
    file_source = "owner.parquet" if stream else "owner.csv"  # streaming reads Parquet files
    by_file = write_contract(project, tiny_contract(
        data={"source": file_source, "target": "y", "test_fraction": 0.5, "stream": stream},
        output={"bundle": "out/file.parquet"}), "file.yaml")
    by_sql = write_contract(project, {**sql_contract(stream=stream),
                                      "output": {"bundle": "out/sql.parquet"}}, "sql.yaml")
    for contract in (by_file, by_sql):
        result = forge(runner, contract)
        assert result.exit_code == 0, result.output
    rows_file = pd.read_parquet(project / "out" / "file.parquet")
    rows_sql = pd.read_parquet(project / "out" / "sql.parquet")
    assert len(rows_sql) == 20 and list(rows_sql.columns) == ["x1", "x2", "x3", "x4", "y"]
    pd.testing.assert_frame_equal(rows_sql, rows_file)
    assert list(spool_dir.glob("enfo-sql-*")) == []  # the spool is gone once the run ends


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", ["query fails", "empty result", "unknown scheme",
                                  "password unset", "unreachable"])
def test_each_database_failure_is_one_error_naming_key_and_engine(
        runner, project, spool_dir, monkeypatch, case, stream):
    make_duckdb(project / "owner.duckdb", owner_with_id())
    monkeypatch.delenv("ENFO_TEST_NO_SUCH_VAR", raising=False)
    contract, needles = {
        "query fails": (sql_contract("SELECT x1, y FROM sales", stream=stream),
                        ["data.source.sql", "duckdb refused the query", "sales does not exist"]),
        "empty result": (sql_contract(SQL.replace("ORDER", "WHERE y > 1e9 ORDER"), stream=stream),
                         ["data.source.sql", "duckdb query returned no rows"]),
        "unknown scheme": (sql_contract(connection="oracle://me@db/crm", stream=stream),
                           ["data.source.connection", "unknown engine scheme 'oracle'"]),
        "password unset": (sql_contract(connection="postgresql://enfo@127.0.0.1/crm",
                                        password_env="ENFO_TEST_NO_SUCH_VAR", stream=stream),
                           ["data.source.password_env", "ENFO_TEST_NO_SUCH_VAR is not set",
                            "postgresql"]),
        "unreachable": (sql_contract(connection=f"postgresql://enfo@127.0.0.1:{_free_port()}/crm",
                                     stream=stream),
                        ["data.source.connection", "cannot open the postgresql database",
                         "Connection refused"]),
    }[case]
    path = write_contract(project, contract)
    result = forge(runner, path)
    out = result.output
    # one line (the engine's own text may hold "Catalog Error:", so no counting of "Error:")
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), out
    assert out.startswith(f"Error: {path}") and out.count("\n") == 1, out  # file (and line)
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out}"
    assert not (project / "out").exists()  # nothing written
    assert list(spool_dir.glob("enfo-sql-*")) == []  # not even a spool


def test_forge_from_postgres_with_the_password_from_the_environment(
        runner, project, postgres, monkeypatch):
    uri = make_postgres(postgres, owner_with_id(), "owner")
    monkeypatch.setenv("ENFO_TEST_PG", postgres["password"])
    by_sql = write_contract(project, sql_contract(connection=uri, password_env="ENFO_TEST_PG"))
    by_csv = write_contract(project, tiny_contract(output={"bundle": "out/csv.parquet"}), "csv.yaml")
    for contract in (by_sql, by_csv):
        result = forge(runner, contract)
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(project / "out" / "owner.bundle.parquet"),
                                  pd.read_parquet(project / "out" / "csv.parquet"))


MIXED_SQL = "SELECT area, rooms, kind, driveway, built, price FROM {table} ORDER BY id"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", "postgresql"])
def test_a_mixed_type_table_forges_from_a_database_as_from_its_csv(runner, project, request,
                                                                   monkeypatch, engine):
    """Typed columns, gaps and categoricals read from a database exactly as from a CSV: the same
    inferred schema, the same fitted encoding in the manifest, the same bundle rows."""
    from enfo_sdk.bundle import read_envelope_unverified

    df = mixed_rows()
    df.drop(columns="id").to_csv(project / "owner.csv", index=False)
    source = {"sql": MIXED_SQL.format(table="owner")}
    if engine == "duckdb":
        source["connection"] = make_duckdb(project / "owner.duckdb", df)
    elif engine == "sqlite":
        source["connection"] = make_sqlite(project / "owner.db", df)
    else:
        server = request.getfixturevalue("postgres")
        table = f"mixed_{abs(hash(request.node.name)) % 10**8}"
        source = {"sql": MIXED_SQL.format(table=table), "connection": make_postgres(server, df, table),
                  "password_env": "ENFO_TEST_PG"}
        monkeypatch.setenv("ENFO_TEST_PG", server["password"])
    # a CSV has no date type (SQLite neither): the contract types that column, the rest is inferred
    data = {"target": "price", "test_fraction": 0.5, "columns": {"built": {"type": "datetime"}}}
    paths = {}
    for name, src in (("csv", "owner.csv"), ("sql", source)):
        paths[name] = project / "out" / f"{name}.parquet"
        contract = write_contract(project, tiny_contract(
            data={**data, "source": src}, output={"bundle": f"out/{name}.parquet"}), f"{name}.yaml")
        result = forge(runner, contract)
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(paths["sql"]), pd.read_parquet(paths["csv"]))
    manifests = {k: read_envelope_unverified(p)[0] for k, p in paths.items()}
    columns = {c.name: c for c in manifests["sql"].key.columns.columns}
    # the table's gaps and types reached the encoding (else this comparison proves little)
    assert {k: c.type for k, c in columns.items()} == {
        "area": "numeric", "rooms": "numeric", "kind": "categorical", "driveway": "boolean",
        "built": "datetime"}
    assert columns["kind"].levels == ["flat", "house", "loft", "(missing)"]
    assert columns["rooms"].integer and not columns["area"].integer
    # all but what is drawn per bundle: its id, times, and the probe points seeded by the id
    same = lambda m: m.model_dump(exclude={"bundle_id", "created", "expires", "probes"})  # noqa: E731
    assert same(manifests["sql"]) == same(manifests["csv"])


def _columns_section(path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())["data"]["columns"]


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_init_from_a_query_types_columns_as_from_the_csv_and_forges(runner, project, engine):
    df = mixed_rows()
    df.drop(columns="id").to_csv(project / "owner.csv", index=False)
    connection = (make_duckdb(project / "owner.duckdb", df) if engine == "duckdb"
                  else make_sqlite(project / "owner.db", df))
    sql = MIXED_SQL.format(table="owner")
    by_csv = runner.invoke(cli, ["init", "--data", str(project / "owner.csv"), "--target", "price",
                                 "--out", str(project / "csv.yaml")])
    by_sql = runner.invoke(cli, ["init", "--sql", sql, "--connection", connection, "--target", "price",
                                 "--out", str(project / "sql.yaml")])
    assert by_csv.exit_code == 0 and by_sql.exit_code == 0, by_csv.output + by_sql.output
    import yaml

    written = yaml.safe_load((project / "sql.yaml").read_text())
    assert written["data"]["source"] == {"sql": sql, "connection": connection}
    csv_columns, sql_columns = _columns_section(project / "csv.yaml"), _columns_section(project / "sql.yaml")
    # a CSV and SQLite have no date type: their dates are text, a category with too many
    # levels, left out; DuckDB's TIMESTAMP is a datetime
    assert csv_columns.pop("built") == {"type": "ignore"}
    assert sql_columns.pop("built") == {"type": "datetime" if engine == "duckdb" else "ignore"}
    assert sql_columns == csv_columns == {
        "area": {"type": "numeric"}, "rooms": {"type": "numeric", "integer": True},
        "kind": {"type": "categorical"}, "driveway": {"type": "boolean"}}
    # the written contract runs as written (with tiny settings for the test)
    written.update(key={"algorithm": "nu-method", "search": TINY_SEARCH},
                   forge={"rows": 20, "steps": 30})
    result = forge(runner, write_contract(project, written, "run.yaml"))
    assert result.exit_code == 0, result.output
    assert (project / Path(written["output"]["bundle"])).exists()


@pytest.mark.parametrize("case", ["query fails", "password unset", "unreachable", "no connection"])
def test_init_from_a_query_fails_in_one_line_naming_the_option(runner, project, monkeypatch, case):
    make_duckdb(project / "owner.duckdb", owner_with_id())
    monkeypatch.delenv("ENFO_TEST_NO_SUCH_VAR", raising=False)
    args, needles = {
        "query fails": (["--sql", "SELECT * FROM sales", "--connection", "owner.duckdb"],
                        ["--sql: duckdb refused the query", "sales does not exist"]),
        "password unset": (["--sql", SQL, "--connection", "postgresql://enfo@127.0.0.1/crm",
                            "--password-env", "ENFO_TEST_NO_SUCH_VAR"],
                           ["--password-env: environment variable ENFO_TEST_NO_SUCH_VAR is not set"]),
        "unreachable": (["--sql", SQL, "--connection", f"postgresql://enfo@127.0.0.1:{_free_port()}/crm"],
                        ["--connection: cannot open the postgresql database", "Connection refused"]),
        "no connection": (["--sql", SQL], ["--sql needs --connection"]),
    }[case]
    monkeypatch.chdir(project)  # a relative database file resolves against the current folder
    result = runner.invoke(cli, ["init", *args, "--target", "y", "--out", "key.yaml"])
    out = result.output
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), out
    if case != "no connection":  # click's usage errors print the usage line first
        assert out.startswith("Error: ") and out.count("\n") == 1, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out}"
    assert not (project / "key.yaml").exists()  # nothing written


def test_streaming_a_query_takes_its_integer_boolean_and_decimal_columns_as_numbers(runner, project):
    """data.stream reads numbers only: a query's INTEGER, BOOLEAN and DECIMAL columns stream as
    float64, the same bundle (rows and encoding) as the same values in a streamed Parquet file."""
    import duckdb

    from enfo_sdk.bundle import read_envelope_unverified

    df = owner_with_id()
    df["rooms"] = (df["x4"] // 2).astype("int64")
    df["flag"] = df["x3"] > 0.5
    df["x2"] = df["x2"].round(2)
    with duckdb.connect(str(project / "owner.duckdb")) as con:
        con.register("frame", df)
        con.execute("CREATE TABLE owner AS SELECT id, x1, CAST(x2 AS DECIMAL(12,2)) AS x2, "
                    "CAST(rooms AS INTEGER) AS rooms, flag, y FROM frame")
    df[["x1", "x2", "rooms", "flag", "y"]].astype("float64").to_parquet(project / "owner.parquet", index=False)
    data = {"target": "y", "test_fraction": 0.5, "stream": True}
    paths = {}
    sql = {"sql": "SELECT x1, x2, rooms, flag, y FROM owner ORDER BY id", "connection": "owner.duckdb"}
    for name, src in (("file", "owner.parquet"), ("sql", sql)):
        paths[name] = project / "out" / f"{name}.parquet"
        contract = write_contract(project, tiny_contract(
            data={**data, "source": src}, output={"bundle": f"out/{name}.parquet"}), f"{name}.yaml")
        result = forge(runner, contract)
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(paths["sql"]), pd.read_parquet(paths["file"]))
    manifests = {k: read_envelope_unverified(p)[0] for k, p in paths.items()}
    columns = {c.name: c for c in manifests["sql"].key.columns.columns}
    assert list(columns) == ["x1", "x2", "rooms", "flag"]
    assert columns["rooms"].integer and (columns["flag"].min, columns["flag"].max) == (0.0, 1.0)
    assert manifests["sql"].key == manifests["file"].key
