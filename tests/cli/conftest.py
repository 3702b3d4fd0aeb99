"""Fixtures for the CLI tests: a tiny owner table, tiny contracts, keys kept in tmp folders.

Forging here always uses tiny settings (600 rows, 20 forged rows, 30 steps, one bandwidth,
at most 50 iterations, no rivalry check unless a test asks) so that a forge takes a second or two.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from enfo_sdk.data.builtin import friedman3

TINY_SEARCH = {"bandwidth": [1.0], "iterations": {"max": 50}}


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Never touch ~/.config/enfo or a developer's trust store or passphrase."""
    monkeypatch.setenv("ENFO_OWNER_KEY", str(tmp_path / "default-keys" / "owner.key"))
    monkeypatch.delenv("ENFO_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("ENFO_TRUST_STORE", raising=False)
    monkeypatch.delenv("ENFO_PARTNER_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # `enfo-partner trust`'s default store


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def owner_table(n: int = 600, seed: int = 0):
    return friedman3(n=n, seed=seed)


def tiny_contract(**changes) -> dict:
    """A contract dict with tiny settings; ``changes`` replace whole sections."""
    contract = {
        "version": 1,
        "data": {"source": "owner.csv", "target": "y", "test_fraction": 0.5},
        "key": {"algorithm": "nu-method", "search": TINY_SEARCH},
        "forge": {"rows": 20, "steps": 30, "rivalry": {"seconds": 0}},  # no attackers: seconds
        "output": {"bundle": "out/owner.bundle.parquet"},
    }
    contract.update(changes)
    return contract


def write_contract(folder: Path, contract: dict | str, name: str = "key.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = contract if isinstance(contract, str) else yaml.safe_dump(contract, sort_keys=False)
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path) -> Path:
    """A folder with owner.csv (600 Friedman #3 rows)."""
    folder = tmp_path / "project"
    folder.mkdir()
    owner_table().to_csv(folder / "owner.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def forged(tmp_path_factory) -> dict:
    """One tiny forged bundle for the inspect and partner tests (forged once per session).

    Returns paths: folder, contract, bundle, key, public (the owner's public key), rows (a
    CSV of new feature rows).
    """
    from owner_cli.main import cli

    folder = tmp_path_factory.mktemp("forged")
    owner_table().to_csv(folder / "owner.csv", index=False)
    owner_table(n=15, seed=5).drop(columns="y").to_csv(folder / "new_rows.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["keygen", "--out", str(folder / "keys" / "owner.key"), "--name", "acme-data"])
    assert result.exit_code == 0, result.output
    contract = write_contract(
        folder, tiny_contract(signing={"key": "keys/owner.key", "owner": "acme-data"})
    )
    result = runner.invoke(cli, ["forge", "--contract", str(contract), "--quiet"])
    assert result.exit_code == 0, result.output
    return {
        "folder": folder,
        "contract": contract,
        "bundle": folder / "out" / "owner.bundle.parquet",
        "key": folder / "keys" / "owner.key",
        "public": folder / "keys" / "owner.key.pub",
        "rows": folder / "new_rows.csv",
    }


def assert_one_clean_error(result, *needles: str, codes=(1, 2)) -> str:
    """Exit code 1 or 2, one 'Error:' message holding every needle, and no traceback."""
    out = result.output
    assert result.exit_code in codes, out
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out, out
    assert out.count("Error:") == 1, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out}"
    return out
