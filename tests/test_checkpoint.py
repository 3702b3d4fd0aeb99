"""Checkpoints, resume and starting from a previous bundle (forge --resume / --from)."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.checkpoint import load_checkpoint
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.errors import BundleError, ForgeError
from enfo_sdk.forge import forge, rows_from_bundle

SETTINGS = dict(rows=12, steps=60, eval_every=5, patience=100, lr=0.05, seed=4)


@pytest.fixture(scope="module")
def owner():
    df = friedman3(n=600, noise=0.1, seed=5)
    X, y = df.drop(columns="y"), df["y"]
    spec = encapsulate(X, y, search={"bandwidth": [1.0], "iterations": {"max": 100}})
    return X, y, spec


@pytest.fixture(scope="module")
def reference(owner):
    X, y, spec = owner
    return forge(X, y, spec, **SETTINGS)


class Stop(Exception):
    pass


def interrupt_at(step):
    def cb(p):
        if p.step == step:
            raise Stop
    return cb


def same_run(a, b):
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    pd.testing.assert_frame_equal(a.history.drop(columns="elapsed"), b.history.drop(columns="elapsed"),
                                  check_exact=True)
    for k in ("best_val_rmse", "best_step", "steps_run", "stopped_early"):
        assert a.metrics[k] == b.metrics[k], k


def test_resume_gives_exactly_the_uninterrupted_rows(owner, reference, tmp_path):
    X, y, spec = owner
    ckpt = tmp_path / "run.ckpt.npz"
    with pytest.raises(Stop):
        forge(X, y, spec, **SETTINGS, checkpoint=ckpt, checkpoint_every=20, callback=interrupt_at(45))
    _, meta = load_checkpoint(ckpt)
    assert meta["step"] == 40 and not meta["finished"]
    seen = []
    resumed = forge(X, y, spec, **SETTINGS, checkpoint=ckpt, checkpoint_every=20, resume=True,
                    callback=lambda p: seen.append(p.step))
    assert seen[0] == 45  # it continued from step 40, it did not start again
    same_run(resumed, reference)
    # the final checkpoint is marked finished; resuming again runs nothing and returns the same rows
    seen.clear()
    again = forge(X, y, spec, **SETTINGS, checkpoint=ckpt, checkpoint_every=20, resume=True,
                  callback=lambda p: seen.append(p.step))
    assert seen == []
    same_run(again, reference)


def test_resume_after_an_early_stop_mid_period(owner, tmp_path):
    """Adam state, generator and the stale counter all survive a checkpoint off the eval grid."""
    X, y, spec = owner
    kw = dict(rows=10, steps=90, eval_every=4, patience=100, lr=0.3, seed=2)
    ref = forge(X, y, spec, **kw)
    ckpt = tmp_path / "c.npz"
    with pytest.raises(Stop):
        forge(X, y, spec, **kw, checkpoint=ckpt, checkpoint_every=7, callback=interrupt_at(52))
    assert load_checkpoint(ckpt)[1]["step"] == 49
    same_run(forge(X, y, spec, **kw, checkpoint=ckpt, checkpoint_every=7, resume=True), ref)


def test_missing_checkpoint_starts_fresh_and_other_runs_are_refused(owner, reference, tmp_path):
    X, y, spec = owner
    ckpt = tmp_path / "sub" / "fresh.npz"
    res = forge(X, y, spec, **SETTINGS, checkpoint=ckpt, resume=True)
    same_run(res, reference)
    assert ckpt.exists()
    with pytest.raises(ForgeError, match="another run"):
        forge(X, y, spec, **{**SETTINGS, "lr": 0.01}, checkpoint=ckpt, resume=True)
    with pytest.raises(ForgeError, match="another run"):
        forge(X.iloc[1:], y.iloc[1:], spec, **SETTINGS, checkpoint=ckpt, resume=True)
    with pytest.raises(ForgeError, match="needs checkpoint"):
        forge(X, y, spec, **SETTINGS, resume=True)


def test_checkpoint_file_is_plain_npz_without_pickle(owner, tmp_path):
    X, y, spec = owner
    ckpt = tmp_path / "c.npz"
    forge(X, y, spec, rows=8, steps=10, eval_every=5, checkpoint=ckpt, checkpoint_every=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary file left
    with np.load(ckpt, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
        assert z["rows"].shape == (8, 5) and z["adam_exp_avg"].shape == (8, 5)
    with zipfile.ZipFile(ckpt) as zf:
        meta = json.loads(np.load(zf.open("meta.npy"), allow_pickle=False).tobytes())
    assert meta["format"] == "enfo-forge-checkpoint-v1" and meta["step"] == 10 and meta["finished"]
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ForgeError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.npz")


def test_init_rows_start_where_the_previous_rows_were(owner, reference):
    X, y, spec = owner
    # the previous rows as kept by the selection rule (no refit: a refit's rows have no
    # validation figure of their own, docs/keys.md "Small tables")
    kept = forge(X, y, spec, **SETTINGS, refit=False)
    cont = forge(X, y, spec, **{**SETTINGS, "steps": 5}, init_rows=kept.data)
    # same validation split and seed: step 0 scores the previous best rows
    assert cont.history["val_rmse"].iloc[0] == pytest.approx(kept.metrics["best_val_rmse"], rel=1e-9)
    assert cont.settings["init"] == "rows"
    cold = forge(X, y, spec, **{**SETTINGS, "steps": 5})
    assert cold.history["val_rmse"].iloc[0] > 1.05 * kept.metrics["best_val_rmse"]
    with pytest.raises(ForgeError, match="has 12 rows but rows=13"):
        forge(X, y, spec, **{**SETTINGS, "rows": 13}, init_rows=kept.data)
    with pytest.raises(ForgeError, match="lacks column"):
        forge(X, y, spec, **SETTINGS, init_rows=reference.data.drop(columns="x2"))


def test_rows_from_bundle_verifies_with_the_owners_key(reference, tmp_path):
    from enfo_sdk import signing
    from enfo_sdk.bundle import write_bundle

    key = signing.generate_private_key()
    path = tmp_path / "old.parquet"
    write_bundle(path, reference, signing_key=key, owner_name="acme")
    data, spec, manifest = rows_from_bundle(path, key.public_key())
    np.testing.assert_array_equal(data.to_numpy(), reference.data.to_numpy())
    assert spec == reference.spec and manifest.rows == 12
    with pytest.raises(BundleError):
        rows_from_bundle(path, signing.generate_private_key().public_key())


# -- the owner CLI: forge --resume and forge --from ------------------------------------------------
def _contract(folder, source="owner.csv", rows=20, **forge_extra):
    import yaml

    body = {
        "version": 1,
        "data": {"source": source, "target": "y", "test_fraction": 0.5},
        "key": {"algorithm": "nu-method", "search": {"bandwidth": [1.0], "iterations": {"max": 50}}},
        "forge": {"rows": rows, "steps": 30, "eval_every": 5, "checkpoint_every": 10, **forge_extra},
        "output": {"bundle": "out/owner.bundle.parquet"},
        "signing": {"key": "keys/owner.key", "owner": "acme"},
    }
    path = folder / f"key-{source.split('.')[0]}-{rows}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.fixture
def owner_project(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from owner_cli.main import cli

    monkeypatch.setenv("ENFO_OWNER_KEY", str(tmp_path / "default" / "owner.key"))
    monkeypatch.delenv("ENFO_KEY_PASSPHRASE", raising=False)
    friedman3(n=600, seed=0).to_csv(tmp_path / "owner.csv", index=False)
    friedman3(n=600, seed=1).to_csv(tmp_path / "new.csv", index=False)
    runner = CliRunner()
    r = runner.invoke(cli, ["keygen", "--out", str(tmp_path / "keys" / "owner.key"), "--name", "acme"])
    assert r.exit_code == 0, r.output
    return tmp_path, runner, cli


def _bundle_rows(path, public):
    from enfo_sdk import signing

    data, spec, manifest = rows_from_bundle(path, signing.load_public_key(public))
    return data, spec, manifest


def test_cli_resume_writes_a_checkpoint_and_reuses_it(owner_project):
    folder, runner, cli = owner_project
    contract = _contract(folder)
    r = runner.invoke(cli, ["forge", "--contract", str(contract), "--resume", "--json"])
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)
    ckpt = folder / "out" / "owner.bundle.parquet.checkpoint.npz"
    assert load_checkpoint(ckpt)[1]["finished"]
    rows1 = _bundle_rows(folder / "out" / "owner.bundle.parquet", folder / "keys" / "owner.key.pub")[0]
    # the finished run's bundle exists: replacing it takes --force (the checkpoint may exist)
    r = runner.invoke(cli, ["forge", "--contract", str(contract), "--resume", "--json"])
    assert r.exit_code == 1 and "output.bundle" in r.output and "--force" in r.output, r.output
    r = runner.invoke(cli, ["forge", "--contract", str(contract), "--resume", "--json", "--force"])
    assert r.exit_code == 0, r.output
    second = json.loads(r.output)
    rows2 = _bundle_rows(folder / "out" / "owner.bundle.parquet", folder / "keys" / "owner.key.pub")[0]
    pd.testing.assert_frame_equal(rows1, rows2, check_exact=True)
    assert first["forge"] == second["forge"] and second["seconds"]["forge"] < first["seconds"]["forge"]


def test_cli_from_updates_the_previous_bundle(owner_project):
    folder, runner, cli = owner_project
    r = runner.invoke(cli, ["forge", "--contract", str(_contract(folder)), "--quiet"])
    assert r.exit_code == 0, r.output
    old = folder / "prev.parquet"
    (folder / "out" / "owner.bundle.parquet").rename(old)
    pub = folder / "keys" / "owner.key.pub"
    old_rows, old_spec, _ = _bundle_rows(old, pub)
    upd = _contract(folder, source="new.csv")
    r = runner.invoke(cli, ["forge", "--contract", str(upd), "--from", str(old), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    new_rows, new_spec, manifest = _bundle_rows(folder / "out" / "owner.bundle.parquet", pub)
    assert new_spec == old_spec  # the update keeps the key (no new encapsulation)
    assert manifest.forging.settings["init"] == "rows"
    assert summary["seconds"]["encapsulate"] < 0.5
    assert not np.array_equal(new_rows.to_numpy(), old_rows.to_numpy())
    # explicit --trust works too; a row-count mismatch and an untrusted bundle are refused
    r = runner.invoke(cli, ["forge", "--contract", str(upd), "--from", str(old), "--trust", str(pub), "-q",
                            "--force"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["forge", "--contract", str(_contract(folder, source="new.csv", rows=21)),
                            "--from", str(old), "--force"])
    assert r.exit_code == 1 and "forge.rows" in r.output and "holds 20 rows" in r.output
    r = runner.invoke(cli, ["keygen", "--out", str(folder / "other" / "k.key")])
    r = runner.invoke(cli, ["forge", "--contract", str(upd), "--from", str(old), "--force",
                            "--trust", str(folder / "other" / "k.key.pub")])
    assert r.exit_code == 1 and "Traceback" not in r.output and "trust" in r.output.lower(), r.output


def test_updates_default_to_a_quarter_of_the_fresh_learning_rate(owner, reference):
    from enfo_sdk.forge import UPDATE_LR_FACTOR, default_lr
    from enfo_sdk.forging.settings import SMALL_TABLE_LR_FACTOR

    X, y, spec = owner
    kw = {k: v for k, v in SETTINGS.items() if k != "lr"}
    fresh = forge(X, y, spec, **{**kw, "steps": 2})
    update = forge(X, y, spec, **{**kw, "steps": 2}, init_rows=reference.data)
    # this owner table is small (a validation split under 250 rows): a fresh run has the
    # small-table rate, an update its own factor (the two factors do not multiply)
    assert fresh.settings["lr"] == pytest.approx(SMALL_TABLE_LR_FACTOR * default_lr(spec))
    assert update.settings["lr"] == pytest.approx(UPDATE_LR_FACTOR * default_lr(spec))
    assert UPDATE_LR_FACTOR < 1
    # an explicit lr is the caller's, update or not
    assert forge(X, y, spec, **{**SETTINGS, "steps": 2}, init_rows=reference.data).settings["lr"] == 0.05


def noisy_targets(ctx):
    """A custom term that draws from the run's generator (so the generator state matters)."""
    import torch

    pick = torch.randint(0, ctx.t.shape[0], (4,), generator=ctx.generator)
    return 0.3 * (ctx.t[pick] ** 2).mean()


def test_resume_with_a_penalty_equals_the_uninterrupted_run_and_binds_the_penalty(owner, tmp_path):
    X, y, spec = owner
    ref = forge(X, y, spec, **SETTINGS, penalty=noisy_targets)
    ckpt = tmp_path / "p.npz"
    with pytest.raises(Stop):
        forge(X, y, spec, **SETTINGS, penalty=noisy_targets, checkpoint=ckpt, checkpoint_every=20,
              callback=interrupt_at(45))
    same_run(forge(X, y, spec, **SETTINGS, penalty=noisy_targets, checkpoint=ckpt, checkpoint_every=20,
                   resume=True), ref)
    with pytest.raises(ForgeError, match="another run"):  # same settings without the penalty
        forge(X, y, spec, **SETTINGS, checkpoint=ckpt, resume=True)


def weighted_targets(w):
    def term(ctx):
        return w * (ctx.t ** 2).mean()
    return term


def test_a_checkpoint_of_a_penalty_at_another_weight_is_refused(owner, tmp_path):
    from enfo_sdk.forge import penalty_name

    X, y, spec = owner
    assert penalty_name(weighted_targets(0.5)).endswith("term(w=0.5)")
    ckpt = tmp_path / "w.npz"
    forge(X, y, spec, **SETTINGS, penalty=weighted_targets(0.5), checkpoint=ckpt)
    with pytest.raises(ForgeError, match="another run"):
        forge(X, y, spec, **SETTINGS, penalty=weighted_targets(0.1), checkpoint=ckpt, resume=True)
    # the same weight resumes (the finished run returns its rows)
    forge(X, y, spec, **SETTINGS, penalty=weighted_targets(0.5), checkpoint=ckpt, resume=True)
