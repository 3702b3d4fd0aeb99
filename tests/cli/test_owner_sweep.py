"""enfo-owner evaluate --sweep: usage errors before any work, and the three files."""

from __future__ import annotations

import base64
import json
import re

import pytest

from owner_cli.main import cli

from .conftest import assert_one_clean_error, tiny_contract, write_contract

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def contract(project):
    return write_contract(project, tiny_contract(forge={"rows": 20, "steps": 30, "mode": "rival"}))


@pytest.mark.parametrize("extra, needles", [
    (["--sweep", "blur=0,1"], ["'blur'", "alignment_weight, adaptability_weight"]),
    (["--sweep", "alignment_weight=0,abc"], ["'abc' is not a number"]),
    (["--sweep", "alignment_weight=0,-1"], [">= 0", "-1"]),
    (["--sweep", "alignment_weight=0,nan"], ["finite"]),
    (["--sweep", "alignment_weight=10"], ["at least 2 value"]),
    (["--sweep", "alignment_weight"], ["PARAM=V1,V2,...", "alignment_weight, adaptability_weight"]),
    (["--sweep", "alignment_weight=0,1", "--sizes", "20"], ["--sizes", "--sweep"]),
    (["--sweep", "alignment_weight=0,1", "--seeds", "2"], ["--seeds", "--sweep"]),
    (["--attackers"], ["--attackers", "--sweep"]),
])
def test_bad_sweeps_are_usage_errors(runner, contract, tmp_path, extra, needles):
    out = tmp_path / "s"
    result = runner.invoke(cli, ["evaluate", "--contract", str(contract), "--out", str(out), *extra])
    assert_one_clean_error(result, *needles, codes=(2,))
    assert not out.exists()


def test_sweep_with_a_bundle_is_a_usage_error(runner, contract, tmp_path):
    bundle = tmp_path / "some.bundle.parquet"
    bundle.write_bytes(b"not read")
    result = runner.invoke(cli, ["evaluate", "--contract", str(contract), "--out", str(tmp_path / "s"),
                                 "--sweep", "alignment_weight=0,1", "--bundle", str(bundle)])
    assert_one_clean_error(result, "--sweep", "--bundle", codes=(2,))


def test_sweep_writes_json_png_and_a_self_contained_page(runner, contract, tmp_path):
    out = tmp_path / "s"
    result = runner.invoke(cli, ["evaluate", "--contract", str(contract), "--out", str(out),
                                 "--sweep", "alignment_weight=0,10", "--external-rows", "100"])
    assert result.exit_code == 0, result.output
    for phase in ("encapsulate", "sweep", "report"):
        assert phase in result.stderr
    assert "gain=" in result.stdout and "alignment_weight" in result.stdout
    body = json.loads((out / "sweep.json").read_text())
    s = body["sweep"]
    assert s["param"] == "alignment_weight" and s["mode"] == "augment" and s["values"] == [0.0, 10.0]
    assert s["split"] == {"train": 300, "own": 100, "test": 200}
    assert len(s["results"]) == 2 and s["forge"]["rows"] == 20 and s["forge"]["steps"] == 30
    assert any("forge.mode: 'rival' replaced by 'augment'" in n for n in body["meta"]["notes"])
    assert (out / "sweep.png").read_bytes().startswith(PNG)
    page = (out / "sweep.html").read_text()
    assert not re.search(r'src="(?!data:image/png;base64,)', page)  # nothing external
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(i) for i in images] == [(out / "sweep.png").read_bytes()]
    assert sorted(p.name for p in out.iterdir()) == ["sweep.html", "sweep.json", "sweep.png"]  # no temp files


def test_sweep_at_the_contracts_setting_gives_forges_figures(runner, project, tmp_path):
    """One protocol (docs/metrics.md): the swept value equal to the contract's forges and
    measures the bundle forge signs -- same settings, hardening, full reference, test rows and
    attackers -- so every figure they share agrees to 1e-9."""
    import pandas as pd

    table = pd.read_csv(project / "owner.csv")
    table["x1"] = table["x1"].round()  # an integer column: round_integers changes the forged rows
    table.to_csv(project / "owner.csv", index=False)
    # selection validation: the lowest validation point, after the rival term has acted (on this
    # small table the one-SE rule keeps the start rows, step 0, whatever the rival weight)
    forge = {"rows": 20, "steps": 30, "mode": "rival", "round_integers": True, "selection": "validation",
             "rivalry": {"seconds": 0.001}}  # the first attacker of each thread only, in both
    contract = write_contract(project, tiny_contract(forge=forge))
    made = runner.invoke(cli, ["forge", "--contract", str(contract), "--json"])
    assert made.exit_code == 0, made.output
    forged = json.loads(made.stdout)
    assert "forged_soft" in forged["test_rmse"]  # hardening did change the rows
    swept = runner.invoke(cli, ["evaluate", "--contract", str(contract), "--out", str(tmp_path / "s"), "--json",
                                "--sweep", "rival_weight=0,0.5", "--attackers"])
    assert swept.exit_code == 0, swept.output
    body = json.loads(swept.stdout)
    at_contract = body["results"][0]  # rival_weight 0: the contract's (the default)
    assert body["key_rmse"]["full"] == pytest.approx(forged["test_rmse"]["full"], rel=1e-9)
    assert body["key_rmse"]["sampled"] == pytest.approx(forged["test_rmse"]["sampled"], rel=1e-9)
    assert at_contract["key_rmse"] == pytest.approx(forged["test_rmse"]["forged"], rel=1e-9)
    r = forged["rivalry"]
    assert at_contract["best_attacker"] == r["best"] and list(r["attackers"]) == ["ridge", "knn"]
    assert at_contract["best_attacker_ratio"] == pytest.approx(r["ratio"]["value"], rel=1e-9)
    assert at_contract["best_attacker_interval"] == pytest.approx([r["ratio"]["low"], r["ratio"]["high"]], rel=1e-9)
    assert body["split"]["test"] == forged["owner_rows"]["test"] and body["split"]["own"] == forged["owner_rows"]["outside"]
    assert body["results"][1]["key_rmse"] != at_contract["key_rmse"]  # the other value forged other rows
