"""``consortium forge`` then ``enfo-partner train`` on several bundles of one key spec.

Tiny settings (tests/cli/conftest.py): 400-row member tables, tens of forged rows, 30 steps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from enfo_sdk.consortium import Consortium, LearningCurve
from enfo_sdk.consortium.plan import make_plan, write_plan
from enfo_sdk.partner import load_model
from enfo_sdk.spec import KeySpec
from enfo_sdk.workflows.partner_steps import verify_bundle
from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from .conftest import owner_table, tiny_contract, write_contract

NAMES = ("north", "south", "east")


def _tiny_plan(folder):
    """A real plan of a three-member consortium with caps of 30-40 rows."""
    curve = LearningCurve(0.1, 0.5, 0.5, 1.0)
    c = Consortium(NAMES, np.array([200.0, 200.0, 200.0]), np.array([0.05, 0.2, 0.4]),
                   np.array([0.002, 0.002, 0.002]), np.array([100.0, 100.0, 100.0]),
                   np.array([30.0, 35.0, 40.0]), 0.5, curve, curve)
    plan = make_plan(c, rates=np.linspace(0, 2, 5), competition=[0.0, 1.0], heterogeneity_scale=[0.5, 1.0])
    return write_plan(plan, folder)["plan"], plan.planned_rows


@pytest.fixture(scope="module")
def consortium(tmp_path_factory):
    folder = tmp_path_factory.mktemp("consortium")
    runner = CliRunner()
    plan_path, rows = _tiny_plan(folder / "plan")
    members = []
    for i, name in enumerate(NAMES):
        owner_table(n=400, seed=10 + i).to_csv(folder / f"{name}.csv", index=False)
        key = folder / "keys" / f"{name}.key"
        assert runner.invoke(owner, ["keygen", "--out", str(key), "--name", name]).exit_code == 0
        contract = tiny_contract(
            data={"source": f"{name}.csv", "target": "y", "test_fraction": 0.5},
            output={"bundle": f"out/{name}.bundle.parquet"}, signing={"key": f"keys/{name}.key", "owner": name},
        )
        members.append((name, write_contract(folder, contract, f"{name}.yaml")))
    args = ["consortium", "forge", "--plan", str(plan_path), "--json"]
    for name, contract in members:
        args += ["--member", f"{name}={contract}"]
    result = runner.invoke(owner, args)
    assert result.exit_code == 0, result.output
    return {"folder": folder, "plan": plan_path, "rows": rows, "out": json.loads(result.output),
            "pubs": [folder / "keys" / f"{n}.key.pub" for n in NAMES]}


def test_each_member_forges_its_planned_rows_for_the_agreed_key(consortium):
    out, rows = consortium["out"], consortium["rows"]
    spec = KeySpec.model_validate_json((consortium["plan"].parent / "key-spec.json").read_text())
    assert spec.columns is not None  # the typed-column encoding is part of the agreed key
    assert [m["member"] for m in out["members"]] == list(NAMES)
    for m, n in zip(out["members"], rows):
        assert m["rows"] == n > 0
        verified = verify_bundle(m["bundle"], consortium["pubs"])
        assert len(verified.data) == n and verified.manifest.key == spec
        assert verified.manifest.owner.name == m["member"]


def test_partner_trains_one_key_on_the_union_of_the_bundles(consortium, tmp_path):
    bundles = [m["bundle"] for m in consortium["out"]["members"]]
    args = ["train", *bundles, "--out", str(tmp_path / "m.parquet"), "--json"]
    for pub in consortium["pubs"]:
        args += ["--trust", str(pub)]
    result = CliRunner().invoke(partner, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [b["signer"] for b in summary["bundles"]] == list(NAMES)
    # independent reference: the key rebuilt from the spec, fitted on the concatenated rows
    verified = [verify_bundle(b, consortium["pubs"]) for b in bundles]
    spec = verified[0].manifest.key
    X = np.concatenate([v.data[v.feature_names].to_numpy(np.float64) for v in verified])
    y = np.concatenate([v.data[v.target_name].to_numpy(np.float64) for v in verified])
    ref = spec.build().fit(X, y)
    model = load_model(tmp_path / "m.parquet")
    assert np.allclose(model.predict(X), ref.predict(X), rtol=1e-10, atol=1e-12)
    one = spec.build().fit(X[: len(verified[0].data)], y[: len(verified[0].data)])
    assert not np.allclose(model.predict(X), one.predict(X))  # not just the first bundle


def test_bundles_of_different_key_specs_are_refused(consortium, tmp_path):
    folder = consortium["folder"]
    runner = CliRunner()
    alone = tiny_contract(data={"source": "east.csv", "target": "y", "test_fraction": 0.5},
                          output={"bundle": str(tmp_path / "alone.bundle.parquet")},
                          signing={"key": "keys/east.key", "owner": "east"})
    result = runner.invoke(owner, ["forge", "--contract", str(write_contract(folder, alone, "alone.yaml")), "--quiet"])
    assert result.exit_code == 0, result.output
    first = consortium["out"]["members"][0]["bundle"]
    args = ["train", first, str(tmp_path / "alone.bundle.parquet"), "--out", str(tmp_path / "m.parquet")]
    for pub in consortium["pubs"]:
        args += ["--trust", str(pub)]
    result = runner.invoke(partner, args)
    assert result.exit_code == 1
    assert "alone.bundle.parquet: its key spec differs from" in result.output
    assert "columns" in result.output  # its own encoding (ranges fitted on its rows) differs
    assert not (tmp_path / "m.parquet").exists()


def test_each_bundle_must_verify_against_its_own_signer(consortium, tmp_path):
    bundles = [m["bundle"] for m in consortium["out"]["members"]]
    args = ["train", *bundles, "--out", str(tmp_path / "m.parquet")]
    for pub in consortium["pubs"][:2]:  # east's key is not trusted
        args += ["--trust", str(pub)]
    result = CliRunner().invoke(partner, args)
    assert result.exit_code != 0 and "east.bundle.parquet" in result.output
    assert not (tmp_path / "m.parquet").exists()
