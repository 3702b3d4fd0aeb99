"""The contract's ``data`` section: the owner's table (a file, a built-in example or a SQL
query) and how it is split; and the strict base every contract section shares.

Split from :mod:`enfo_sdk.contract`, which re-exports :class:`DataSection` and
:class:`SqlSource`; read that module's docstring for the contract as a whole.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from .data.columns import ColumnSpec
from .errors import ConfigError

__all__ = ["DataSection", "SqlSource", "Section", "MAX_SEED", "BUILTIN_PREFIX"]

BUILTIN_PREFIX = "builtin:"


#: Largest seed accepted (numpy's legacy generators and the split hash take 32-bit seeds).
MAX_SEED = 2**32 - 1


class Section(BaseModel):
    # strict: YAML already carries types; ``rows: yes`` or ``lr: "0.1"`` are mistakes;
    # ``.inf`` and ``.nan`` are never sane settings
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


#: Sane ranges of the built-in datasets' common options (rows, seed): a billion rows would
#: exhaust memory long before the first message.
_BUILTIN_OPTION_RANGES = {"n": (1, 2_000_000), "seed": (0, MAX_SEED)}


class SqlSource(Section):
    """A SQL query whose result is the owner's table (enfo_sdk/data/sql.py)."""

    sql: str = Field(min_length=1, description="The query; its result is the owner's table. "
                     "Add ORDER BY for a reproducible row order (the test split follows it).")
    connection: str = Field(
        description="duckdb:///abs/file.duckdb, duckdb://relative/file.duckdb or a plain path "
        "(DuckDB, the default engine); sqlite:///abs/file.db; "
        "postgresql://user@host:port/db (?host=/socket/dir for a unix socket). Relative files "
        "resolve against the contract's folder. No password here: see password_env.",
        examples=["data/sales.duckdb", "postgresql://owner@db.internal:5432/crm"],
    )
    password_env: str | None = Field(
        None, min_length=1,
        description="Environment variable holding the PostgreSQL password.",
    )

    @field_validator("connection")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        from .data.sql import parse_connection

        try:
            parse_connection(v, where="connection")
        except ConfigError as e:
            raise ValueError(str(e).removeprefix("connection: ")) from None
        return v

    def query(self, where: str = "data.source"):
        """The :class:`enfo_sdk.data.sql.SqlQuery` to run; errors name ``where``'s keys."""
        from .data.sql import SqlQuery

        return SqlQuery(self.sql, self.connection, self.password_env, where=where)

    def __str__(self) -> str:
        return f"the SQL query on {self.connection.split('?')[0]}"


def _source_kind(v: Any) -> str:
    return "dict" if isinstance(v, (dict, SqlSource)) else "str"


class DataSection(Section):
    """The owner's table and how it is split."""

    # the union's tags are named like the types so that error messages drop them
    source: Annotated[
        Annotated[str, Tag("str")] | Annotated[SqlSource, Tag("dict")],
        Discriminator(_source_kind),
    ] = Field(
        description="CSV file, Parquet file, directory of Parquet files, or builtin:NAME "
        "(friedman3, clv, cdnow), or a SQL query {sql, connection, password_env}. Relative "
        "paths resolve against the contract's folder.",
        examples=["builtin:friedman3", "data/customers.parquet",
                  {"sql": "SELECT * FROM sales ORDER BY id", "connection": "sales.duckdb"}],
    )
    options: dict[str, Any] | None = Field(
        None,
        description="Options of a built-in dataset's loader, e.g. {n: 2000, seed: 1} for "
        "builtin:friedman3. Only for builtin: sources.",
    )
    target: str = Field(description="Name of the target column.")
    task: Literal["regression", "classification"] | None = Field(
        None,
        description="What the key predicts. Default: inferred from the target -- strings, "
        "booleans, categories or an integer column with at most 10 values are classes "
        "(classification, 2..50 classes), anything else is regression. The run states the task.",
    )
    features: list[str] | None = Field(
        None,
        min_length=1,
        description="Feature columns, in order. Default: every column but the target (ids "
        "and columns typed ignore aside).",
    )
    columns: dict[str, ColumnSpec] | None = Field(
        None,
        description="Column types, by name: numeric (min, max, integer, missing_indicator), "
        "categorical (levels, max_levels, hard, unknown), boolean, datetime, id (never a "
        "feature) or ignore. Columns not named are inferred (docs/columns.md).",
    )
    test_fraction: float = Field(
        0.2, gt=0, lt=1,
        description="Fraction of rows held out (never seen by encapsulation or forging) to "
        "report test RMSE.",
    )
    seed: int = Field(
        0, ge=0, le=MAX_SEED,
        description="Seeds the test split, the cross-validation folds and the sampled-rows "
        "baseline.",
    )
    stream: bool = Field(
        False,
        description="Stream a Parquet file or directory in minibatches instead of loading it "
        "(docs/keys.md): test and validation rows by a seeded per-row hash, encapsulation and "
        "the full/sampled baselines on a 5,000-row training subsample.",
    )

    @field_validator("options")
    @classmethod
    def _sane_options(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        for name, (low, high) in _BUILTIN_OPTION_RANGES.items():
            if v is None or name not in v:
                continue
            x = v[name]
            if isinstance(x, bool) or not isinstance(x, int) or not low <= x <= high:
                raise ValueError(f"{name} must be a whole number in {low:,}..{high:,}, got {x!r}")
        return v

    @field_validator("source")
    @classmethod
    def _known_builtin(cls, v: str | SqlSource) -> str | SqlSource:
        if isinstance(v, SqlSource):
            return v
        if not v.strip():
            raise ValueError("must name a file, a directory or builtin:NAME")
        if v.startswith(BUILTIN_PREFIX):
            from .data.builtin import BUILTIN_TARGETS

            name = v[len(BUILTIN_PREFIX):]
            if name not in BUILTIN_TARGETS:
                raise ValueError(
                    f"unknown built-in dataset {name!r}; known: "
                    f"{', '.join(BUILTIN_PREFIX + n for n in sorted(BUILTIN_TARGETS))}"
                )
        return v
