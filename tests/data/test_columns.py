"""Typed columns (issue 13): schema inference, the fitted encoding against independent
references, clear errors for bad tables, and forged rows kept in range by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from enfo_sdk.data.columns import (
    MISSING_LEVEL, CategoricalSpec, ColumnTransform, IdSpec, NumericSpec, infer_schema,
)
from enfo_sdk.errors import DataError
from enfo_sdk.forging.params import Parametrisation, harden


def mixed_table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "rownames": np.arange(1, n + 1),
        "area": rng.uniform(50, 250, n).round(1),
        "rooms": rng.integers(1, 7, n),
        "garage": rng.choice(["yes", "no"], n),
        "sector": rng.choice(["manuf", "construction", "other"], n),
        "sold": pd.date_range("2020-01-01", periods=n, freq="7D"),
    })
    df["price"] = 1000 * df["area"] + 5000 * df["rooms"] + rng.normal(0, 1000, n)
    return df


def test_inference_types_every_column_and_names_the_id():
    df = mixed_table()
    with pytest.raises(DataError, match="'rownames'") as e:
        infer_schema(df, "price", where="houses.csv")
    assert "houses.csv" in str(e.value) and "id" in str(e.value)
    schema = infer_schema(df, "price", {"rownames": IdSpec(type="id")}, where="houses.csv")
    assert {k: v.type for k, v in schema.items()} == {
        "rownames": "id", "area": "numeric", "rooms": "numeric", "garage": "boolean",
        "sector": "categorical", "sold": "datetime",
    }
    notes: list[str] = []
    lenient = infer_schema(df, "price", where="houses.csv", notes=notes)
    assert lenient["rownames"].type == "id" and any("rownames" in n for n in notes)


def test_encoding_matches_pandas_reference():
    df = mixed_table()
    df.loc[[3, 10], "area"] = np.nan
    df.loc[5, "sector"] = None
    train, test = df.iloc[:40], df.iloc[40:]
    schema = infer_schema(train, "price", {"rownames": IdSpec(type="id"),
                                           "area": NumericSpec(type="numeric", missing_indicator=True)})
    ct = ColumnTransform.fit(train, schema, "price")
    levels = sorted(train["sector"].dropna().unique()) + [MISSING_LEVEL]  # the gap's level last
    assert ct.feature_names == (["area", "area__missing", "rooms", "garage"]
                                + [f"sector={lv}" for lv in levels] + ["sold__days"])
    X = ct.encode_frame(train)
    # independent reference, written with plain pandas
    median = train["area"].median()
    np.testing.assert_array_equal(X["area"], train["area"].fillna(median))
    np.testing.assert_array_equal(X["area__missing"], train["area"].isna().astype(float))
    np.testing.assert_array_equal(X["garage"], (train["garage"] == "yes").astype(float))
    dummies = pd.get_dummies(train["sector"].fillna(MISSING_LEVEL)).reindex(columns=levels).astype(float)
    np.testing.assert_array_equal(X[[f"sector={lv}" for lv in levels]].to_numpy(), dummies.to_numpy())
    days = (train["sold"] - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    np.testing.assert_allclose(X["sold__days"], days, rtol=0, atol=1e-9)
    # the target's range and integrality come from the training rows only
    assert ct.target.min == train["price"].min() and ct.target.max == train["price"].max()
    # the fitted encoding survives the manifest's JSON round trip unchanged
    again = ColumnTransform.model_validate_json(ct.model_dump_json())
    np.testing.assert_array_equal(again.encode(test), ct.encode(test))


def _fitted():
    df = mixed_table()
    schema = infer_schema(df, "price", {"rownames": IdSpec(type="id")})
    return df, ColumnTransform.fit(df, schema, "price", where="owner.csv")


def test_unseen_level_is_an_error_naming_column_and_value_unless_ignored():
    df, ct = _fitted()
    new = df.iloc[:3].copy()
    new.loc[new.index[1], "sector"] = "mining"
    with pytest.raises(DataError, match=r"'sector'.*'mining'"):
        ct.encode(new, where="new.csv")
    zeros = ct.encode(new, unknown="ignore")
    group = [i for i, n in enumerate(ct.feature_names) if n.startswith("sector=")]
    assert zeros[1, group].sum() == 0 and zeros[0, group].sum() == 1


def test_wrong_type_and_missing_column_at_predict_time():
    df, ct = _fitted()
    bad = df.iloc[:3].copy()
    bad["area"] = bad["area"].astype(object)
    bad.loc[bad.index[2], "area"] = "big"
    with pytest.raises(DataError, match=r"new.csv: column 'area' is numeric but holds 'big'"):
        ct.encode(bad, where="new.csv")
    with pytest.raises(DataError, match=r"new.csv: missing column\(s\) 'garage'"):
        ct.encode(df.drop(columns="garage"), where="new.csv")
    yesno = df.iloc[:3].copy()
    yesno["garage"] = ["yes", "maybe", "no"]
    with pytest.raises(DataError, match=r"'garage' is boolean but holds 'maybe'"):
        ct.encode(yesno, where="new.csv")


def test_all_missing_column_is_an_error():
    df = mixed_table().drop(columns="rownames")
    df["empty"] = np.nan
    with pytest.raises(DataError, match="'empty'"):
        infer_schema(df, "price", where="owner.csv")


def test_too_many_levels_is_an_error_with_the_count():
    df = mixed_table(n=80).drop(columns="rownames")
    df["city"] = [f"c{i % 60}" for i in range(80)]
    with pytest.raises(DataError, match=r"'city'.*60"):
        infer_schema(df, "price", where="owner.csv")
    schema = infer_schema(df, "price", {"city": CategoricalSpec(type="categorical", max_levels=100)})
    assert len(ColumnTransform.fit(df, schema, "price").feature_names) > 60


def test_datetimes_with_mixed_zones_are_an_error():
    df = mixed_table(n=30).drop(columns="rownames")
    df["sold"] = df["sold"].astype(object)
    df.loc[5, "sold"] = pd.Timestamp("2020-03-01", tz="Europe/Berlin")
    with pytest.raises(DataError, match="'sold'"):
        schema = infer_schema(df, "price", where="owner.csv")
        ColumnTransform.fit(df, schema, "price", where="owner.csv")


def test_numbers_typed_datetime_are_an_error_not_nanoseconds():
    """pandas reads numbers as nanoseconds since 1970; a column of floats typed datetime is a
    mistake to name, not a column of 1970-01-01 dates."""
    from enfo_sdk.data.columns import DatetimeSpec

    df = mixed_table(n=30).drop(columns="rownames")
    schema = infer_schema(df, "price", {"area": DatetimeSpec(type="datetime")})
    with pytest.raises(DataError, match=r"owner.csv: column 'area' is datetime but holds numbers \(e.g. \d"):
        ColumnTransform.fit(df, schema, "price", where="owner.csv")


def test_messages_show_cell_values_as_written():
    """A bad cell is shown as its value (-0.5), not as numpy's repr (np.float64(-0.5))."""
    from enfo_sdk.data.columns import BooleanSpec

    df = mixed_table(n=30).drop(columns="rownames")
    df["area"] = -0.5
    schema = infer_schema(df, "price", {"area": BooleanSpec(type="boolean")})
    with pytest.raises(DataError, match="is boolean but holds -0.5 ") as info:
        ColumnTransform.fit(df, schema, "price", where="owner.csv")
    assert "np." not in str(info.value)


def test_parametrised_rows_stay_in_range_for_any_parameters():
    """Boxes and simplexes hold for arbitrary (even extreme) parameters, not by clipping."""
    from enfo_sdk import encapsulate

    df, ct = _fitted()
    X = ct.encode_frame(df)
    spec = encapsulate(X, df["price"], algorithm="krr", search={"bandwidth": [1.0], "alpha": [0.1]}, cv=2)
    spec = spec.with_columns(ct)
    P = Parametrisation.of(spec)
    U = torch.as_tensor(np.random.default_rng(1).normal(0, 30, (200, X.shape[1] + 1)))
    S = P.rows(U).numpy()
    pre = spec.preprocessing
    mean = np.append(pre.feature_mean, pre.target_mean)
    scale = np.append(pre.feature_scale, pre.target_scale)
    raw = S * scale + mean
    names = ct.feature_names + ["price"]
    for kind, idx, lo, hi in ct.ranges():
        block = raw[:, idx]
        assert (block >= lo - 1e-9).all() and (block <= hi + 1e-9).all(), names[idx[0]]
        if kind == "simplex":
            np.testing.assert_allclose(block.sum(axis=1), 1.0, atol=1e-12)
    assert raw[:, -1].min() >= ct.target.min - 1e-9 and raw[:, -1].max() <= ct.target.max + 1e-9
    # inverse then forward reproduces rows that were inside their ranges (by the margin)
    inside = (X.to_numpy()[:20] - pre.feature_mean) / pre.feature_scale
    S0 = np.column_stack([inside, (df["price"].to_numpy()[:20] - pre.target_mean) / pre.target_scale])
    back = P.rows(torch.as_tensor(P.inverse(S0))).numpy()
    box = P.boxes
    np.testing.assert_allclose(back[:, box] * scale[box] + mean[box], S0[:, box] * scale[box] + mean[box],
                               atol=2e-3 * (P.hi - P.lo).max())


def test_harden_gives_one_level_per_hard_group_and_whole_numbers():
    df = mixed_table().drop(columns="rownames")
    schema = infer_schema(df, "price", {"sector": CategoricalSpec(type="categorical", hard=True)})
    ct = ColumnTransform.fit(df, schema, "price")
    rng = np.random.default_rng(0)
    soft = pd.DataFrame(rng.uniform(0.1, 0.9, (10, len(ct.feature_names))), columns=ct.feature_names)
    group = [n for n in ct.feature_names if n.startswith("sector=")]
    soft[group] = soft[group].to_numpy() / soft[group].to_numpy().sum(axis=1, keepdims=True)
    soft["rooms"] = rng.uniform(1, 6, 10)
    soft["price"] = rng.uniform(1e5, 2e5, 10)
    hard, changed = harden(soft, ct, integers=True)
    assert "sector" in changed and "rooms" in changed
    np.testing.assert_array_equal(hard[group].sum(axis=1), 1.0)
    np.testing.assert_array_equal(hard[group].to_numpy().argmax(axis=1), soft[group].to_numpy().argmax(axis=1))
    np.testing.assert_array_equal(hard["rooms"], np.round(soft["rooms"]))
    np.testing.assert_array_equal(hard["area"], soft["area"])  # not an integer column
