"""enfo-owner forge on a classification contract, then the partner's verify / train / predict."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from . import helpers


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFO_OWNER_KEY", str(tmp_path / "keys" / "owner.key"))
    monkeypatch.delenv("ENFO_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("ENFO_TRUST_STORE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _contract(tmp_path, **data):
    helpers.table().to_csv(tmp_path / "owner.csv", index=False)
    body = {
        "version": 1,
        "data": {"source": "owner.csv", "target": "label", "test_fraction": 0.3, **data},
        "key": {"algorithm": "nu-method", "search": {"bandwidth": [1.0], "iterations": {"max": 60}}},
        "forge": {"rows": 12, "steps": 40, "min_per_class": 2},
        "output": {"bundle": "out/b.parquet"},
    }
    path = tmp_path / "key.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def test_forge_states_the_task_and_reports_classification_metrics(tmp_path):
    runner = CliRunner()
    result = runner.invoke(owner, ["forge", "--contract", str(_contract(tmp_path))])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "task: classification (inferred from target column 'label'" in out
    for label in ("accuracy", "bal. acc.", "log-loss", "Brier", "ROC AUC", "key trained on the 12 forged rows",
                  "forged rows by most likely class:", "nu-method-classifier v1"):
        assert label in out, out
    summary = json.loads(runner.invoke(owner, ["forge", "--contract", str(tmp_path / "key.yaml"), "--json", "--force"]).stdout)
    assert summary["task"] == "classification" and set(summary["test"]) == {"full", "forged", "sampled"}
    assert summary["classes"] == ["high", "low", "mid"]
    assert min(b["rows"] for b in summary["class_balance"].values()) >= 2

    # hard labels: one class per row, the soft rows' figures kept beside
    body = yaml.safe_load((tmp_path / "key.yaml").read_text())
    body["forge"]["hard_labels"] = True
    (tmp_path / "key.yaml").write_text(yaml.safe_dump(body))
    hard = json.loads(runner.invoke(owner, ["forge", "--contract", str(tmp_path / "key.yaml"), "--json", "--force"]).stdout)
    assert set(hard["test"]) == {"full", "forged_soft", "forged", "sampled"}
    labels = pd.read_parquet(tmp_path / "out" / "b.parquet")[["label=high", "label=low", "label=mid"]].to_numpy()
    assert set(labels.ravel()) == {0.0, 1.0} and (labels.sum(1) == 1.0).all()

    bundle, public = tmp_path / "out" / "b.parquet", tmp_path / "keys" / "owner.key.pub"
    shown = runner.invoke(partner, ["verify", str(bundle), "--trust", str(public), "--json"])
    assert shown.exit_code == 0, shown.output
    # the signed record holds what forge measured for a classification key: its metrics per side
    record = json.loads(shown.stdout)["rivalry"]
    assert record["task"] == "classification" and set(record["key"]) == set(hard["test"])
    for side, figures in hard["test"].items():
        for name in ("accuracy", "balanced_accuracy", "log_loss", "brier", "roc_auc"):
            assert record["key"][side][name] == pytest.approx(figures[name], rel=1e-12)
    # scored on the one protocol's test rows: the held-out rows less the outside rows
    rows = record["protocol"]["rows"]
    assert rows["test"] == hard["owner_rows"]["test"] == hard["owner_rows"]["held_out"] - hard["owner_rows"]["outside"]
    assert rows["outside"] == hard["owner_rows"]["outside"] > 0 and record["attackers"] == {}
    text = runner.invoke(partner, ["verify", str(bundle), "--trust", str(public)]).output
    line = next(t for t in text.splitlines() if t.strip().startswith("12 forged rows"))
    assert line.split()[3:5] == [f"{record['key']['forged']['accuracy']:.4g}",
                                 f"{record['key']['forged']['balanced_accuracy']:.4g}"], text
    model = tmp_path / "m.parquet"
    r = runner.invoke(partner, ["train", str(bundle), "--trust", str(public), "--out", str(model)])
    assert r.exit_code == 0, r.output
    helpers.table().drop(columns="label").iloc[:20].to_csv(tmp_path / "new.csv", index=False)
    r = runner.invoke(partner, ["predict", str(model), "--input", str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(tmp_path / "p.csv")
    probs = pred[["label_prob=high", "label_prob=low", "label_prob=mid"]]
    assert ((probs.sum(axis=1) - 1.0).abs() < 1e-9).all()
    assert set(pred["label_pred"]) <= {"high", "low", "mid"}


def test_a_regression_key_for_a_classification_task_is_a_clear_error(tmp_path):
    path = _contract(tmp_path)
    body = yaml.safe_load(path.read_text())
    body["key"] = {"algorithm": "ridge"}
    path.write_text(yaml.safe_dump(body))
    result = CliRunner().invoke(owner, ["forge", "--contract", str(path)])
    assert result.exit_code != 0
    assert "'ridge' is a regression key but the task is classification" in result.output


@pytest.mark.parametrize("labels, message", [
    (["only"] * 300, "target column 'label' has one class only"),
    ([f"c{i % 60}" for i in range(300)], "'label' has 60 classes, more than the 50"),
])
def test_forge_refuses_bad_targets_naming_the_column(tmp_path, labels, message):
    """The bad-input must-show through the CLI: one line naming the file and column, no bundle."""
    path = _contract(tmp_path, task="classification")
    helpers.table().assign(label=labels).to_csv(tmp_path / "owner.csv", index=False)
    result = CliRunner().invoke(owner, ["forge", "--contract", str(path)])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and message in result.output, result.output
    assert "owner.csv" in result.output and not (tmp_path / "out" / "b.parquet").exists()
