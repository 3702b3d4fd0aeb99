"""The contract model and loader: strictness, messages (file, line, key path, value), paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from enfo_sdk.contract import Contract, default_key_path, load_contract, parse_contract
from enfo_sdk.errors import ConfigError

GOOD = """\
version: 1
data:
  source: data/owner.csv
  target: y
  test_fraction: 0.5
key:
  algorithm: nu-method
  search: {bandwidth: [0.5, 1, 2], iterations: {max: 50}}
forge:
  rows: 20
  steps: 30
output:
  bundle: out/b.parquet
signing:
  key: keys/owner.key
partner: {name: acme, public_key: ~/acme.pub, expires_in_days: 90}
"""


def _error(text: str, file: str = "key.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_contract(text, file)
    return str(info.value)


def test_good_contract_parses_and_keeps_unset_settings_unset():
    c = parse_contract(GOOD)
    assert c.version == 1
    assert c.forge.rows == 20
    # settings left out fall back to the library's defaults, not to a copy in the contract
    assert c.forge.forge_kwargs() == {"rows": 20, "steps": 30}
    assert c.key.search["iterations"] == {"max": 50}
    assert c.key.cv is None


def test_relative_paths_resolve_against_the_contract_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "key.yaml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)  # somewhere else: must not matter
    c = load_contract(folder / "key.yaml")
    assert c.file == folder / "key.yaml"
    assert Path(c.data.source) == folder / "data" / "owner.csv"
    assert Path(c.output.bundle) == folder / "out" / "b.parquet"
    assert Path(c.signing.key) == folder / "keys" / "owner.key"
    assert Path(c.partner.public_key) == tmp_path / "home" / "acme.pub"


def test_builtin_source_is_not_a_path(tmp_path):
    (tmp_path / "k.yaml").write_text(GOOD.replace("data/owner.csv", "builtin:friedman3"))
    assert load_contract(tmp_path / "k.yaml").data.source == "builtin:friedman3"


def test_unknown_key_names_file_line_path_and_suggests():
    msg = _error(GOOD.replace("  steps: 30", "  stpes: 30"))
    assert msg.startswith("key.yaml:11: forge.stpes: unknown key 'stpes'")
    assert "did you mean 'steps'?" in msg


def test_unknown_top_level_section():
    msg = _error(GOOD + "extras: 1\n")
    assert "key.yaml:17: extras: unknown key 'extras'" in msg


def test_wrong_type_names_path_and_value():
    msg = _error(GOOD.replace("rows: 20", "rows: twenty"))
    assert "key.yaml:10: forge.rows:" in msg
    assert "'twenty'" in msg


def test_booleans_and_strings_are_not_numbers():
    assert "forge.rows" in _error(GOOD.replace("rows: 20", "rows: yes"))
    assert "data.test_fraction" in _error(GOOD.replace("test_fraction: 0.5", 'test_fraction: "0.5"'))


def test_out_of_range_values():
    assert "data.test_fraction" in _error(GOOD.replace("test_fraction: 0.5", "test_fraction: 1.5"))
    assert "forge.rows" in _error(GOOD.replace("rows: 20", "rows: 0"))
    assert "partner.expires_in_days" in _error(GOOD.replace("expires_in_days: 90", "expires_in_days: -1"))


def test_version_must_be_1():
    assert "key.yaml:1: version: Input should be 1, got 2" in _error(GOOD.replace("version: 1", "version: 2"))


def test_missing_required_key():
    msg = _error(GOOD.replace("  target: y\n", ""))
    assert "data.target: required key is missing" in msg


def test_unknown_algorithm_and_hyperparameter():
    assert "key.algorithm: unknown key algorithm 'xgboost'" in _error(
        GOOD.replace("algorithm: nu-method", "algorithm: xgboost")
    )
    msg = _error(GOOD.replace("bandwidth: [", "bandwith: ["))
    assert "key.search" in msg and "'bandwith'" in msg and "did you mean 'bandwidth'" in msg


def test_bad_search_value():
    msg = _error(GOOD.replace("iterations: {max: 50}", "iterations: {max: -5}"))
    assert "key.search: iterations:" in msg


def test_unknown_builtin_dataset():
    msg = _error(GOOD.replace("data/owner.csv", "builtin:friedman9"))
    assert "data.source: unknown built-in dataset 'friedman9'" in msg


def test_several_problems_are_listed_in_line_order():
    msg = _error(GOOD.replace("rows: 20", "rows: x").replace("target: y", "target: 3"))
    lines = msg.splitlines()
    assert lines[0] == "key.yaml: 2 problems:"
    assert "key.yaml:4: data.target" in lines[1]
    assert "key.yaml:10: forge.rows" in lines[2]


def test_yaml_syntax_error_has_line_and_column():
    msg = _error("version: 1\ndata:\n  source: [a, b\nforge: {}\n")
    assert msg.startswith("key.yaml:4:")
    assert "invalid YAML" in msg


def test_duplicate_yaml_key_is_an_error():
    msg = _error(GOOD.replace("  steps: 30", "  steps: 30\n  steps: 40"))
    assert "key.yaml:12:" in msg and "'steps' appears twice" in msg


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(text):
    assert _error(text).startswith("key.yaml: ")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="contract file not found: .*nope.yaml"):
        load_contract(tmp_path / "nope.yaml")


def test_default_key_path_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ENFO_OWNER_KEY", str(tmp_path / "k"))
    assert default_key_path() == tmp_path / "k"
    monkeypatch.delenv("ENFO_OWNER_KEY")
    assert default_key_path() == Path("~/.config/enfo/owner.key").expanduser()


def test_examples_are_valid_contracts():
    root = Path(__file__).resolve().parent.parent / "examples"
    paths = sorted(root.glob("*/key.yaml"))
    assert {p.parent.name for p in paths} >= {"friedman3", "clv", "cdnow"}
    for path in paths:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../schemas/contract.schema.json"
        assert isinstance(load_contract(path), Contract)


def test_unknown_key_version():
    msg = _error(GOOD.replace("algorithm: nu-method", "algorithm: nu-method\n  version: 9"))
    assert "key.version: unknown key algorithm 'nu-method' version 9" in msg


def test_expires_at_is_an_instant_in_range():
    from datetime import datetime, timezone

    from enfo_sdk.contract import PartnerSection

    ok = GOOD.replace("expires_in_days: 90", "expires_at: 2090-06-30")  # YAML reads a date object
    assert parse_contract(ok).partner.expires_at == "2090-06-30"
    assert PartnerSection.expiry_instant("2090-06-30") == datetime(2090, 6, 30, tzinfo=timezone.utc)
    assert PartnerSection.expiry_instant("2090-06-30T18:00:00+02:00") == datetime(2090, 6, 30, 16, tzinfo=timezone.utc)
    for bad, phrase in [("2001-01-01", "not in the future"), ("2300-01-01", "36,500 days"),
                        ('"next tuesday"', "String should match pattern"), ('"2090-02-30"', "not an ISO date")]:
        msg = _error(GOOD.replace("expires_in_days: 90", f"expires_at: {bad}"))
        assert "partner.expires_at" in msg and phrase in msg, msg
    # unquoted, YAML itself builds the date: an impossible one is an error at its line, not a traceback
    assert "key.yaml:16:" in _error(GOOD.replace("expires_in_days: 90", "expires_at: 2090-02-30"))
    both = GOOD.replace("expires_in_days: 90", "expires_in_days: 90, expires_at: 2090-06-30")
    assert "not both" in _error(both)
