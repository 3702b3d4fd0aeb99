"""Row numbers in messages are 1-based data rows, everywhere (issue 16: one side said 0-based).

The first row after a table's header is data row 1, so a message matches what a user sees in a
spreadsheet; a frame subset from a table keeps its rows' numbers (the owner's split does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.data.columns import ColumnTransform, infer_schema
from enfo_sdk.data.tables import read_table
from enfo_sdk.errors import DataError


def _table(n: int = 12) -> pd.DataFrame:
    r = np.random.default_rng(0)
    return pd.DataFrame({"x": r.normal(size=n), "colour": ["red", "blue", "green"] * (n // 3), "y": r.normal(size=n)})


def test_arrays_and_frames_number_rows_from_one():
    df = _table()
    X = df[["x"]].to_numpy().copy()
    X[2, 0] = np.nan  # the third row
    with pytest.raises(DataError, match=r"first in data row 3\)"):
        encapsulate(X, df["y"].to_numpy(), search={"bandwidth": [1.0], "iterations": {"max": 5}})
    y = df["y"].to_numpy().copy()
    y[0] = np.inf
    with pytest.raises(DataError, match=r"first in data row 1\)"):
        encapsulate(df[["x"]].to_numpy(), y, search={"bandwidth": [1.0], "iterations": {"max": 5}})


def test_a_split_keeps_the_file_row_numbers(tmp_path):
    df = _table()
    df.loc[7, "y"] = np.nan
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    table = read_table(path)
    train = table.iloc[[0, 3, 7, 9]]  # as the owner's seeded split takes rows
    with pytest.raises(DataError, match=r"first in data row 8\)"):
        ColumnTransform.fit(train, infer_schema(table.dropna(), "y", where="t.csv"), "y", where="t.csv")


def test_unknown_level_names_the_row_of_the_partner_file(tmp_path):
    df = _table()
    cols = ColumnTransform.fit(df, infer_schema(df, "y", where="owner"), "y", where="owner")
    new = df.drop(columns="y").head(4).copy()
    new.loc[1, "colour"] = "purple"  # data row 2 of the partner's file
    path = tmp_path / "new.csv"
    new.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'purple'.*first in data row 2\)"):
        cols.encode(read_table(path), where=str(path))
