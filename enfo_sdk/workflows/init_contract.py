"""``enfo-owner init``: look at a table and write a commented contract to start from.

The contract names the source and target, types every column (what :func:`infer_schema` would
infer, with id-like columns typed ``id`` and unusable ones ``ignore``, each with a comment
saying why), states the row counts and each categorical column's levels, and suggests
``forge.rows``. It is ready to run as written and to edit: every line is valid against
``schemas/contract.schema.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, DataError

__all__ = ["InitRun", "init_contract", "suggest_rows"]

#: ``data.test_fraction`` written into new contracts.
TEST_FRACTION = 0.2


@dataclass
class InitRun:
    """What ``enfo-owner init`` wrote: the contract, and what it saw in the table."""

    contract: Path
    rows: int
    columns: dict[str, str]
    suggested_rows: int
    notes: list[str] = field(default_factory=list)
    task: str = "regression"
    task_note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"contract": str(self.contract), "rows": self.rows, "columns": dict(self.columns),
                "suggested_forge_rows": self.suggested_rows, "notes": list(self.notes),
                "task": self.task, "task_note": self.task_note}


def suggest_rows(n_rows: int, test_fraction: float = TEST_FRACTION, validation: float = 0.2) -> int:
    """Forged rows to start with: 100, or a fifth of the rows forging learns from on small
    tables (at least 10, a multiple of 10)."""
    usable = int(n_rows * (1 - test_fraction) * (1 - validation))
    return int(max(10, min(100, (usable // 5) // 10 * 10)))


def init_contract(source, target: str, *, out: str | Path, force: bool = False) -> InitRun:
    """Inspect ``source`` and write a commented contract for it to ``out``.

    Parameters
    ----------
    source : str or enfo_sdk.data.sql.SqlQuery
        A CSV or Parquet file, a directory of Parquet files, or ``builtin:NAME``; or a SQL
        query, whose whole result is read (a relative database file resolves against the
        current folder and is written absolute, like a file source; the password variable's
        name is written, never its value).
    target : str
        The column to predict.
    out : str or Path
        The contract to write (``.yaml``); an existing file is kept unless ``force``.

    Raises
    ------
    ConfigError
        ``out`` exists (without ``force``); the query is refused or its password variable unset.
    DataError
        The table cannot be read or lacks ``target``; the database cannot be reached.
    """
    from ..data.builtin import load_builtin
    from ..data.columns import infer_schema
    from ..data.sql import SqlQuery, read_sql, resolve_connection
    from ..data.tables import BUILTIN_PREFIX, read_table
    from ..fs import write_bytes_atomic

    out = Path(out)
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; choose another --out or pass --force to replace it")
    if isinstance(source, SqlQuery):
        source = replace(source, connection=resolve_connection(source.connection, Path.cwd()))
        df = read_sql(source)
        shown: str | SqlQuery = source
        where = f"{source.key('sql')} ({source})"
    elif source.startswith(BUILTIN_PREFIX):
        df, _ = load_builtin(source[len(BUILTIN_PREFIX):])
        shown = where = source
    else:
        df = read_table(source)
        shown, where = str(Path(source).resolve()), source
    df = df.rename(columns=str)
    if target not in df.columns:
        raise DataError(f"{where}: column {target!r} not found; available: {', '.join(df.columns)}")
    notes: list[str] = []
    schema = infer_schema(df, target, where=where, notes=notes)
    rows = suggest_rows(len(df))
    task, task_note = task_guess(df[target])
    text = _render(shown, target, df, schema, rows, notes, task, task_note)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, text.encode("utf-8"))
    return InitRun(contract=out, rows=len(df), columns={k: v.type for k, v in schema.items()},
                   suggested_rows=rows, notes=notes, task=task, task_note=task_note)


def task_guess(s: pd.Series) -> tuple[str, str]:
    """The task :func:`enfo_sdk.data.columns.infer_task` infers for target ``s`` and why, in
    words for the contract's comment. A numeric target holding only a few whole values (a 0/1
    column stored as floats) stays regression, as the inference says, but the note asks."""
    from ..data.columns import INTEGER_CLASS_LEVELS, infer_task

    task = infer_task(s)
    values = s.dropna()
    if task == "classification":
        return task, f"inferred: {values.nunique()} classes"
    numbers = pd.to_numeric(values, errors="coerce")
    k = numbers.nunique()
    if pd.api.types.is_numeric_dtype(s) and k <= INTEGER_CLASS_LEVELS and bool((numbers == numbers.round()).all()):
        shown = ", ".join(f"{v:g}" for v in sorted(numbers.unique()))
        return task, (f"inferred from a number column, but it holds only {k} whole values ({shown}): "
                      f"if they are labels, write classification")
    return task, "inferred: a number column"


def _render(source, target: str, df: pd.DataFrame, schema: dict, rows: int, notes: list[str],
            task: str = "regression", task_note: str = "") -> str:
    n = len(df)
    n_test = int(round(TEST_FRACTION * n))
    why = {note.split(":", 1)[0]: note.split(": ", 1)[1] for note in notes}
    lines = [
        f"# Written by enfo-owner init from {source}: {n:,} rows, {len(df.columns)} columns.",
        "# Check the column types below, then run: enfo-owner forge --contract THIS_FILE",
        "version: 1",
        "data:",
        *_source_lines(source),
        f"  target: {_yaml_str(target)}" + f"    # {_describe(df[target])}",
        f"  task: {task}    # {task_note}",
        f"  test_fraction: {TEST_FRACTION}    # {n_test:,} rows held out for the test, {n - n_test:,} for training",
        "  columns:",
    ]
    for name, spec in schema.items():
        s = df[name]
        comment = why.get(name) or _describe(s, spec)
        body = {"type": spec.type}
        if spec.type == "numeric" and spec.integer:
            body["integer"] = True
        lines.append(f"    {_yaml_str(name)}: {{{', '.join(f'{k}: {_yaml_value(v)}' for k, v in body.items())}}}"
                     f"    # {comment}")
    lines += [
        "key:",
        "  algorithm: nu-method",
        "forge:",
        f"  rows: {rows}    # forged rows: 100, or a fifth of the rows forging learns from on small tables",
        "  seed: 0",
        "output:",
        f"  bundle: {_yaml_str(_stem(source) + '.bundle.parquet')}",
    ]
    return "\n".join(lines) + "\n"


def _describe(s: pd.Series, spec=None) -> str:
    gaps = int(s.isna().sum())
    gap = f", {gaps} missing" if gaps else ""
    kind = getattr(spec, "type", None)
    if kind == "categorical":
        levels = s.dropna().astype(str).value_counts()
        shown = ", ".join(f"{k} ({v})" for k, v in levels.head(6).items())
        more = f", ... {len(levels) - 6} more" if len(levels) > 6 else ""
        return f"{len(levels)} levels: {shown}{more}{gap}"
    if kind in ("boolean",):
        return f"{s.dropna().astype(str).value_counts().to_dict()}{gap}"
    if pd.api.types.is_numeric_dtype(s):
        v = s.dropna()
        return f"{v.min():g} to {v.max():g}{gap}" if len(v) else f"empty{gap}"
    return f"{s.nunique()} distinct values{gap}"


def _source_lines(source) -> list[str]:
    """``data.source``: a file or builtin on one line, a query as its three keys."""
    if isinstance(source, str):
        return [f"  source: {_yaml_str(source)}"]
    lines = ["  source:    # a SQL query: ORDER BY keeps the row order, and so the test split, fixed",
             f"    sql: {_yaml_str(source.sql)}",
             f"    connection: {_yaml_str(source.connection)}"]
    if source.password_env:
        lines.append(f"    password_env: {_yaml_str(source.password_env)}    # holds the password; never write it here")
    return lines


def _stem(source) -> str:
    if not isinstance(source, str):  # a query: the database file's name, or "query" for a server
        conn = source.parsed
        return Path(conn.target).stem if conn.is_file else "query"
    name = source.split(":", 1)[-1] if source.startswith("builtin:") else Path(source).name
    for suffix in (".csv.gz", ".csv", ".parquet", ".pq"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name or "bundle"


def _yaml_str(text: str) -> str:
    import json

    plain = text.replace("_", "").replace("-", "").replace(".", "").replace("/", "").replace(":", "")
    return text if plain.isalnum() and not text[0].isdigit() else json.dumps(text)


def _yaml_value(v: Any) -> str:
    return "true" if v is True else "false" if v is False else str(v)
