"""enfo-owner evaluate on tiny settings: files, embedded figures, progress, clean errors."""

from __future__ import annotations

import base64
import json
import re

import pytest

from enfo_sdk.evaluate.baselines import BASELINES
from owner_cli.main import cli

from .conftest import assert_one_clean_error, tiny_contract, write_contract

PNG = b"\x89PNG\r\n\x1a\n"


def test_evaluate_a_bundle_writes_metrics_and_a_self_contained_report(runner, forged, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(cli, [
        "evaluate", "--contract", str(forged["contract"]), "--bundle", str(forged["bundle"]),
        "--out", str(out), "--sizes", "", "--json",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    metrics = json.loads((out / "metrics.json").read_text())
    ev = metrics["evaluation"]
    assert ev["bundle"]["rows"] == summary["rows"] == 20
    assert ev["split"] == {"train": 300, "external": 150, "test": 150}
    assert set(ev["baselines"]) == set(BASELINES) >= {"sampled", "noise", "rounding", "top_coding", "swap_20",
                                    "swap_50", "gaussian_copula"}
    assert set(ev["bundle"]["attackers"]["models"]) >= {"krr", "svr", "mlp", "ridge"}
    assert summary["key_rmse"]["bundle"] == ev["bundle"]["key_rmse"]
    # one protocol (docs/metrics.md): forge measured the manifest's figures on the same test
    # rows, with the same sampled rows, as evaluate does
    from enfo_sdk.bundle.verify import read_envelope_unverified

    manifest, _ = read_envelope_unverified(forged["bundle"])
    m = manifest.metrics
    assert ev["full"]["key_rmse"] == pytest.approx(m["test_rmse_full"], rel=1e-9)
    assert ev["bundle"]["key_rmse"] == pytest.approx(m["test_rmse_forged"], rel=1e-9)
    assert ev["baselines"]["sampled"]["key_rmse"] == pytest.approx(m["test_rmse_sampled"], rel=1e-9)
    # ... and so did the signed rivalry record: the same figures, the same membership attack
    record = manifest.rivalry
    assert record.key["full"]["rmse"] == pytest.approx(ev["full"]["key_rmse"], rel=1e-9)
    assert record.key["forged"]["rmse"] == pytest.approx(ev["bundle"]["key_rmse"], rel=1e-9)
    assert record.key["sampled"]["rmse"] == pytest.approx(ev["baselines"]["sampled"]["key_rmse"], rel=1e-9)
    assert record.mcaa.accuracy == pytest.approx(ev["bundle"]["privacy"]["mc_attack"]["accuracy"], rel=1e-9)
    assert record.mcaa.candidates == ev["bundle"]["privacy"]["mc_attack"]["candidates"]
    assert record.outside.value == pytest.approx(
        ev["bundle"]["external"]["augmented"] / ev["bundle"]["external"]["bundle"], rel=1e-9)
    assert (record.protocol.rows.test, record.protocol.rows.outside) == (ev["split"]["test"], ev["split"]["external"])
    page = (out / "report.html").read_text()
    assert not re.search(r'src="(?!data:image/png;base64,)', page)  # nothing external
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3  # of 5: no training curve from a bundle, no rows curve with --sizes ""
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    for name in ("rmse_vs_attack", "divergence_radar", "attackers"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG)


def test_evaluate_forges_when_no_bundle_and_shows_progress(runner, project, tmp_path):
    contract = write_contract(project, tiny_contract())
    out = tmp_path / "eval"
    result = runner.invoke(cli, [
        "evaluate", "--contract", str(contract), "--out", str(out), "--sizes", "20,40",
        "--seeds", "2", "--external-rows", "100",
    ])
    assert result.exit_code == 0, result.output
    for phase in ("encapsulate", "forge", "attackers", "baselines", "curve", "report"):
        assert phase in result.stderr
    curve = json.loads((out / "metrics.json").read_text())["curve"]
    assert curve["sizes"] == [20, 40] and len(curve["forged"]["40"]["rmse"]) == 2
    assert (out / "training_curve.png").read_bytes().startswith(PNG)
    assert (out / "rows_curve.png").read_bytes().startswith(PNG)


def test_evaluate_refuses_a_bundle_of_other_columns(runner, forged, tmp_path):
    folder = forged["folder"]
    data = {"source": "owner.csv", "target": "y", "test_fraction": 0.5, "features": ["x1", "x2", "x3"]}
    contract = write_contract(folder, tiny_contract(data=data), name="three.yaml")
    result = runner.invoke(cli, [
        "evaluate", "--contract", str(contract), "--bundle", str(forged["bundle"]),
        "--out", str(tmp_path / "e"),
    ])
    assert_one_clean_error(result, str(forged["bundle"]), "do not match")


def test_evaluate_bad_sizes_is_a_usage_error(runner, forged, tmp_path):
    result = runner.invoke(cli, [
        "evaluate", "--contract", str(forged["contract"]), "--out", str(tmp_path / "e"),
        "--sizes", "10,abc",
    ])
    assert_one_clean_error(result, "--sizes", codes=(2,))

