"""``enfo-owner consortium plan`` end to end on the example consortium."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from owner_cli.main import cli

from .test_config import EXAMPLE, GOOD


def test_plan_on_the_example_prints_the_table_and_writes_plan_and_figures(tmp_path):
    out = tmp_path / "plan"
    result = CliRunner().invoke(cli, ["consortium", "plan", "--config", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header[:3] == ["member", "rows", "optimum"] and "margin" in header
    plan = json.loads((out / "plan.json").read_text())
    names = [m["name"] for m in plan["members"]]
    for name in names:
        assert any(line.startswith(name) for line in result.output.splitlines())
    transfers = np.array([m["transfer"] for m in plan["members"]])
    scale = max(abs(m["utility_with_mechanism"]) for m in plan["members"])
    assert abs(transfers.sum()) <= 1e-9 * scale
    assert plan["mechanism"]["viable"] and all(m["ir_margin"] >= 0 for m in plan["members"])
    assert plan["welfare"]["with_mechanism"] >= plan["welfare"]["without_mechanism"]
    assert plan["welfare"]["optimum"] >= plan["welfare"]["with_mechanism"] - 1e-9 * scale
    assert all(m["rows"] == round(m["rows_exact"]) for m in plan["members"])
    for name in ("rows_vs_competition", "rows_vs_heterogeneity", "welfare_vs_rate", "equilibrium_vs_optimum"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))


def test_a_bad_config_is_one_clean_error(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(GOOD.replace("competition: 0.5", "competion: 0.5"))
    result = CliRunner().invoke(cli, ["consortium", "plan", "--config", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "c.yaml:2: competion: unknown key 'competion' (did you mean 'competition'?)" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
