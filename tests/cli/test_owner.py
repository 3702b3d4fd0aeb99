"""enfo-owner keygen / forge / inspect on tiny settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from owner_cli.main import cli

from .conftest import assert_one_clean_error, tiny_contract, write_contract


def test_forge_prints_the_table_and_creates_the_default_key(runner, project, tmp_path):
    contract = write_contract(
        project, tiny_contract(output={"bundle": "out/b.parquet", "report": "out/report.json"})
    )
    result = runner.invoke(cli, ["forge", "--contract", str(contract)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for label in ("key trained on all 300 owner rows", "key trained on the 20 forged rows",
                  "key trained on 20 sampled real rows", "test RMSE", "rows", "time", "bundle",
                  "signer  SHA256:"):
        assert label in out, out
    assert str(project / "out" / "b.parquet") in out
    # no key was named and none existed: one is created at the default location, and said so
    default = tmp_path / "default-keys" / "owner.key"
    assert default.exists() and Path(f"{default}.pub").exists()
    assert f"created signing key {default}" in result.stderr
    assert f"{default}.pub" in result.stderr
    assert (project / "out" / "b.parquet").exists()
    report = json.loads((project / "out" / "report.json").read_text())
    assert report["rows"] == 20 and report["history"] and report["signer"]["created"] is True

    # second run: the bundle exists, so it is refused at once without --force (bundle untouched)
    before = (project / "out" / "b.parquet").read_bytes()
    refused = runner.invoke(cli, ["forge", "--contract", str(contract), "--json"])
    assert refused.exit_code == 1 and "output.bundle" in refused.output and "--force" in refused.output
    assert (project / "out" / "b.parquet").read_bytes() == before
    # with --force the key, which exists now, is reused, not recreated
    again = runner.invoke(cli, ["forge", "--contract", str(contract), "--json", "--force"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)  # --json: machine-readable output only
    assert summary["signer"]["created"] is False
    assert summary["signer"]["fingerprint"] == report["signer"]["fingerprint"]
    assert set(summary["test_rmse"]) == {"full", "forged", "sampled"}
    # one protocol (docs/metrics.md): half the 300 held-out rows are outside rows, half test rows
    assert summary["owner_rows"] == {"train": 300, "held_out": 300, "outside": 150, "test": 150}
    assert summary["rivalry"] is None  # forge.rivalry.seconds: 0


def test_forge_measures_rivalry_and_warns_below_the_target(runner, project):
    from enfo_sdk.data.builtin import friedman3
    from enfo_sdk.evaluate.rivalry import bootstrap_ratio

    forge_section = {"rows": 20, "steps": 30, "rivalry": {"seconds": 0.01, "target": 50.0}}
    contract = write_contract(project, tiny_contract(forge=forge_section))
    result = runner.invoke(cli, ["forge", "--contract", str(contract), "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)["rivalry"]
    # the budget is spent at once: the first attacker of each of the two threads runs, the
    # others are named as skipped
    assert list(r["attackers"]) == ["ridge", "knn"] and len(r["skipped"]) == 4
    best = min(r["attackers"], key=lambda k: r["attackers"][k]["rmse"])
    assert r["test_rows"] == 150 and r["outside_rows"] == 150 and r["forged_rows"] == 20
    ratio = r["ratio"]
    assert ratio["low"] <= ratio["value"] <= ratio["high"]
    assert r["best"] == best and ratio["value"] == pytest.approx(r["attackers"][best]["ratio"], rel=1e-12)
    assert r["below_target"] is True  # no attacker is 50x worse than the key
    table = runner.invoke(cli, ["forge", "--contract", str(contract), "--force"])
    assert table.exit_code == 0, table.output
    for line in ("best attacker / key", f"({best}; 2 attackers", "not run (time up): krr",
                 "intervals: 95% bootstrap over the 150 test rows",
                 f"WARNING: the best attacker ({best}) comes within", "below the target x50"):
        assert line in table.stdout, table.stdout
    # the bootstrap interval against an independent reading: a known ratio of 2 on every row
    y = np.linspace(0.0, 1.0, 40)
    point, low, high = bootstrap_ratio(y + 0.2, y + 0.1, y)
    assert point == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)


def test_the_rival_dial_small_runs_on_a_small_table_and_the_default_does_not(runner, project):
    """forge.rivalry.dial: small runs the dial where forging's validation split has fewer than 250
    rows (here 60) and attackers are on, with the small-table refit off; the default (auto,
    without max_key_cost) and dial: off do not, and the refit runs."""
    for rivalry, runs in (({"seconds": 0.01, "dial": "small"}, True), ({"seconds": 0.01}, False),
                          ({"seconds": 0.01, "dial": "off"}, False)):
        contract = write_contract(project, tiny_contract(
            forge={"rows": 20, "steps": 30, "rivalry": rivalry},
            output={"bundle": "out/b.parquet", "report": "out/r.json", "overwrite": True}))
        result = runner.invoke(cli, ["forge", "--contract", str(contract)])
        assert result.exit_code == 0, result.output
        dial = json.loads((project / "out" / "r.json").read_text())["dial"]
        assert (dial is not None) == runs and ("rival dial:" in result.stdout) == runs
        shown = runner.invoke(cli, ["inspect", str(project / "out" / "b.parquet"), "--json"])
        settings = json.loads(shown.stdout)["manifest"]["forging"]["settings"]
        assert settings.get("refit", False) is (not runs)  # recorded only when on
        if runs:
            assert dial["validation_rows"] == 60 and dial["max_key_cost"] == 0.03
            assert dial["stopped_at_target"] == (dial["base_ratio"] >= 1.2)


def test_forge_with_the_rival_dial_records_it_in_the_signed_settings(runner, project, tmp_path):
    """forge.rivalry.max_key_cost: the dial's line (target not met, said plainly), its record in
    the signed settings, targets inside the target's range, and the partner's exact rebuild
    (moved rows' rebuild: tests/test_dial.py)."""
    import pandas as pd

    from enfo_sdk.bundle import verify
    from enfo_sdk.signing import TrustStore, load_public_key
    from partner_cli.main import cli as partner

    forge_section = {"rows": 20, "steps": 30, "rivalry": {"seconds": 0.01, "target": 50.0, "max_key_cost": 0.05}}
    contract = write_contract(project, tiny_contract(forge=forge_section, output={
        "bundle": "out/b.parquet", "report": "out/r.json"}))
    result = runner.invoke(cli, ["forge", "--contract", str(contract)])
    assert result.exit_code == 0, result.output
    assert "rival dial: target x50 NOT met within the key-cost budget 5.0%: reached x" in result.stdout
    summary = json.loads((project / "out" / "r.json").read_text())
    dial = summary["dial"]
    assert dial["met"] is False and dial["validation_rows"] == 60  # 20% of the 300 training rows
    kinds = [c["kind"] for c in dial["candidates"]]
    assert kinds == ["base", "rival", "rival", "rival", "move"] and 0 < dial["move_max"] and dial["clipped"] is True
    # only candidates within the budget are scored by the attackers
    assert all((c["ratio"] is not None) == (max(c["key_cost"], c["settled_cost"]) <= 0.05) for c in dial["candidates"])
    pub = Path(os.environ["ENFO_OWNER_KEY"] + ".pub")
    store = TrustStore()
    store.add("owner", load_public_key(pub))
    bundle = verify(project / "out" / "b.parquet", store)  # probes reproduce: the partner's rebuild is exact
    settings = bundle.manifest.forging.settings
    assert settings["dial_move"] == dial["move"] and settings["dial_key_cost"] == dial["key_cost"]
    assert settings["dial_met"] is False and settings["dial_max_key_cost"] == 0.05
    assert settings["dial_kind"] == dial["kind"] and settings["dial_rival_weight"] == dial["rival_weight"]
    # the moved targets stay inside the target's range (the training rows' min and max)
    owner = pd.read_csv(project / "owner.csv")
    target = bundle.manifest.key.columns.target
    y = bundle.data["y"].to_numpy()
    assert target.min <= y.min() and y.max() <= target.max and target.max <= owner["y"].max()
    model = tmp_path / "model.parquet"
    trained = runner.invoke(partner, ["train", str(project / "out" / "b.parquet"), "--trust", str(pub),
                                      "--out", str(model)])
    assert trained.exit_code == 0, trained.output


def test_forge_quiet_prints_only_the_bundle_path(runner, forged):
    # the session's bundle exists: replacing it takes --force
    result = runner.invoke(cli, ["forge", "--contract", str(forged["contract"]), "--quiet", "--force"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(forged["bundle"])
    assert "Traceback" not in result.stderr and "encapsulate" not in result.stderr  # no bars


def test_forge_from_a_builtin_with_options_and_a_parquet_dir(runner, project):
    import pandas as pd

    contract = write_contract(project, tiny_contract(
        data={"source": "builtin:friedman3", "options": {"n": 400, "seed": 3}, "target": "y"},
    ))
    result = runner.invoke(cli, ["forge", "--contract", str(contract), "--json"])
    assert result.exit_code == 0, result.output
    # 80 held out: 40 outside rows and 40 test rows (one protocol, docs/metrics.md)
    assert json.loads(result.stdout)["owner_rows"] == {"train": 320, "held_out": 80, "outside": 40, "test": 40}

    parts = project / "parts"
    parts.mkdir()
    df = pd.read_csv(project / "owner.csv")
    df.iloc[:300].to_parquet(parts / "a.parquet")
    df.iloc[300:].to_parquet(parts / "b.parquet")
    contract = write_contract(project, tiny_contract(data={"source": "parts", "target": "y"}))
    result = runner.invoke(cli, ["forge", "--contract", str(contract), "--json", "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["owner_rows"]["train"] == 480


def test_keygen_writes_a_pair_and_refuses_to_overwrite(runner, tmp_path):
    target = tmp_path / "k" / "owner.key"
    result = runner.invoke(cli, ["keygen", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert target.exists() and Path(f"{target}.pub").read_text().startswith("ssh-ed25519 ")
    assert "fingerprint  SHA256:" in result.output
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(cli, ["keygen", "--out", str(target)])
    assert_one_clean_error(again, str(target), "already exists")


def test_keygen_default_location_from_env(runner, tmp_path):
    result = runner.invoke(cli, ["keygen"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "default-keys" / "owner.key").exists()


def test_keygen_encrypts_with_the_passphrase_env(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("ENFO_KEY_PASSPHRASE", "correct horse")
    target = tmp_path / "enc.key"
    assert runner.invoke(cli, ["keygen", "--out", str(target)]).exit_code == 0
    assert "ENCRYPTED PRIVATE KEY" in target.read_text()


def test_inspect_text_and_json(runner, forged):
    result = runner.invoke(cli, ["inspect", str(forged["bundle"])])
    assert result.exit_code == 0, result.output
    assert "NOT verified" in result.output
    assert "algorithm: nu-method" in result.output and "name: acme-data" in result.output
    result = runner.invoke(cli, ["inspect", str(forged["bundle"]), "--json"])
    body = json.loads(result.stdout)
    assert body["verified"] is False and body["keyid"].startswith("SHA256:")
    assert body["manifest"]["task"]["features"] == ["x1", "x2", "x3", "x4"]
    assert body["manifest"]["rows"] == 20


def test_inspect_a_file_that_is_not_a_bundle(runner, forged):
    assert_one_clean_error(runner.invoke(cli, ["inspect", str(forged["contract"])]), "key.yaml")
    assert_one_clean_error(runner.invoke(cli, ["inspect", str(forged["rows"]) + ".nope"]), codes=(2,))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_ctrl_c_during_forging_leaves_no_bundle(project, tmp_path):
    contract = write_contract(project, tiny_contract(forge={
        "rows": 20, "steps": 1_000_000, "patience": 1_000_000, "eval_every": 5,
    }))
    exe = Path(sys.executable).parent / "enfo-owner"
    assert exe.exists(), f"console script not installed next to {sys.executable}"
    env = {**os.environ, "ENFO_OWNER_KEY": str(tmp_path / "default-keys" / "owner.key")}
    proc = subprocess.Popen(
        [str(exe), "forge", "--contract", str(contract)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, text=True,
    )
    # wait until forging runs (the progress label goes to stderr), then interrupt
    deadline = time.monotonic() + 120
    seen = ""
    while "forge" not in seen.split("encapsulate", 1)[-1] and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, seen + err)
    assert "interrupted" in err and "Traceback" not in err
    assert _files(project / "out") == []  # no bundle, no temporary file
    assert not (tmp_path / "default-keys" / "owner.key").exists()


def test_interrupt_while_writing_leaves_no_partial_bundle(runner, project, monkeypatch):
    from enfo_sdk import fs as _atomic

    keys = project / "keys"
    keys.mkdir()
    assert runner.invoke(cli, ["keygen", "--out", str(keys / "owner.key")]).exit_code == 0
    contract = write_contract(project, tiny_contract(signing={"key": "keys/owner.key"}))

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(_atomic.os, "fsync", interrupted)
    result = runner.invoke(cli, ["forge", "--contract", str(contract), "--quiet"])
    assert result.exit_code == 130, result.output
    out_dir = project / "out"
    assert _files(out_dir) == []
