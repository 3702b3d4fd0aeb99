"""Every mistake in a contract or its inputs gets exit 1 or 2 and one message naming the file
and the key or column, with no traceback unless --verbose."""

from __future__ import annotations

import numpy as np
import pytest

from enfo_sdk.signing import generate_private_key, save_private_key
from owner_cli.main import cli

from .conftest import assert_one_clean_error, owner_table, tiny_contract, write_contract


def forge(runner, contract, *extra):
    return runner.invoke(cli, ["forge", "--contract", str(contract), "--quiet", *extra])


def test_unknown_key_typo(runner, project):
    contract = write_contract(project, tiny_contract(forge={"rows": 20, "stpes": 30}))
    out = assert_one_clean_error(forge(runner, contract), str(contract), "forge.stpes")
    assert "did you mean 'steps'?" in out


def test_wrong_type(runner, project):
    contract = write_contract(project, tiny_contract(forge={"rows": "many", "steps": 30}))
    assert_one_clean_error(forge(runner, contract), str(contract), "forge.rows", "'many'")


def test_yaml_syntax_error(runner, project):
    contract = write_contract(project, "version: 1\ndata: {source: owner.csv\nforge: {rows: 3}\n")
    assert_one_clean_error(forge(runner, contract), f"{contract}:", "invalid YAML")


def test_missing_data_file(runner, project):
    contract = write_contract(project, tiny_contract(data={"source": "nope.csv", "target": "y"}))
    assert_one_clean_error(forge(runner, contract), str(contract), "data.source", "nope.csv")


def test_target_not_in_table(runner, project):
    contract = write_contract(project, tiny_contract(data={"source": "owner.csv", "target": "price"}))
    out = assert_one_clean_error(forge(runner, contract), str(contract), "data.target", "'price'")
    assert "owner.csv" in out and "x1" in out  # names the table and what it has


def test_string_feature_is_forged_as_a_category(runner, project):
    """Issue 13: a string column is inferred categorical, encoded, and recorded in the key."""
    from enfo_sdk.bundle import read_envelope_unverified

    df = owner_table()
    df["region"] = np.where(df["x1"] > 50, "north", "south")
    df.to_csv(project / "owner.csv", index=False)
    contract = write_contract(project, tiny_contract())
    result = forge(runner, contract)
    assert result.exit_code == 0, result.output
    manifest, _ = read_envelope_unverified(project / "out" / "owner.bundle.parquet")
    assert manifest.format_version == 2
    region = {c.name: c for c in manifest.key.columns.columns}["region"]
    assert region.type == "categorical" and region.levels == ["north", "south"]
    assert "region=north" in manifest.task.features and "region" not in manifest.task.features


def test_string_column_typed_numeric(runner, project):
    df = owner_table()
    df["region"] = np.where(df["x1"] > 50, "north", "south")
    df.to_csv(project / "owner.csv", index=False)
    data = {"source": "owner.csv", "target": "y", "test_fraction": 0.5, "columns": {"region": {"type": "numeric"}}}
    contract = write_contract(project, tiny_contract(data=data))
    assert_one_clean_error(forge(runner, contract), "owner.csv", "'region'", "numeric", "'south'")


def test_missing_feature_column_listed(runner, project):
    contract = write_contract(
        project, tiny_contract(data={"source": "owner.csv", "target": "y", "features": ["x1", "x9"]})
    )
    assert_one_clean_error(forge(runner, contract), "owner.csv", "x9", "data.features")


def test_infinity_in_a_feature(runner, project):
    df = owner_table()
    df.loc[[7, 300], "x3"] = np.inf
    df.to_csv(project / "owner.csv", index=False)
    contract = write_contract(project, tiny_contract())
    out = assert_one_clean_error(forge(runner, contract), "owner.csv", "'x3'")
    assert "infinite" in out


def test_gap_in_the_target(runner, project):
    df = owner_table()
    df.loc[[7, 300], "y"] = np.nan
    df.to_csv(project / "owner.csv", index=False)
    contract = write_contract(project, tiny_contract())
    assert_one_clean_error(forge(runner, contract), "owner.csv", "'y'", "missing")


def test_rows_too_large(runner, project):
    contract = write_contract(project, tiny_contract(forge={"rows": 290, "steps": 30}))
    out = assert_one_clean_error(forge(runner, contract), str(contract), "forge.rows", "290")
    assert "240" in out  # 600 rows - 300 test - 60 validation


def test_unknown_builtin_option(runner, project):
    contract = write_contract(
        project, tiny_contract(data={"source": "builtin:friedman3", "target": "y", "options": {"rows": 9}})
    )
    assert_one_clean_error(forge(runner, contract), str(contract), "data.source", "'rows'")


def test_signing_key_unreadable(runner, project):
    (project / "garbage.key").write_text("this is not a key\n")
    contract = write_contract(project, tiny_contract(signing={"key": "garbage.key"}))
    assert_one_clean_error(forge(runner, contract), str(contract), "signing.key", "garbage.key")


def test_signing_key_missing(runner, project):
    contract = write_contract(project, tiny_contract(signing={"key": "absent.key"}))
    assert_one_clean_error(forge(runner, contract), "signing.key", "absent.key")


def test_signing_key_wrong_passphrase(runner, project, monkeypatch):
    save_private_key(generate_private_key(), project / "locked.key", passphrase=b"right horse")
    contract = write_contract(project, tiny_contract(signing={"key": "locked.key"}))
    monkeypatch.setenv("ENFO_KEY_PASSPHRASE", "wrong battery")
    out = assert_one_clean_error(forge(runner, contract), "signing.key", "locked.key")
    assert "passphrase" in out and "ENFO_KEY_PASSPHRASE" in out
    monkeypatch.delenv("ENFO_KEY_PASSPHRASE")
    assert_one_clean_error(forge(runner, contract), "locked.key", "ENFO_KEY_PASSPHRASE")


def test_partner_public_key_unreadable(runner, project):
    (project / "acme.pub").write_text("ssh-rsa AAAA nope\n")
    contract = write_contract(project, tiny_contract(partner={"name": "acme", "public_key": "acme.pub"}))
    assert_one_clean_error(forge(runner, contract), "partner.public_key", "acme.pub")


def test_contract_file_missing_is_a_usage_error(runner, tmp_path):
    result = forge(runner, tmp_path / "nope.yaml")
    assert_one_clean_error(result, "nope.yaml", codes=(2,))


def test_contract_option_required(runner):
    assert_one_clean_error(runner.invoke(cli, ["forge"]), "--contract", codes=(2,))


def test_verbose_shows_the_traceback(runner, project):
    contract = write_contract(project, tiny_contract(data={"source": "owner.csv", "target": "price"}))
    result = forge(runner, contract, "--verbose")
    assert result.exit_code == 1
    assert "Traceback" in result.output and "data.target" in result.output
    result = runner.invoke(cli, ["--verbose", "forge", "--contract", str(contract)])
    assert result.exit_code == 1 and "Traceback" in result.output


def test_no_bundle_is_left_after_an_error(runner, project):
    contract = write_contract(project, tiny_contract(forge={"rows": 290}))
    forge(runner, contract)
    assert not (project / "out").exists()
    assert not (project.parent / "default-keys").exists()
