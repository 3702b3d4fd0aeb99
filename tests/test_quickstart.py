"""The README's quick start, run as written through the installed console scripts.

The install part of the first command (venv, torch, ``pip install -e``) is what ``.ci/run``
executes in a fresh clone; here the rest of that command -- forge as the owner, then verify,
train and predict as the partner -- runs verbatim in a scratch copy of the example whose
contract is shrunk to tiny settings (600 rows, 30 steps), with HOME pointing at a scratch
folder so the signing key lands there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/contract.schema.json"


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the quick start holds one code block"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_quick_start_has_two_single_line_commands():
    install_and_run, tests = quick_start_commands()
    steps = [s.strip() for s in install_and_run.split("&&")]
    assert steps[0] == "python3 -m venv .venv"
    assert ". .venv/bin/activate" in steps
    torch = steps.index("pip install torch==2.13.0")
    assert steps.index("pip install -e '.[dev]'") > torch  # torch first
    assert any(s.startswith("enfo-owner forge --contract examples/friedman3/key.yaml") for s in steps)
    assert [s.split()[1] for s in steps if s.startswith("enfo-partner")] == ["trust", "verify", "train", "predict"]
    assert "pytest" in tests and tests.startswith(". .venv/bin/activate")


def _run_steps(install_and_run: str) -> list[str]:
    steps = [s.strip() for s in install_and_run.split("&&")]
    first = next(i for i, s in enumerate(steps) if s.startswith("enfo-owner"))
    return steps[first:]


def test_quick_start_end_to_end_on_a_tiny_contract(tmp_path):
    bin_dir = Path(sys.executable).parent
    for script in ("enfo-owner", "enfo-partner"):
        assert (bin_dir / script).exists(), f"console script {script} is not installed in {bin_dir}"

    example = tmp_path / "examples" / "friedman3"
    example.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "friedman3" / "new_rows.csv", example)
    contract = yaml.safe_load((ROOT / "examples" / "friedman3" / "key.yaml").read_text())
    contract["data"]["options"] = {"n": 600}
    contract["key"]["search"] = {"bandwidth": [1.0], "iterations": {"max": 50}}
    contract["forge"].update(rows=20, steps=30)
    (example / "key.yaml").write_text(SCHEMA_LINE + "\n" + yaml.safe_dump(contract, sort_keys=False))

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENFO_OWNER_KEY", "ENFO_TRUST_STORE", "ENFO_KEY_PASSPHRASE", "XDG_CONFIG_HOME")}
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")

    command = " && ".join(_run_steps(quick_start_commands()[0]))
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail; {command}"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, f"{command}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"

    assert (home / ".config" / "enfo" / "owner.key").exists()
    assert "created signing key" in done.stderr
    assert "key trained on the 20 forged rows" in done.stdout
    assert "verified: signed by" in done.stdout
    predictions = pd.read_csv(example / "out" / "predictions.csv")
    assert len(predictions) == len(pd.read_csv(example / "new_rows.csv"))
    assert predictions["y_pred"].notna().all()


@pytest.mark.slow
def test_embed_example_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "verified: signed by acme-data" in done.stdout
    assert (tmp_path / "model.parquet").exists()
