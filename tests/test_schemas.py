"""schemas/*.schema.json are generated from the pydantic models and must not drift."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _gen_schemas():
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "scripts" / "gen_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["contract.schema.json", "manifest.schema.json"])
def test_schema_files_match_the_models(name):
    expected = {p.name: text for p, text in _gen_schemas().schemas().items()}
    path = ROOT / "schemas" / name
    assert path.exists(), f"{path} is missing: run python scripts/gen_schemas.py"
    assert path.read_text(encoding="utf-8") == expected[name], (
        f"{path} is out of date with its pydantic model: run python scripts/gen_schemas.py"
    )


def test_check_mode_reports_drift(tmp_path, monkeypatch):
    module = _gen_schemas()
    monkeypatch.setattr(module, "SCHEMAS", tmp_path)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    assert module.main(["--check"]) == 1  # nothing there yet
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
    (tmp_path / "contract.schema.json").write_text("{}\n")
    assert module.main(["--check"]) == 1


def test_examples_validate_against_the_json_schema():
    """The editor's view (JSON Schema) agrees with the loader's on the shipped examples."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (in the dev extra) is not installed")
    schema = json.loads((ROOT / "schemas" / "contract.schema.json").read_text())
    for path in sorted((ROOT / "examples").glob("*/key.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def _paths(schema: dict, defs: dict, prefix: str = "") -> list[str]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        out.append(dotted)
        options = prop.get("anyOf", [prop])
        for option in options:
            ref = option.get("$ref")
            if ref:
                out += _paths(defs[ref.rsplit("/", 1)[-1]], defs, dotted + ".")
    return out


def test_readme_documents_every_contract_key():
    from enfo_sdk.contract import Contract

    schema = Contract.model_json_schema()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p for p in _paths(schema, schema.get("$defs", {})) if f"`{p}`" not in readme]
    assert not missing, f"README's contract reference does not mention: {missing}"
