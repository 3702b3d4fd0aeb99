"""The owner's table as the result of a SQL query: DuckDB, SQLite or PostgreSQL.

A contract's ``data.source`` may be a query instead of a file::

    data:
      source: {sql: "SELECT x1, x2, x3, x4, y FROM sales ORDER BY id",
               connection: "postgresql://owner@db.internal:5432/crm", password_env: CRM_PASSWORD}
      target: y

Engines, chosen by the connection's scheme (:func:`parse_connection`):

``duckdb:///abs/file.duckdb``, ``duckdb://rel/file.duckdb`` or a plain path
    DuckDB, the default embedded engine (the ``duckdb`` package), opened read-only.
``sqlite:///abs/file.db`` or ``sqlite://rel/file.db``
    SQLite through ADBC (``adbc-driver-sqlite``), opened read-only (``mode=ro``).
``postgresql://user@host:port/db`` (``postgres://`` too; ``?host=/socket/dir`` for a socket)
    PostgreSQL through ADBC (``adbc-driver-postgresql``, a libpq URI), every transaction
    read-only (``default_transaction_read_only``).

After ``scheme://`` comes the file's path: ``duckdb:///data/x.duckdb`` is the absolute
``/data/x.duckdb``, ``duckdb://x.duckdb`` is relative to the contract's folder. The password is
never written in the contract: ``password_env`` names the environment variable that holds it,
and a password inside the URL (``user:secret@`` or ``?password=``) is refused.

Two ways to read (:class:`SqlQuery` carries the query and the contract key for messages):

- :func:`read_sql` returns the result as a :class:`pandas.DataFrame`, exactly as
  :func:`enfo_sdk.data.tables.read_table` returns a Parquet file's table (Arrow -> pandas).
- :class:`SqlStreamSource` (``data.stream: true``) fetches the result as Arrow record batches and
  spools them to a temporary Parquet file, :data:`SPOOL_ROW_GROUP` rows per row group whatever the
  engine's batch sizes (so the minibatch rule of :mod:`enfo_sdk.stream`, which is defined on row
  groups, depends on the result rows and their order only), holding one row group in memory at
  a time; the file is then read by :class:`~enfo_sdk.stream.ParquetSource` and removed when the
  source is closed or collected. Why spool rather than page through the database per minibatch:
  the streaming rules need the row count, per-row test/validation hashes over a fixed row order
  and random access by row group, which a re-run query does not give without an ``ORDER BY`` and
  ``OFFSET`` scan per step (linear in the table, and inconsistent while the table changes); the
  spool is one scan and a snapshot.

Row order is the engine's: a query without ``ORDER BY`` may return rows in another order on
another engine version, which changes the seeded test split. Add ``ORDER BY`` for reproducible
runs.

Every failure is a one-line :class:`~enfo_sdk.errors.ConfigError` (the contract is wrong: bad
scheme, password in the URL, unset password variable, the engine refused the query, package
missing) or :class:`~enfo_sdk.errors.DataError` (the database cannot be reached, the result is
empty or has unusable columns), naming the contract key and the engine; nothing is left on disk.
The engines' packages are imported only when a query runs.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pandas as pd

from ..errors import ConfigError, DataError
from ..stream import ParquetSource

__all__ = [
    "ENGINES", "INSTALL_HINT", "SPOOL_ROW_GROUP", "Connection", "SqlQuery", "SqlStreamSource",
    "arrow_frame", "parse_connection", "read_sql", "resolve_connection", "spool_sql",
]

#: Engines by connection scheme.
ENGINES = {"duckdb": "duckdb", "sqlite": "sqlite", "postgresql": "postgresql",
           "postgres": "postgresql"}
#: What to install when an engine's package is missing.
INSTALL_HINT = "pip install 'enfo-sdk[db]'"
#: Rows per row group of the spooled Parquet file (and per batch asked of the engine).
SPOOL_ROW_GROUP = 65536

_PACKAGES = {"duckdb": "duckdb", "sqlite": "adbc-driver-sqlite",
             "postgresql": "adbc-driver-postgresql"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Connection:
    """A parsed connection.

    Attributes
    ----------
    engine : {"duckdb", "sqlite", "postgresql"}
    target : str
        The database file (duckdb, sqlite) or the libpq URI without a password (postgresql).
    """

    engine: str
    target: str

    @property
    def is_file(self) -> bool:
        return self.engine != "postgresql"


def parse_connection(text: str, *, where: str = "connection") -> Connection:
    """Parse a connection string (see the module doc).

    Parameters
    ----------
    text : str
        ``duckdb://PATH``, ``sqlite://PATH``, ``postgresql://...`` or a plain path (DuckDB).
    where : str
        The key path named in errors.

    Raises
    ------
    ConfigError
        Unknown scheme, empty path, or a password inside a PostgreSQL URL.
    """
    text = text.strip()
    m = _SCHEME.match(text)
    if m is None:
        if not text:
            raise ConfigError(f"{where}: empty; give a DuckDB file or an engine URL")
        return Connection("duckdb", text)
    scheme = m.group(1).lower()
    engine = ENGINES.get(scheme)
    if engine is None:
        raise ConfigError(
            f"{where}: unknown engine scheme {scheme!r} in {text!r}; known: "
            f"{', '.join(s + '://' for s in ENGINES)} or a plain DuckDB file path"
        )
    rest = text[m.end():]
    if engine != "postgresql":
        if not rest:
            raise ConfigError(f"{where}: {engine}:// needs a database file, got {text!r}")
        return Connection(engine, rest)
    url = urlsplit(text)
    query = parse_qsl(url.query, keep_blank_values=True)
    if url.password is not None or any(k == "password" for k, _ in query):
        raise ConfigError(
            f"{where}: the postgresql URL holds a password; remove it and name the environment "
            f"variable that holds it in data.source.password_env"
        )
    return Connection("postgresql", text)


def resolve_connection(text: str, base: str | Path) -> str:
    """``text`` with a relative database file made absolute against ``base`` (``~`` expanded);
    URLs of servers, and connections that do not parse, are returned unchanged."""
    try:
        conn = parse_connection(text)
    except ConfigError:
        return text  # validation reports it
    if not conn.is_file:
        return text
    p = Path(conn.target).expanduser()
    p = p if p.is_absolute() else (Path(base) / p).resolve()
    return f"{conn.engine}://{p}" if _SCHEME.match(text.strip()) else str(p)


@dataclass(frozen=True)
class SqlQuery:
    """A query and where to run it.

    Parameters
    ----------
    sql : str
        The query; its result is the owner's table.
    connection : str
        See :func:`parse_connection`.
    password_env : str, optional
        Environment variable holding the PostgreSQL password.
    where : str
        The contract key of this source, e.g. ``"key.yaml: data.source"``; errors name
        ``{where}.sql``, ``{where}.connection`` or ``{where}.password_env``. An empty string
        names the command-line options instead: ``--sql``, ``--connection``, ``--password-env``
        (``enfo-owner init``).
    """

    sql: str
    connection: str
    password_env: str | None = None
    where: str = "data.source"

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else "--" + name.replace("_", "-")

    @property
    def parsed(self) -> Connection:
        return parse_connection(self.connection, where=self.key("connection"))

    def __str__(self) -> str:
        conn = self.parsed
        return f"the {conn.engine} query on {conn.target}"


def _one_line(e: BaseException, secret: str | None = None) -> str:
    text = " ".join(str(e).split())
    return text.replace(secret, "***") if secret else text


def _import(module: str, engine: str, query: SqlQuery):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(
            f"{query.key('connection')}: the {engine} engine needs the {_PACKAGES[engine]} "
            f"package: {INSTALL_HINT}"
        ) from e


def _password(query: SqlQuery, conn: Connection) -> str | None:
    name = query.password_env
    if name is None:
        return None
    if conn.is_file:
        raise ConfigError(f"{query.key('password_env')}: {conn.engine} files take no password")
    if name not in os.environ:
        raise ConfigError(
            f"{query.key('password_env')}: environment variable {name} is not set "
            f"(the {conn.engine} password)"
        )
    return os.environ[name]


def _postgres_uri(target: str, password: str | None) -> str:
    """The URI with the password and a read-only session added as libpq query parameters."""
    url = urlsplit(target)
    query = parse_qsl(url.query, keep_blank_values=True)
    query.append(("options", "-c default_transaction_read_only=on"))
    if password is not None:
        query.append(("password", password))
    return urlunsplit(url._replace(query=urlencode(query, quote_via=quote)))


@contextmanager
def _batches(query: SqlQuery, batch_rows: int) -> Iterator:
    """A :class:`pyarrow.RecordBatchReader` over the query's result; connection closed after."""
    conn = query.parsed
    password = _password(query, conn)
    if conn.engine == "duckdb":
        duckdb = _import("duckdb", "duckdb", query)
        errors: tuple = (duckdb.Error,)
    else:
        module = "adbc_driver_sqlite.dbapi" if conn.engine == "sqlite" else "adbc_driver_postgresql.dbapi"
        driver = _import(module, conn.engine, query)
        errors = (_import("adbc_driver_manager", conn.engine, query).Error,)

    # 1. connect (the database is unreachable or missing: DataError naming the connection)
    try:
        if conn.engine == "duckdb":
            if not Path(conn.target).is_file():
                raise FileNotFoundError("no such file")
            db = duckdb.connect(conn.target, read_only=True)
        elif conn.engine == "sqlite":
            if not Path(conn.target).is_file():  # sqlite would create it
                raise FileNotFoundError("no such file")
            db = driver.connect(f"file:{quote(str(Path(conn.target).resolve()))}?mode=ro")
        else:
            db = driver.connect(_postgres_uri(conn.target, password))
    except (*errors, OSError) as e:
        raise DataError(
            f"{query.key('connection')}: cannot open the {conn.engine} database "
            f"{conn.target}: {_one_line(e, password)}"
        ) from e
    # 2. run the query (refused: ConfigError naming the query, with the engine's text)
    cursor = None
    try:
        try:
            if conn.engine == "duckdb":
                rel = db.sql(query.sql)
                if rel is None:
                    raise ConfigError(f"{query.key('sql')}: the duckdb statement returned no "
                                      f"result; give a SELECT query")
                reader_of = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
                reader = reader_of(batch_rows)
            else:
                cursor = db.cursor()
                cursor.execute(query.sql)
                reader = cursor.fetch_record_batch()
        except errors as e:
            raise ConfigError(
                f"{query.key('sql')}: {conn.engine} refused the query: {_one_line(e, password)}"
            ) from e
        try:
            yield reader
        except errors as e:  # fetching a later batch failed
            raise DataError(
                f"{query.key('sql')}: {conn.engine} failed while returning rows: "
                f"{_one_line(e, password)}"
            ) from e
    finally:
        for handle in (cursor, db):
            try:
                if handle is not None:
                    handle.close()
            except Exception:  # closing after an error must not hide the error
                pass


def _empty(query: SqlQuery) -> DataError:
    return DataError(f"{query.key('sql')}: the {query.parsed.engine} query returned no rows")


def read_sql(query: SqlQuery) -> pd.DataFrame:
    """Run the query and return its whole result.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, n_columns)
        Converted from Arrow as :func:`enfo_sdk.data.tables.read_table` converts a Parquet file.

    Raises
    ------
    ConfigError, DataError
        See the module doc; each names the contract key and the engine.
    """
    with _batches(query, SPOOL_ROW_GROUP) as reader:
        table = reader.read_all()
    if table.num_columns == 0:
        raise DataError(f"{query.key('sql')}: the {query.parsed.engine} query returned no columns")
    if table.num_rows == 0:
        raise _empty(query)
    return arrow_frame(table)


def arrow_frame(table) -> pd.DataFrame:
    """A query's Arrow result as the DataFrame the column types are inferred from.

    Exact decimals (DuckDB ``DECIMAL``; PostgreSQL ``NUMERIC``, which the ADBC driver returns as
    text in an opaque extension type) become float64, numbers rather than ``Decimal`` objects
    or strings (which would infer categorical); ``date`` becomes ``datetime64`` (datetime)
    rather than ``datetime.date`` objects. Everything else converts as pyarrow converts it
    (booleans with gaps as objects, integers with gaps as float64, strings as strings).
    """
    import pyarrow as pa

    return pa.table([_plain(table.column(i)) for i in range(table.num_columns)],
                    names=table.column_names).to_pandas()


def _is_numeric_text(t) -> bool:
    """PostgreSQL ``NUMERIC`` as the ADBC driver returns it: an opaque type over strings."""
    import pyarrow as pa

    return isinstance(t, pa.BaseExtensionType) and getattr(t, "type_name", None) == "numeric"


def _plain(column):
    """``column`` (an Array or ChunkedArray) with exact decimals as float64 and dates as
    timestamps; other types unchanged."""
    import pyarrow as pa

    t = column.type
    if _is_numeric_text(t):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        storage = pa.chunked_array([c.storage for c in chunks], t.storage_type)
        column = storage if isinstance(column, pa.ChunkedArray) else storage.combine_chunks()
        return column.cast(pa.float64())
    if pa.types.is_decimal(t):
        return column.cast(pa.float64())
    if pa.types.is_date(t):
        return column.cast(pa.timestamp("ms"))
    return column


def spool_sql(query: SqlQuery, folder: str | Path, columns: Sequence[str] | None = None,
              row_group_rows: int = SPOOL_ROW_GROUP, *, target: str | None = None,
              ) -> tuple[Path, int]:
    """Write the query's result to ``folder/query.parquet``, batch by batch.

    Parameters
    ----------
    query : SqlQuery
    folder : str or Path
        An existing folder; the file is written as ``.query.parquet.part`` and renamed when
        complete (removed on any error).
    columns : sequence of str, optional
        Columns to keep, in this order (each must be numeric or boolean); default all.
    row_group_rows : int
        Rows per row group (the last one holds the rest).
    target : str, optional
        A column that must be present (named as ``data.target`` in the error).

    Returns
    -------
    (path, rows) : (Path, int)

    Raises
    ------
    ConfigError, DataError
        See the module doc; also a missing, non-numeric or null-holding column (DataError).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    path, part = folder / "query.parquet", folder / ".query.parquet.part"
    engine = query.parsed.engine
    rows = 0
    try:
        with _batches(query, row_group_rows) as reader:
            names = list(reader.schema.names)
            keep = names if columns is None else [str(c) for c in columns]
            missing = [c for c in dict.fromkeys([*keep, *([target] if target else [])]) if c not in names]
            if missing:
                raise DataError(f"{query.key('sql')}: the {engine} query has no column(s) "
                                f"{missing}; it returns: {', '.join(names)}")
            for c in keep:
                t = reader.schema.field(c).type
                if not (pa.types.is_integer(t) or pa.types.is_floating(t) or _is_numeric_text(t)
                        or pa.types.is_boolean(t) or pa.types.is_decimal(t)):
                    raise DataError(f"{query.key('sql')}: column {c!r} of the {engine} query is "
                                    f"{t}, not a number; cast it in the query")
            schema = pa.schema([(c, pa.float64()) for c in keep])
            pending: list = []
            held = 0
            with pq.ParquetWriter(part, schema) as writer:
                for batch in reader:
                    for c in keep:
                        if batch.column(c).null_count:
                            raise DataError(f"{query.key('sql')}: column {c!r} of the {engine} "
                                            f"query holds NULL values; filter or fill them")
                    pending.append(pa.table([_plain(batch.column(c)).cast(pa.float64()) for c in keep],
                                            schema=schema))
                    held += batch.num_rows
                    while held >= row_group_rows:
                        table = pa.concat_tables(pending)
                        writer.write_table(table.slice(0, row_group_rows), row_group_size=row_group_rows)
                        rest = table.slice(row_group_rows)
                        pending, held = [rest], rest.num_rows
                        rows += row_group_rows
                if held:
                    writer.write_table(pa.concat_tables(pending), row_group_size=row_group_rows)
                    rows += held
        if rows == 0:
            raise _empty(query)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path, rows


class SqlStreamSource(ParquetSource):
    """A :class:`~enfo_sdk.stream.ParquetSource` over a query's result, spooled to a temporary
    Parquet file (see the module doc) that :meth:`close` (or garbage collection, or the end of
    the process) removes.

    Parameters
    ----------
    query : SqlQuery
    target : str
    features : sequence of str, optional
    spool_dir : str or Path, optional
        Where the temporary folder is made; default the system's (``TMPDIR``).
    **kwargs
        Passed to :class:`~enfo_sdk.stream.ParquetSource`.
    """

    def __init__(self, query: SqlQuery, target: str, features: Sequence[str] | None = None, *,
                 spool_dir: str | Path | None = None, **kwargs) -> None:
        self.query = query
        self._spool = tempfile.TemporaryDirectory(prefix="enfo-sql-", dir=spool_dir)
        try:
            columns = None if features is None else [*features, target]
            path, _ = spool_sql(query, self._spool.name, columns, target=target)
            super().__init__(path, target, features, **kwargs)
        except BaseException:
            self._spool.cleanup()
            raise

    def close(self) -> None:
        super().close()
        self._spool.cleanup()
