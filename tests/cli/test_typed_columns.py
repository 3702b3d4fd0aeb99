"""A mixed-type owner table end to end through the CLIs (issue 13): init writes a contract that
forges as it is; the bundle (format v2) carries the encoding; the partner predicts on raw rows
read back from CSV, exactly as the owner's key does on the owner's own encoding of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from .conftest import TINY_SEARCH, assert_one_clean_error


def houses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "rownames": np.arange(seed * 10_000, seed * 10_000 + n),
        "lotsize": rng.uniform(1500, 12000, n).round(0),
        "bedrooms": rng.integers(1, 6, n),
        "driveway": rng.choice(["yes", "no"], n, p=[0.8, 0.2]),
        "style": rng.choice(["bungalow", "terrace", "detached"], n),
    })
    df.loc[rng.choice(n, n // 20, replace=False), "lotsize"] = np.nan
    df["price"] = (10 * df["lotsize"].fillna(5000) + 8000 * df["bedrooms"] + 15000 * (df["driveway"] == "yes")
                   + df["style"].map({"bungalow": 0, "terrace": -10000, "detached": 20000})
                   + rng.normal(0, 3000, n))
    return df


def test_init_forge_verify_predict_on_raw_rows(runner, tmp_path):
    from enfo_sdk.bundle import read_envelope_unverified
    from enfo_sdk.contract import load_contract
    from enfo_sdk.workflows.owner_data import load_owner_split

    houses(400, 0).to_csv(tmp_path / "houses.csv", index=False)
    new = houses(25, 7)
    new.drop(columns="price").to_csv(tmp_path / "new.csv", index=False)

    result = runner.invoke(owner, ["init", "--data", str(tmp_path / "houses.csv"), "--target", "price",
                                   "--out", str(tmp_path / "key.yaml")])
    assert result.exit_code == 0, result.output
    assert "rownames" in result.output  # the id-like column is named, typed id
    text = (tmp_path / "key.yaml").read_text()
    contract = yaml.safe_load(text)
    assert contract["data"]["columns"]["rownames"]["type"] == "id"
    assert contract["data"]["columns"]["driveway"]["type"] == "boolean"
    contract["key"] = {"algorithm": "nu-method", "search": TINY_SEARCH}
    contract["forge"].update(rows=20, steps=30)
    contract["output"] = {"bundle": "out/houses.bundle.parquet"}
    contract["signing"] = {"key": "owner.key", "owner": "acme-data"}
    (tmp_path / "key.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    assert runner.invoke(owner, ["keygen", "--out", str(tmp_path / "owner.key")]).exit_code == 0

    result = runner.invoke(owner, ["forge", "--contract", str(tmp_path / "key.yaml"), "--quiet"])
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "out" / "houses.bundle.parquet"
    manifest, _ = read_envelope_unverified(bundle)
    assert manifest.format_version == 2 and "rownames" not in manifest.task.features
    assert "rownames" in manifest.key.columns.dropped

    # every forged value inside its column's training range; each category group on the simplex
    rows = pd.read_parquet(bundle)
    cols = manifest.key.columns
    for kind, idx, lo, hi in cols.ranges():
        block = rows[[cols.feature_names[j] for j in idx]].to_numpy()
        assert (block >= lo).all() and (block <= hi).all()
        if kind == "simplex":
            np.testing.assert_allclose(block.sum(axis=1), 1.0, atol=1e-9)

    pub = tmp_path / "owner.key.pub"
    result = runner.invoke(partner, ["train", str(bundle), "--trust", str(pub), "--out", str(tmp_path / "m.parquet")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(partner, ["predict", str(tmp_path / "m.parquet"), "--input", str(tmp_path / "new.csv"),
                                     "--out", str(tmp_path / "pred.csv")])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == [*new.drop(columns="price").columns, "price_pred"]

    # the owner's side: the key trained on the bundle's rows, on the owner's own encoding
    # of the same raw rows (in memory, never through CSV)
    owner_cols = load_owner_split(load_contract(tmp_path / "key.yaml")).columns
    assert owner_cols == cols
    key = manifest.key.build().fit(rows[cols.feature_names].to_numpy(), rows["price"].to_numpy())
    expected = key.predict(owner_cols.encode(new, where="new rows"))
    np.testing.assert_allclose(pred["price_pred"], expected, rtol=0, atol=1e-6 * np.abs(expected).max())

    # a level the key never saw: one line naming the column and the value, nothing written
    new.loc[3, "style"] = "castle"
    new.drop(columns="price").to_csv(tmp_path / "odd.csv", index=False)
    result = runner.invoke(partner, ["predict", str(tmp_path / "m.parquet"), "--input", str(tmp_path / "odd.csv"),
                                     "--out", str(tmp_path / "odd_pred.csv")])
    assert_one_clean_error(result, "odd.csv", "'style'", "'castle'")
    assert not (tmp_path / "odd_pred.csv").exists()


def test_round_integers_rounds_and_reports_the_soft_rows_figure(runner, tmp_path):
    """forge.round_integers: integer columns of the bundle are whole numbers, and the key's
    test RMSE on the rows before rounding is reported beside the one after."""
    import json

    from enfo_sdk.evaluate.utility import key_rmse

    houses(400, 0).to_csv(tmp_path / "houses.csv", index=False)
    contract = {
        "version": 1,
        "data": {"source": "houses.csv", "target": "price", "columns": {"rownames": {"type": "id"}}},
        "key": {"algorithm": "nu-method", "search": TINY_SEARCH},
        "forge": {"rows": 20, "steps": 30, "round_integers": True, "rivalry": {"seconds": 0}},
        "output": {"bundle": "out/h.bundle.parquet"},
        "signing": {"key": "owner.key"},
    }
    (tmp_path / "key.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    assert runner.invoke(owner, ["keygen", "--out", str(tmp_path / "owner.key")]).exit_code == 0
    result = runner.invoke(owner, ["forge", "--contract", str(tmp_path / "key.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{"):])
    rmse = body["test_rmse"]
    assert {"full", "forged", "forged_soft"} <= set(rmse) and rmse["forged_soft"] != rmse["forged"]
    from enfo_sdk.bundle import read_envelope_unverified

    bundle = tmp_path / "out" / "h.bundle.parquet"
    rows = pd.read_parquet(bundle)
    cols = read_envelope_unverified(bundle)[0].key.columns
    integers = [cols.feature_names[j] for j in cols.integer_features()]
    assert "bedrooms" in integers  # an integer column of the owner's table
    for name in integers:
        np.testing.assert_array_equal(rows[name], np.round(rows[name]))
    # the yes/no and category columns are probabilities, never rounded to whole numbers
    soft = [n for n in cols.feature_names if n not in integers]
    assert any(not np.array_equal(rows[n], np.round(rows[n])) for n in soft)


def test_init_states_the_task_and_asks_about_a_two_valued_number_target(runner, tmp_path):
    """A 0/1 target stored as floats stays regression (the inference's rule) but init says so
    and asks; a text target is classification with its class count."""
    import json

    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60),
                       "voted": rng.integers(0, 2, 60).astype(float),
                       "colour": rng.choice(["red", "green", "blue"], 60)})
    df.to_csv(tmp_path / "t.csv", index=False)
    out = runner.invoke(owner, ["init", "--data", str(tmp_path / "t.csv"), "--target", "voted",
                                "--out", str(tmp_path / "v.yaml")])
    assert out.exit_code == 0, out.output
    assert "task: regression (inferred from a number column, but it holds only 2 whole values (0, 1)" in out.output
    data = yaml.safe_load((tmp_path / "v.yaml").read_text())["data"]
    assert data["task"] == "regression"
    assert "if they are labels, write classification" in (tmp_path / "v.yaml").read_text()
    js = runner.invoke(owner, ["init", "--data", str(tmp_path / "t.csv"), "--target", "colour",
                               "--out", str(tmp_path / "c.yaml"), "--json"])
    assert js.exit_code == 0, js.output
    run = json.loads(js.stdout)
    assert run["task"] == "classification" and run["task_note"] == "inferred: 3 classes"
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["data"]["task"] == "classification"
