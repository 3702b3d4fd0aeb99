"""Issue 16, item 1: no run loses a user's file. Every unsafe output is refused before any work,
with one error line naming the user's path, and every file that existed before is byte-identical
after (enfo_sdk.outputs, used by forge, train and predict)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from .conftest import assert_one_clean_error, tiny_contract, write_contract


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (links not followed) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def refused(result, folder: Path, before: dict[str, bytes], *needles: str) -> str:
    out = assert_one_clean_error(result, *needles, codes=(1,))
    assert snapshot(folder) == before, "a file changed or appeared"
    assert ".tmp" not in out  # the user's path, never a temporary file
    return out


def forge(runner, contract, *extra):
    return runner.invoke(owner, ["forge", "--contract", str(contract), "--quiet", *extra])


# -- enfo-owner forge ---------------------------------------------------------------------------
@pytest.mark.parametrize("output, other", [
    ({"bundle": "owner.csv"}, "data.source"),                                # the data becomes a bundle
    ({"bundle": "out/b.parquet", "report": "owner.csv"}, "data.source"),     # the report over the data
    ({"bundle": "out/b.parquet", "report": "out/b.parquet"}, "output.bundle"),  # report over bundle
    ({"bundle": "out/b.parquet", "checkpoint": "owner.csv"}, "data.source"),
    ({"bundle": "out/b.parquet", "checkpoint": "out/./b.parquet"}, "output.bundle"),
    ({"bundle": "key.yaml"}, "the contract"),
    ({"bundle": "keys/owner.key"}, "signing.key"),
])
def test_forge_refuses_an_output_that_is_an_input_or_another_output(runner, project, output, other):
    keys = project / "keys"
    assert runner.invoke(owner, ["keygen", "--out", str(keys / "owner.key")]).exit_code == 0
    contract = write_contract(project, tiny_contract(output=output, signing={"key": "keys/owner.key"}))
    before = snapshot(project)
    out = refused(forge(runner, contract), project, before, str(contract), other, "same file")
    assert "output." in out


def test_forge_refuses_a_hard_link_to_the_data(runner, project):
    os.link(project / "owner.csv", project / "alias.csv")
    contract = write_contract(project, tiny_contract(output={"bundle": "alias.csv"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "output.bundle", "alias.csv", "data.source")


def test_forge_refuses_an_output_inside_a_parquet_data_folder(runner, project):
    parts = project / "parts"
    parts.mkdir()
    pd.read_csv(project / "owner.csv").to_parquet(parts / "a.parquet")
    contract = write_contract(project, tiny_contract(
        data={"source": "parts", "target": "y"}, output={"bundle": "parts/b.parquet"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "output.bundle", "inside", "data.source")


def test_forge_refuses_to_write_through_a_symlink(runner, project, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"do not touch")
    (project / "out").mkdir()
    (project / "out" / "b.parquet").symlink_to(precious)
    contract = write_contract(project, tiny_contract(output={"bundle": "out/b.parquet"}))
    before = snapshot(project)
    refused(forge(runner, contract, "--force"), project, before, "output.bundle", "symbolic link")
    assert precious.read_bytes() == b"do not touch"
    assert (project / "out" / "b.parquet").is_symlink()


def test_forge_refuses_a_fifo_or_a_folder_as_output(runner, project):
    os.mkfifo(project / "pipe")
    (project / "folder.parquet").mkdir()
    for target, kind in (("pipe", "FIFO"), ("folder.parquet", "directory")):
        contract = write_contract(project, tiny_contract(output={"bundle": target}))
        before = snapshot(project)
        refused(forge(runner, contract, "--force"), project, before, target, kind)
    assert Path(project / "pipe").is_fifo()


def test_forge_refuses_an_output_under_a_file(runner, project):
    contract = write_contract(project, tiny_contract(output={"bundle": "owner.csv/b.parquet"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "output.bundle", "not a folder")


def test_forge_refuses_an_existing_report_before_any_work(runner, project):
    (project / "out").mkdir()
    (project / "out" / "report.json").write_text("mine\n")
    contract = write_contract(project, tiny_contract(
        output={"bundle": "out/b.parquet", "report": "out/report.json"}))
    before = snapshot(project)
    refused(forge(runner, contract), project, before, "output.report", "already exists", "--force")


def test_forge_overwrite_in_the_contract_replaces_bundle_and_report_together(runner, project):
    (project / "out").mkdir()
    (project / "out" / "report.json").write_text("old\n")
    (project / "out" / "b.parquet").write_text("old\n")
    contract = write_contract(project, tiny_contract(
        output={"bundle": "out/b.parquet", "report": "out/report.json", "overwrite": True}))
    assert forge(runner, contract).exit_code == 0
    assert (project / "out" / "b.parquet").read_bytes()[:4] == b"PAR1"
    assert (project / "out" / "report.json").read_text().startswith("{")
    assert sorted(p.name for p in (project / "out").iterdir()) == ["b.parquet", "report.json"]


# -- enfo-partner train and predict ---------------------------------------------------------------
def _train(runner, forged, out, *extra):
    return runner.invoke(partner, ["train", str(forged["bundle"]), "--trust", str(forged["public"]),
                                   "--out", str(out), *extra])


def test_train_refuses_the_bundle_or_the_trust_file_as_out(runner, forged):
    folder = forged["folder"]
    before = snapshot(folder)
    refused(_train(runner, forged, forged["bundle"]), folder, before, "--out", "BUNDLE", "same file")
    refused(_train(runner, forged, forged["public"]), folder, before, "--out", "--trust", "same file")


def test_train_refuses_an_existing_model_unless_forced(runner, forged, tmp_path):
    model = tmp_path / "model.parquet"
    model.write_bytes(b"someone's file")
    before = snapshot(tmp_path)
    refused(_train(runner, forged, model), tmp_path, before, str(model), "already exists", "--force")
    assert _train(runner, forged, model, "--force").exit_code == 0
    assert model.read_bytes()[:4] == b"PAR1"


def test_predict_refuses_input_model_existing_and_a_taken_column(runner, forged, tmp_path):
    model = tmp_path / "model.parquet"
    assert _train(runner, forged, model).exit_code == 0
    rows = tmp_path / "rows.csv"
    pd.read_csv(forged["rows"]).to_csv(rows, index=False)

    def predict(out, *extra, input=rows):
        return runner.invoke(partner, ["predict", str(model), "--input", str(input), "--out", str(out), *extra])

    before = snapshot(tmp_path)
    refused(predict(rows), tmp_path, before, "--out", "--input", "same file")
    refused(predict(rows, "--force"), tmp_path, before, "--out", "--input", "same file")
    (tmp_path / "m.parquet").symlink_to(model)
    before = snapshot(tmp_path)
    refused(predict(model, "--force"), tmp_path, before, "--out", "MODEL", "same file")
    refused(predict(tmp_path / "m.parquet", "--force"), tmp_path, before, "symbolic link")
    existing = tmp_path / "pred.csv"
    existing.write_text("keep me\n")
    before = snapshot(tmp_path)
    refused(predict(existing), tmp_path, before, str(existing), "already exists")
    assert predict(existing, "--force").exit_code == 0
    assert "y_pred" in pd.read_csv(existing).columns
    taken = tmp_path / "taken.csv"
    pd.read_csv(rows).assign(y_pred=1.0).to_csv(taken, index=False)
    before = snapshot(tmp_path)
    refused(predict(tmp_path / "new.csv", input=taken), tmp_path, before, str(taken), "'y_pred'")


# -- enfo-owner evaluate ----------------------------------------------------------------------------
def test_evaluate_refuses_existing_report_files_and_an_input_folder(runner, forged, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("my notes\n")
    before = snapshot(tmp_path)
    for extra in ([], ["--sweep", "alignment_weight=0,1"]):
        name = "report.html" if not extra else "sweep.html"
        if extra:
            (out / name).write_text("my notes\n")
            before = snapshot(tmp_path)
        result = runner.invoke(owner, ["evaluate", "--contract", str(forged["contract"]), "--out", str(out),
                                       *extra])
        refused(result, tmp_path, before, str(out / name), "already exists", "--force")
    # the report folder may not be a symbolic link, nor hold the contract's data
    (tmp_path / "link").symlink_to(out)
    result = runner.invoke(owner, ["evaluate", "--contract", str(forged["contract"]), "--out", str(tmp_path / "link")])
    refused(result, tmp_path, before, "symbolic link")
    # a report file that is the contract's data (a hard link named metrics.json) is refused
    clash = tmp_path / "clash"
    clash.mkdir()
    os.link(forged["folder"] / "owner.csv", clash / "metrics.json")
    before = snapshot(tmp_path)
    result = runner.invoke(owner, ["evaluate", "--contract", str(forged["contract"]), "--out", str(clash),
                                   "--force"])
    refused(result, tmp_path, before, "metrics.json", "data.source", "same file")


def test_train_without_out_does_not_replace_the_default_model(runner, forged, tmp_path):
    import shutil

    bundle = tmp_path / "rows.bundle.parquet"
    shutil.copy(forged["bundle"], bundle)
    (tmp_path / "rows.model.parquet").write_bytes(b"an earlier model")
    before = snapshot(tmp_path)
    result = runner.invoke(partner, ["train", str(bundle), "--trust", str(forged["public"])])
    refused(result, tmp_path, before, "the model (default path", str(tmp_path / "rows.model.parquet"),
            "--force")


def test_forge_refuses_to_write_the_bundle_over_the_sql_database_file(runner, project):
    """A SQL source's database file is an input like a CSV (and contracts with one still check)."""
    from data.sql_helpers import make_duckdb  # tests/ is on sys.path (rootdir)

    df = pd.read_csv(project / "owner.csv")
    make_duckdb(project / "owner.duckdb", df.assign(id=range(len(df))))
    contract = write_contract(project, tiny_contract(
        data={"source": {"sql": "SELECT x1, x2, x3, x4, y FROM owner ORDER BY id", "connection": "owner.duckdb"},
              "target": "y", "test_fraction": 0.5},
        output={"bundle": "owner.duckdb"}))
    before = snapshot(project)
    refused(forge(runner, contract, "--force"), project, before, "output.bundle", "data.source.connection",
            "same file")
