"""Reading tables (CSV, Parquet, Parquet datasets, built-ins) and selecting columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enfo_sdk.data.builtin import friedman3
from enfo_sdk.data.tables import read_table, select_columns
from enfo_sdk.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.standard_normal(20),
            "b": rng.integers(0, 100, 20),
            "flag": rng.random(20) < 0.5,
            "y": rng.standard_normal(20),
        }
    )


# -- read_table: round trips ---------------------------------------------------------------------
def test_csv_round_trip(tmp_path, frame):
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame, check_exact=False, rtol=1e-15)
    pd.testing.assert_frame_equal(read_table(str(path)), read_table(path))


def test_compressed_csv_round_trip(tmp_path, frame):
    path = tmp_path / "t.csv.gz"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame, check_exact=False, rtol=1e-15)


@pytest.mark.parametrize("name", ["t.parquet", "t.pq", "T.PARQUET"])
def test_parquet_round_trip(tmp_path, frame, name):
    path = tmp_path / name
    frame.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame)


def test_parquet_dataset_directory(tmp_path, frame):
    root = tmp_path / "ds"
    (root / "part=1").mkdir(parents=True)
    (root / "part=2").mkdir()
    frame.iloc[:8].to_parquet(root / "part=1" / "a.parquet", index=False)
    frame.iloc[8:15].to_parquet(root / "part=1" / "b.pq", index=False)
    frame.iloc[15:].to_parquet(root / "part=2" / "c.parquet", index=False)
    (root / "_SUCCESS").write_text("")  # marker files and stray files are ignored
    (root / "README.txt").write_text("not parquet")
    (root / ".hidden.parquet").write_bytes(b"junk")
    got = read_table(root)
    expected = frame.assign(part=[1] * 15 + [2] * 5)
    got = got.sort_values("a").reset_index(drop=True)
    expected = expected.sort_values("a").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["part"].dtype.kind == "i"


def test_columns_selects_and_orders(tmp_path, frame):
    csv, parquet, root = tmp_path / "t.csv", tmp_path / "t.parquet", tmp_path / "ds"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    root.mkdir()
    frame.to_parquet(root / "x.parquet", index=False)
    for source in (csv, parquet, root):
        got = read_table(source, columns=["y", "a"])
        assert list(got.columns) == ["y", "a"]
        np.testing.assert_allclose(got.to_numpy(), frame[["y", "a"]].to_numpy(), rtol=1e-15)
        with pytest.raises(DataError, match=r"\['zz'\] not found") as info:
            read_table(source, columns=["a", "zz"])
        assert str(source) in str(info.value)


def test_builtin_source():
    pd.testing.assert_frame_equal(read_table("builtin:friedman3"), friedman3())
    assert list(read_table("builtin:clv", columns=["T", "age"]).columns) == ["T", "age"]
    with pytest.raises(DataError, match="'nope'.*clv"):
        read_table("builtin:nope")


# -- read_table: errors --------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match="no such file") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_unknown_extension(tmp_path):
    path = tmp_path / "table.xlsx"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="unknown table format") as info:
        read_table(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "name,content",
    [
        ("bad.parquet", b"PAR1 this is not really parquet"),
        ("trunc.parquet", None),  # a real Parquet file cut in half
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n"),
        ("latin1.csv", "a,b\n1,\xe9t\xe9\n".encode("latin-1")),
    ],
)
def test_corrupt_files_are_wrapped(tmp_path, frame, name, content):
    path = tmp_path / name
    if content is None:
        frame.to_parquet(path, index=False)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(DataError, match="cannot read") as info:
        read_table(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is not None


def test_corrupt_file_in_dataset(tmp_path, frame):
    root = tmp_path / "ds"
    root.mkdir()
    frame.to_parquet(root / "good.parquet", index=False)
    (root / "bad.parquet").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read Parquet dataset") as info:
        read_table(root)
    assert str(root) in str(info.value) and info.value.__cause__ is not None


@pytest.mark.parametrize("kind", ["csv_header_only", "csv_zero_bytes", "parquet_no_rows"])
def test_empty_tables(tmp_path, frame, kind):
    if kind == "csv_header_only":
        path = tmp_path / "e.csv"
        path.write_text("a,b,y\n")
    elif kind == "csv_zero_bytes":
        path = tmp_path / "e.csv"
        path.write_bytes(b"")
    else:
        path = tmp_path / "e.parquet"
        frame.iloc[:0].to_parquet(path, index=False)
    with pytest.raises(DataError, match="empty") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_parquet_without_columns(tmp_path):
    path = tmp_path / "nocols.parquet"
    pq.write_table(pa.table({}), path)
    with pytest.raises(DataError, match="no columns|empty") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_directory_without_parquet_files(tmp_path):
    root = tmp_path / "empty_ds"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "data.csv").write_text("a\n1\n")
    (root / "_tmp.parquet").write_bytes(b"ignored")
    with pytest.raises(DataError, match="no Parquet files") as info:
        read_table(root)
    assert str(root) in str(info.value)


# -- select_columns ------------------------------------------------------------------------------
def test_select_default_features_and_dtypes(frame):
    X, y = select_columns(frame, "y")
    assert list(X.columns) == ["a", "b", "flag"]
    assert (X.dtypes == np.float64).all() and y.dtype == np.float64 and y.name == "y"
    np.testing.assert_array_equal(X["flag"], frame["flag"].astype(float))
    np.testing.assert_array_equal(X["b"], frame["b"].astype(float))
    np.testing.assert_array_equal(y, frame["y"])
    assert X.index.equals(frame.index)


def test_select_explicit_features_in_order(frame):
    X, y = select_columns(frame, "a", features=["flag", "y"])
    assert list(X.columns) == ["flag", "y"]
    np.testing.assert_array_equal(y, frame["a"])


def test_select_nullable_integers_and_bool_target():
    df = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "t": [True, False, True]})
    X, y = select_columns(df, "t")
    assert X["n"].dtype == np.float64 and np.isnan(X["n"].iloc[1])
    np.testing.assert_array_equal(y, [1.0, 0.0, 1.0])


def test_missing_target_lists_available(frame):
    with pytest.raises(DataError, match="'price' not found in sales.csv") as info:
        select_columns(frame, "price", source_name="sales.csv")
    assert "['a', 'b', 'flag', 'y']" in str(info.value)


def test_missing_features_are_named(frame):
    with pytest.raises(DataError, match=r"\['c', 'd'\] not found in t"):
        select_columns(frame, "y", features=["a", "c", "d"], source_name="t")


def test_non_numeric_default_features_are_listed(frame):
    df = frame.assign(city=["x"] * 20, when=pd.Timestamp("2020-01-01"), z=1j)
    with pytest.raises(DataError, match="non-numeric") as info:
        select_columns(df, "y", source_name="owner.parquet")
    msg = str(info.value)
    assert "'city'" in msg and "'when'" in msg and "'z'" in msg and "owner.parquet" in msg
    assert "'a'" not in msg and "'flag'" not in msg
    X, _ = select_columns(df, "y", features=["a", "flag"])  # explicit list leaves them out
    assert list(X.columns) == ["a", "flag"]


def test_non_numeric_explicit_features_are_listed(frame):
    df = frame.assign(city=["x"] * 20)
    with pytest.raises(DataError, match="'city'"):
        select_columns(df, "y", features=["a", "city"])


def test_non_numeric_target(frame):
    df = frame.assign(label=["u"] * 20)
    with pytest.raises(DataError, match="target column 'label'.*not numeric"):
        select_columns(df, "label", features=["a"])


def test_target_listed_as_feature_and_duplicates(frame):
    with pytest.raises(DataError, match="'y' is also listed"):
        select_columns(frame, "y", features=["a", "y"])
    with pytest.raises(DataError, match=r"more than once: \['a'\]"):
        select_columns(frame, "y", features=["a", "a"])


def test_no_features_left():
    with pytest.raises(DataError, match="no feature columns"):
        select_columns(pd.DataFrame({"y": [1.0, 2.0]}), "y")


def test_end_to_end_csv_to_arrays(tmp_path):
    df = friedman3(n=100, seed=4)
    path = tmp_path / "f.csv"
    df.to_csv(path, index=False)
    X, y = select_columns(read_table(path), "y", source_name=str(path))
    np.testing.assert_allclose(X.to_numpy(), df[["x1", "x2", "x3", "x4"]].to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(y.to_numpy(), df["y"].to_numpy(), rtol=1e-15)
