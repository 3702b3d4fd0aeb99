"""Issue 16, item 2: unusual inputs end with one line naming the user's path, key or column --
never a traceback, never a hang -- and the files that existed before are byte-identical after.

Each case of the issue is reproduced here as the user met it, through the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from .conftest import assert_one_clean_error, owner_table, tiny_contract, write_contract
from .test_output_safety import snapshot

ROOT = Path(__file__).resolve().parents[2]


def invoke_within(seconds: float, runner, app, args):
    """``runner.invoke`` that fails the test instead of hanging (a FIFO would block forever)."""
    box: dict = {}
    worker = threading.Thread(target=lambda: box.update(result=runner.invoke(app, args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{args} still running after {seconds} s (blocked on a FIFO?)"
    return box["result"]


def forge(runner, contract, *extra):
    return invoke_within(60, runner, owner, ["forge", "--contract", str(contract), "--quiet", *extra])


def refused(result, folder: Path, before: dict, *needles: str) -> str:
    out = assert_one_clean_error(result, *needles)
    assert snapshot(folder) == before
    return out


# -- FIFOs and devices are refused at once, never opened ------------------------------------------
def test_fifo_as_contract_data_source_and_trust_file(runner, project, forged, tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    before = snapshot(project)
    refused(forge(runner, fifo), project, before, str(fifo), "FIFO")

    os.mkfifo(project / "owner-pipe.csv")
    contract = write_contract(project, tiny_contract(data={"source": "owner-pipe.csv", "target": "y"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "data.source", "owner-pipe.csv", "FIFO")

    args = ["verify", str(forged["bundle"]), "--trust", str(fifo)]
    refused(invoke_within(30, runner, partner, args), project, before, str(fifo), "FIFO")


def test_fifo_and_device_as_bundle_model_and_input(runner, forged, tmp_path):
    fifo = tmp_path / "b.parquet"
    os.mkfifo(fifo)
    trust = ["--trust", str(forged["public"])]
    for args, needle in (
        (["verify", str(fifo), *trust], "FIFO"),
        (["verify", "/dev/zero", *trust], "character device"),   # read 2 GiB before refusing, once
        (["train", "/dev/zero", *trust, "--out", str(tmp_path / "m.parquet")], "character device"),
        (["predict", str(fifo), "--input", str(forged["rows"]), "--out", str(tmp_path / "p.csv")], "FIFO"),
    ):
        out = assert_one_clean_error(invoke_within(30, runner, partner, args), needle)
        assert args[1] in out
    model = tmp_path / "model.parquet"
    assert invoke_within(60, runner, partner, ["train", str(forged["bundle"]), *trust, "--out", str(model)]).exit_code == 0
    args = ["predict", str(model), "--input", str(fifo), "--out", str(tmp_path / "p.csv")]
    assert_one_clean_error(invoke_within(30, runner, partner, args), str(fifo), "FIFO")
    out = assert_one_clean_error(invoke_within(30, runner, owner, ["inspect", "/dev/zero"]), "/dev/zero")
    assert "character device" in out
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "m.parquet").exists()


# -- every numeric setting has a sane range: refused at its line, before any work --------------------
@pytest.mark.parametrize("section, value, key, needle", [
    ("key", {"algorithm": "nu-method", "search": {"bandwidth": [0]}}, "key.search", "bandwidth"),
    ("key", {"algorithm": "nu-method", "search": {"bandwidth": [1.0e-300]}}, "key.search", "bandwidth"),
    ("key", {"algorithm": "nu-method", "search": {"bandwidth": [1.0], "iterations": {"max": 10**12}}},
     "key.search", "iterations"),
    ("key", {"algorithm": "nu-method", "search": {"bandwidth": [1.0], "iterations": 2.5}}, "key.search",
     "whole number"),
    ("forge", {"rows": 20, "lr": float("inf")}, "forge.lr", "finite"),
    ("forge", {"rows": 20, "seed": 2**32}, "forge.seed", "4294967295"),
    ("partner", {"name": "beta", "expires_in_days": 10**12}, "partner.expires_in_days", "36500"),
    ("data", {"source": "builtin:friedman3", "target": "y", "options": {"n": 10**10}}, "data.options", "n must"),
])
def test_out_of_range_settings_are_refused_at_their_line(runner, project, section, value, key, needle):
    contract = write_contract(project, tiny_contract(**{section: value}))
    before = snapshot(project)
    out = refused(forge(runner, contract), project, before, f"{contract}:", key, needle)
    assert "Traceback" not in out


def test_a_float_without_a_dot_is_a_number(runner, project):
    """``1e308`` is a float in YAML 1.2 and to every reader; PyYAML alone made it a string."""
    text = (project / "key.yaml")
    write_contract(project, tiny_contract(forge={"rows": 20, "lr": 1.0}))
    text.write_text(text.read_text().replace("lr: 1.0", "lr: 1e308"))
    out = refused(forge(runner, text), project, snapshot(project), "forge.lr")
    assert "less than or equal to 100" in out and "string" not in out


# -- the owner's table ------------------------------------------------------------------------------
def _write_csv(project: Path, header: str) -> None:
    body = owner_table().to_csv(index=False, header=False)
    (project / "owner.csv").write_text(header + "\n" + body)


@pytest.mark.parametrize("header, needle", [
    ("x1,x2,x2,x4,y", "duplicate column name(s) 'x2'"),   # pandas renamed the second to x2.1
    ("x1,,x3,x4,y", "column 2 (of 5) has an empty name"),  # pandas named it 'Unnamed: 1'
])
def test_duplicate_or_empty_csv_headers_are_refused(runner, project, header, needle):
    _write_csv(project, header)
    contract = write_contract(project, tiny_contract())
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "owner.csv", needle)


def test_duplicate_parquet_column_names_are_refused(runner, project):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = owner_table()
    table = pa.table([df[c].to_numpy() for c in df.columns], names=["x1", "x2", "x1", "x4", "y"])
    pq.write_table(table, project / "owner.parquet")
    contract = write_contract(project, tiny_contract(data={"source": "owner.parquet", "target": "y"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "owner.parquet", "'x1'")


def test_integers_beyond_float64_precision_are_refused(runner, project):
    df = owner_table()
    big = np.int64(2**62)
    df["count"] = (big + np.arange(len(df)) % 7).astype(np.int64)  # 7 values; 2 distinct as float64
    assert len(np.unique(df["count"].astype(np.float64))) < 7
    df.to_csv(project / "owner.csv", index=False)
    contract = write_contract(project, tiny_contract())
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "owner.csv", "'count'", "2^53")


def test_a_constant_target_is_refused(runner, project):
    df = owner_table().assign(y=3.5)
    df.to_csv(project / "owner.csv", index=False)
    contract = write_contract(project, tiny_contract())
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "owner.csv", "'y'", "constant", "data.target")


# -- untrusted JSON is bounded ----------------------------------------------------------------------
def test_a_deeply_nested_envelope_is_refused_by_verify_and_inspect(runner, forged, tmp_path):
    from enfo_sdk.bundle import ENVELOPE_KEY
    from enfo_sdk.bundle.write import encode_parquet

    deep = b"[" * 100_000 + b"]" * 100_000
    bomb = tmp_path / "deep.parquet"
    bomb.write_bytes(encode_parquet(["y"], {"y": np.zeros(3)}, {ENVELOPE_KEY: deep}))
    for app, args in ((partner, ["verify", str(bomb), "--trust", str(forged["public"])]),
                      (owner, ["inspect", str(bomb)])):
        out = assert_one_clean_error(invoke_within(30, runner, app, args), str(bomb))
        assert "RecursionError" not in out


# -- private keys ------------------------------------------------------------------------------------
def test_a_private_key_readable_by_others_is_refused_unless_allowed(runner, project, monkeypatch):
    keys = project / "keys"
    assert runner.invoke(owner, ["keygen", "--out", str(keys / "owner.key")]).exit_code == 0
    os.chmod(keys / "owner.key", 0o644)
    contract = write_contract(project, tiny_contract(signing={"key": "keys/owner.key"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "signing.key", str(keys / "owner.key"), "0644",
            "chmod 600")
    monkeypatch.setenv("ENFO_ALLOW_OPEN_KEY", "1")
    assert forge(runner, contract).exit_code == 0


# -- Ctrl-C at any moment -----------------------------------------------------------------------------
@pytest.mark.parametrize("package", ["owner_cli", "partner_cli"])
def test_ctrl_c_during_the_imports_gives_one_line_and_130(package):
    """The console script's entry point; the interrupt arrives while click is being imported."""
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'click':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        f"import {package}\n"
        f"{package}.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip() == "interrupted"


def test_a_reader_closing_the_pipe_ends_the_command_quietly(forged):
    """``enfo-owner inspect B | head``: the reader has gone before the command writes (closed at
    once, so the first write meets the closed pipe every time): no 'Broken pipe' error, no
    traceback, exit 141 as a Unix tool killed by SIGPIPE reports."""
    code = "import sys, owner_cli; sys.argv = ['enfo-owner', 'inspect', sys.argv[1]]; owner_cli.main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(forged["bundle"])], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == "", err


def test_console_scripts_point_at_the_guarded_entry_points():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"enfo-owner": "owner_cli:main", "enfo-partner": "partner_cli:main"}


# -- memory stays within a stated budget --------------------------------------------------------------
def test_the_full_reference_fits_a_stated_sample_of_a_large_table(runner, project, monkeypatch):
    """A 2.55 M-row table asked 30 TiB for the full-data reference after forging; above
    FULL_REFERENCE_MAX_ROWS the reference trains on a seeded sample, and says so."""
    from enfo_sdk.workflows import protocol

    monkeypatch.setattr(protocol, "FULL_REFERENCE_MAX_ROWS", 100)
    contract = write_contract(project, tiny_contract())
    result = invoke_within(120, runner, owner, ["forge", "--contract", str(contract), "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: the 'full' reference is the key trained on 100 of the 300 training rows" in result.stderr


def test_evaluate_refuses_a_decompression_bomb_before_decoding(runner, forged, tmp_path):
    """A signed manifest of 20 rows over 400,000 compressed rows: refused from the footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from enfo_sdk.bundle import ENVELOPE_KEY

    envelope = pq.read_metadata(forged["bundle"]).metadata[ENVELOPE_KEY.encode()]
    names = pq.read_schema(forged["bundle"]).names
    n = 400_000
    table = pa.table({c: np.zeros(n) for c in names})
    bomb = tmp_path / "bomb.parquet"
    with pq.ParquetWriter(bomb, table.schema, store_schema=False, compression="zstd") as w:
        w.write_table(table)
        w.add_key_value_metadata({ENVELOPE_KEY: envelope.decode()})
    assert bomb.stat().st_size < 200_000  # small on disk, 16 MB decoded
    before = snapshot(tmp_path)
    result = invoke_within(60, runner, owner, ["evaluate", "--contract", str(forged["contract"]),
                                               "--bundle", str(bomb), "--out", str(tmp_path / "r")])
    refused(result, tmp_path, before, str(bomb), "400,000 rows", "refused before decoding")


def test_a_public_key_file_with_a_utf8_bom_is_read(runner, forged, tmp_path):
    """Editors on some systems save a byte-order mark; it is not part of the key line."""
    pub = tmp_path / "owner.pub"
    pub.write_bytes(b"\xef\xbb\xbf" + forged["public"].read_bytes())
    result = invoke_within(60, runner, partner, ["verify", str(forged["bundle"]), "--trust", str(pub)])
    assert result.exit_code == 0, result.output
    assert "verified: signed by" in result.output
