"""Streaming owner data from a Parquet dataset: split rule, shards, minibatches, forging."""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import DataError, ForgeError
from enfo_sdk.forge import forge
from enfo_sdk.stream import ParquetSource, split_u

N = 6000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """6,000 Friedman #3 rows in three files of row groups of 500 rows (plus ignored files)."""
    folder = tmp_path_factory.mktemp("owner")
    df = friedman3(n=N, noise=0.1, seed=11)
    for i, part in enumerate(np.array_split(np.arange(N), 3)):
        sub = folder / f"part={i}"
        sub.mkdir()
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False), sub / f"f{i}.parquet",
                       row_group_size=500)
    pq.write_table(pa.Table.from_pandas(df.iloc[:10], preserve_index=False), folder / "_ignored.parquet")
    return folder, df


@pytest.fixture(scope="module")
def spec(dataset):
    _, df = dataset
    src_sample = df.iloc[:1500]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tiny grid on purpose
        return encapsulate(src_sample.drop(columns="y"), src_sample["y"],
                           search={"bandwidth": [1.0], "iterations": {"max": 100}})


def test_split_rule_is_per_row_and_documented(dataset):
    folder, df = dataset
    src = ParquetSource(folder, "y", validation=0.15, test_fraction=0.1, split_seed=3)
    assert src.n_rows == N and src.feature_names == ["x1", "x2", "x3", "x4"]
    # an independent computation of the rule on the whole table (row i = i-th row of the files)
    u = split_u(np.arange(N, dtype=np.uint64), 3)
    assert 0.08 < (u < 0.1).mean() < 0.12 and u.min() >= 0 and u.max() < 1
    val = (u >= 0.1) & (u < 0.25)
    assert src.n_validation == val.sum() and src.n_train == (u >= 0.25).sum()
    Xv, yv = src.validation_rows()
    np.testing.assert_array_equal(Xv, df.loc[val, ["x1", "x2", "x3", "x4"]].to_numpy())
    np.testing.assert_array_equal(yv, df.loc[val, "y"].to_numpy())
    Xt, yt = src.test_rows()
    np.testing.assert_array_equal(yt, df.loc[u < 0.1, "y"].to_numpy())
    # another seed, another split
    assert not np.array_equal(split_u(np.arange(100, dtype=np.uint64), 4), u[:100])
    # default validation: min(0.2, max_validation_rows / n)
    assert ParquetSource(folder, "y", max_validation_rows=600).validation == pytest.approx(0.1)


def test_minibatches_hold_training_rows_only_and_shards_partition_them(dataset):
    folder, df = dataset
    src = ParquetSource(folder, "y", validation=0.2, test_fraction=0.1, world=2, buffer_rows=1000,
                        refresh_every=3)
    u = split_u(np.arange(N, dtype=np.uint64), 0)
    train = {tuple(r) for r in df.to_numpy()[u >= 0.3]}
    halves = [ParquetSource(folder, "y", validation=0.2, test_fraction=0.1, world=2, ranks=[r],
                            buffer_rows=1000, refresh_every=3) for r in (0, 1)]
    seen = set()
    for step in range(1, 10):
        X, y = src.batch(step, 65, seed=5)
        assert X.shape == (65, 4) and y.shape == (65,)
        rows = {tuple(r) for r in np.column_stack([X, y])}
        assert rows <= train
        seen |= rows
        parts = [h.batch(step, 65, seed=5) for h in halves]
        assert [len(p[1]) for p in parts] == [33, 32]
        np.testing.assert_array_equal(X, np.concatenate([p[0] for p in parts]))
        # rank r only ever sees row groups g with g mod 2 == r (groups of 500 rows in file order)
        for r, (Xr, yr) in enumerate(parts):
            idx = df.index[np.isin(df["y"].to_numpy(), yr)]
            assert set((idx // 500) % 2) == {r}
    assert len(seen) > 300  # the buffer is refreshed: rows from many groups
    # stateless: the same step gives the same batch, whatever came before
    np.testing.assert_array_equal(src.batch(4, 65, seed=5)[0],
                                  ParquetSource(folder, "y", validation=0.2, test_fraction=0.1, world=2,
                                                buffer_rows=1000, refresh_every=3).batch(4, 65, seed=5)[0])
    assert not np.array_equal(src.batch(4, 65, seed=6)[0], src.batch(4, 65, seed=5)[0])


def test_sample_is_seeded_training_rows(dataset):
    folder, df = dataset
    src = ParquetSource(folder, "y")
    a, ya = src.sample(1200, seed=1)
    b, yb = src.sample(1200, seed=1)
    c, _ = src.sample(1200, seed=2)
    assert len(a) == 1200 and list(a.columns) == ["x1", "x2", "x3", "x4"] and ya.name == "y"
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    u = split_u(np.arange(N, dtype=np.uint64), 0)
    assert set(ya) <= set(df["y"].to_numpy()[u >= src.validation])


def test_forge_streams_without_reading_the_table(dataset, spec, monkeypatch, tmp_path):
    folder, df = dataset

    def refuse(*a, **k):
        raise AssertionError("the whole table was read")

    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pd, "read_parquet", refuse)
    kw = dict(rows=15, steps=60, eval_every=10, patience=100, lr=0.05, seed=3)
    make = lambda: ParquetSource(folder, "y", buffer_rows=1000, refresh_every=20)  # noqa: E731
    res = forge(make(), None, spec, **kw)
    assert res.history["val_rmse"].iloc[-1] < 0.8 * res.history["val_rmse"].iloc[0]
    assert list(res.data.columns) == ["x1", "x2", "x3", "x4", "y"] and len(res.data) == 15
    assert res.settings["source_rows"] == N and res.metrics["n_owner_rows"] == N
    # resume is exact for streams too (batches depend on the step number only)
    ckpt = tmp_path / "s.npz"

    def stop(p):
        if p.step == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        forge(make(), None, spec, **kw, checkpoint=ckpt, checkpoint_every=30, callback=stop)
    again = forge(make(), None, spec, **kw, checkpoint=ckpt, checkpoint_every=30, resume=True)
    pd.testing.assert_frame_equal(again.data, res.data, check_exact=True)
    with pytest.raises(ForgeError, match="y=None"):
        forge(make(), df["y"], spec, rows=5)
    with pytest.raises(ForgeError, match="distributed"):
        forge(df.drop(columns="y"), df["y"], spec, rows=5, distributed=True)


def test_source_errors_name_the_problem(dataset, tmp_path):
    folder, _ = dataset
    with pytest.raises(DataError, match="no such file"):
        ParquetSource(tmp_path / "nope", "y")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        ParquetSource(tmp_path / "empty", "y")
    with pytest.raises(DataError, match="target column 'z'"):
        ParquetSource(folder, "z")
    with pytest.raises(DataError, match="ranks"):
        ParquetSource(folder, "y", world=2, ranks=[2])
    # a text column (a new user's Parquet file with categories): named up front, not a float
    # conversion error from the first batch read
    df = friedman3(n=50, noise=0.1, seed=1).assign(cut=["Ideal", "Fair"] * 25)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "mixed.parquet")
    with pytest.raises(DataError, match=r"mixed.parquet: column 'cut' is (large_)?string, not a number"):
        ParquetSource(tmp_path / "mixed.parquet", "y")
    ParquetSource(tmp_path / "mixed.parquet", "y", features=["x1", "x2", "x3", "x4"])  # left out: fine
    # a dataset whose second file differs from the first: that file is named up front too, not a
    # bare "could not convert string to float" (or KeyError) from the first read of its rows
    for name, second in (("text", df.assign(x2=["a", "b"] * 25)), ("missing", df.drop(columns="x2"))):
        parts = tmp_path / f"parts-{name}"
        parts.mkdir()
        pq.write_table(pa.Table.from_pandas(df.drop(columns="cut"), preserve_index=False), parts / "a.parquet")
        pq.write_table(pa.Table.from_pandas(second.drop(columns="cut"), preserve_index=False), parts / "b.parquet")
        why = r"column 'x2' is (large_)?string, not a number" if name == "text" else "column 'x2' is missing"
        with pytest.raises(DataError, match=rf"parts-{name}/b.parquet: {why}"):
            ParquetSource(parts, "y")


def _streamed_contract(folder, tmp_path, monkeypatch, bundle: str, **forge) -> tuple[dict, object]:
    """A contract streaming ``folder`` (the owner's key under ``tmp_path``; reading the whole
    table fails the test) and its file."""
    import yaml

    monkeypatch.setenv("ENFO_OWNER_KEY", str(tmp_path / "keys" / "owner.key"))
    monkeypatch.delenv("ENFO_KEY_PASSPHRASE", raising=False)
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read_table")))
    contract = {
        "version": 1,
        "data": {"source": str(folder), "target": "y", "test_fraction": 0.2, "stream": True},
        "key": {"algorithm": "nu-method", "search": {"bandwidth": [1.0], "iterations": {"max": 50}}},
        "forge": {"rows": 20, "steps": 30, "rivalry": {"seconds": 0}, **forge},
        "output": {"bundle": bundle},
    }
    path = tmp_path / "key.yaml"
    path.write_text(yaml.safe_dump(contract))
    return contract, path


def test_owner_cli_forges_from_a_streamed_dataset(dataset, tmp_path, monkeypatch):
    import json

    import yaml
    from click.testing import CliRunner

    from owner_cli.main import cli

    folder, _ = dataset
    contract, path = _streamed_contract(folder, tmp_path, monkeypatch, "out/b.parquet")
    r = CliRunner().invoke(cli, ["forge", "--contract", str(path), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{"):])
    u = split_u(np.arange(N, dtype=np.uint64), 0)
    held = int((u < 0.2).sum())  # held out: min(1,000, half) outside rows, the rest test rows
    outside = min(1000, held // 2)
    assert summary["owner_rows"] == {"train": int((u >= 0.2 + 0.2).sum()), "held_out": held,
                                     "outside": outside, "test": held - outside}
    assert summary["test_rmse"]["forged"] < summary["test_rmse"]["sampled"]
    assert (tmp_path / "out" / "b.parquet").exists()
    contract["data"]["source"] = "builtin:friedman3"
    path.write_text(yaml.safe_dump(contract))
    # --force: the first run's bundle exists, and the point here is the data.stream refusal
    r = CliRunner().invoke(cli, ["forge", "--contract", str(path), "--force"])
    assert r.exit_code == 1 and "data.stream" in r.output


def test_row_groups_read_from_several_threads_at_once(tmp_path):
    """The prefetch thread and the caller read one file together; an unguarded pyarrow
    ParquetFile then loses read-cache entries ("ReadRangeCache did not find matching cache
    entry", seen once in CI) or crashes. Without the source's read lock this test failed,
    crashed (fatal error in pyarrow) or hung in each of five runs; with it, it passed five."""
    import threading

    rng = np.random.default_rng(0)
    table = pa.table({c: rng.random(60_000) for c in ("a", "b", "c", "d", "y")})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=300)
    src = ParquetSource(tmp_path / "t.parquet", "y")
    groups = src._groups
    expected = {i: table.slice(300 * i, 300).column("y").to_numpy() for i in range(len(groups))}
    errors = []

    def reader(seed):
        r = np.random.default_rng(seed)
        try:
            for _ in range(3000):
                i = int(r.integers(len(groups)))
                _, y, _ = src._read(groups[i])
                if not np.array_equal(y, expected[i]):
                    errors.append(f"group {i}: wrong rows")
        except Exception as e:  # noqa: BLE001 -- any failure of a read is the finding
            errors.append(repr(e))

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_evaluate_streams_a_streamed_contract_as_forge_does(dataset, tmp_path, monkeypatch):
    """One protocol for a streamed contract: `enfo-owner evaluate` used to read the table whole
    and split it by the permutation (the forge table said full 842.7, evaluate 612.8 on a public
    table, while noting "split as by enfo-owner forge"). It now streams as forge does: the same
    test rows, the same full reference (the training sample), the same sampled rows, so the
    bundle's signed figures are evaluate's."""
    import json

    from click.testing import CliRunner

    from enfo_sdk.bundle.verify import read_envelope_unverified
    from owner_cli.main import cli

    folder, _ = dataset
    _, path = _streamed_contract(folder, tmp_path, monkeypatch, "b.parquet")
    runner = CliRunner()
    r = runner.invoke(cli, ["forge", "--contract", str(path), "--quiet"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "eval"
    r = runner.invoke(cli, ["evaluate", "--contract", str(path), "--bundle", str(tmp_path / "b.parquet"),
                            "--out", str(out), "--sizes", "", "--json"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    ev = metrics["evaluation"]
    manifest, _ = read_envelope_unverified(tmp_path / "b.parquet")
    m, rows = manifest.metrics, manifest.rivalry.protocol.rows
    assert ev["full"]["key_rmse"] == pytest.approx(m["test_rmse_full"], rel=1e-9)
    assert ev["bundle"]["key_rmse"] == pytest.approx(m["test_rmse_forged"], rel=1e-9)
    assert ev["baselines"]["sampled"]["key_rmse"] == pytest.approx(m["test_rmse_sampled"], rel=1e-9)
    assert (ev["split"]["test"], ev["split"]["external"]) == (rows.test, rows.outside)
    u = split_u(np.arange(N, dtype=np.uint64), 0)
    assert ev["split"]["test"] + ev["split"]["external"] == int((u < 0.2).sum())  # the per-row hash
    assert metrics["meta"]["notes"][0].startswith("Owner rows streamed and split as by enfo-owner forge")
    assert not metrics["meta"]["warnings"]
    # without --bundle evaluate forges from the stream with forge's settings: the same rows
    r = runner.invoke(cli, ["evaluate", "--contract", str(path), "--out", str(tmp_path / "eval2"),
                            "--sizes", "", "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads((tmp_path / "eval2" / "metrics.json").read_text())["evaluation"]
    assert again["bundle"]["key_rmse"] == pytest.approx(m["test_rmse_forged"], rel=1e-9)
    assert again["full"]["key_rmse"] == pytest.approx(m["test_rmse_full"], rel=1e-9)


def test_a_sweep_of_a_streamed_contract_streams_as_forge_does(dataset, tmp_path, monkeypatch):
    """`evaluate --sweep` on a streamed contract streams as forge does: the swept value equal to
    the contract's gives the forge table's figures (it read the table whole and split it by the
    permutation before, noting "split as by enfo-owner forge")."""
    import json

    from click.testing import CliRunner

    from owner_cli.main import cli

    folder, _ = dataset
    _, path = _streamed_contract(folder, tmp_path, monkeypatch, "b.parquet", mode="rival", selection="validation")
    runner = CliRunner()
    made = runner.invoke(cli, ["forge", "--contract", str(path), "--json"])
    assert made.exit_code == 0, made.output
    forged = json.loads(made.output[made.output.index("{"):])
    swept = runner.invoke(cli, ["evaluate", "--contract", str(path), "--out", str(tmp_path / "s"), "--json",
                                "--sweep", "rival_weight=0,0.5"])
    assert swept.exit_code == 0, swept.output
    body = json.loads(swept.output[swept.output.index("{"):])
    assert body["key_rmse"]["full"] == pytest.approx(forged["test_rmse"]["full"], rel=1e-9)
    assert body["key_rmse"]["sampled"] == pytest.approx(forged["test_rmse"]["sampled"], rel=1e-9)
    assert body["results"][0]["key_rmse"] == pytest.approx(forged["test_rmse"]["forged"], rel=1e-9)
    assert body["split"]["test"] == forged["owner_rows"]["test"] and body["split"]["own"] == forged["owner_rows"]["outside"]
    assert body["results"][1]["key_rmse"] != body["results"][0]["key_rmse"]
    meta = json.loads((tmp_path / "s" / "sweep.json").read_text())["meta"]
    assert meta["notes"][0].startswith("Owner rows streamed and split as by enfo-owner forge")
