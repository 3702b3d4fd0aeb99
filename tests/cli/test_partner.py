"""enfo-partner verify / train / predict, and every refusal as one clean message."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from enfo_sdk.signing import generate_private_key, public_key_line, save_public_key
from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from .conftest import assert_one_clean_error, tiny_contract, write_contract


def test_verify_ok(runner, forged):
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(forged["public"])])
    assert result.exit_code == 0, result.output
    assert "verified: signed by acme-data (SHA256:" in result.output
    assert "nu-method v1" in result.output
    assert "  mode      rival\n" in result.output  # the forging mode the owner chose
    result = runner.invoke(
        partner, ["verify", str(forged["bundle"]), "--trust", str(forged["public"]), "--json"]
    )
    body = json.loads(result.stdout)
    assert body["verified"] is True and body["rows"] == 20 and body["target"] == "y"
    assert body["forging"] == {"mode": "rival", "weights": {"alignment": 0.0, "adaptability": 0.0, "rival": 0.0}}


def test_verify_and_inspect_show_the_signed_rivalry_record(runner, forged):
    from enfo_sdk.bundle.verify import read_envelope_unverified
    from owner_cli.main import cli as owner

    manifest, _ = read_envelope_unverified(forged["bundle"])
    r = manifest.rivalry  # forged with forge.rivalry.seconds 0: figures, intervals, no attackers
    rows = r.protocol.rows
    expected = [
        f"signed record v1 (enfo-one-protocol-v1): {rows.test} test rows, {rows.outside} outside rows of "
        f"{rows.held_out} held out",
        f"key test RMSE: all {rows.full_reference} training rows {r.key['full']['rmse']:.4g}, 20 forged rows "
        f"{r.key['forged']['rmse']:.4g}, 20 sampled rows {r.key['sampled']['rmse']:.4g}",
        f"forged / all rows          x{r.key_vs_full.value:.3f} [{r.key_vs_full.low:.2f}, {r.key_vs_full.high:.2f}]",
        "best attacker / key        - (no attackers were run: forge.rivalry.seconds 0)",
        f"+{rows.outside} outside rows / forged x{r.outside.value:.3f}",
        f"membership attack (MCAA)   {r.mcaa.accuracy:.3f} on {r.mcaa.candidates} candidates",
    ]
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(forged["public"])])
    assert result.exit_code == 0, result.output
    assert "  rivalry   signed record v1" in result.output
    for line in expected:
        assert line in result.output, result.output
    body = json.loads(runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(forged["public"]),
                                              "--json"]).stdout)
    assert body["rivalry"] == r.model_dump(mode="json")
    shown = runner.invoke(owner, ["inspect", str(forged["bundle"])])
    assert shown.exit_code == 0 and "rivalry (the owner's measured figures, as signed):" in shown.output
    for line in expected:
        assert line in shown.output, shown.output


def test_check_on_the_owners_own_held_out_rows_reproduces_the_signed_record(runner, project, tmp_path):
    """check re-runs the record's measurement: on the very rows the owner held out, in the same
    order, the partner's figures equal the owner's signed ones (same split, attackers, bootstrap)."""
    from enfo_sdk import partner as partner_api
    from enfo_sdk.bundle import verify
    from enfo_sdk.contract import load_contract
    from enfo_sdk.signing import TrustStore, load_public_key
    from enfo_sdk.workflows.owner_data import split_indices

    from .conftest import tiny_contract, write_contract

    forge = {"rows": 20, "steps": 30, "rivalry": {"seconds": 0.001}}  # one attacker per thread: ridge, knn
    contract = write_contract(project, tiny_contract(forge=forge))
    result = runner.invoke(owner, ["forge", "--contract", str(contract), "--quiet"])
    assert result.exit_code == 0, result.output
    store = TrustStore()
    store.add("owner", load_public_key(tmp_path / "default-keys" / "owner.key.pub"))
    verified = verify(project / "out" / "owner.bundle.parquet", store)
    record = verified.manifest.rivalry
    table = pd.read_csv(project / "owner.csv")
    _, held_out = split_indices(len(table), load_contract(contract))
    families = list(record.attackers)
    assert families == ["ridge", "knn"]
    res = partner_api.check(verified, table.iloc[held_out], families=families)
    assert res.best == record.best and res.record == record.model_dump(mode="json")
    assert res.key_rmse == pytest.approx(record.key["forged"]["rmse"], rel=1e-9)
    for name in families:
        assert res.models[name]["ratio"] == pytest.approx(record.attackers[name].ratio, rel=1e-9)
        assert res.models[name]["params"] == record.attackers[name].params
    for mine, signed in ((res.rivalry["ratio"], record.best_ratio), (res.rivalry["outside"], record.outside)):
        for part in ("value", "low", "high"):
            assert mine[part] == pytest.approx(getattr(signed, part), rel=1e-9)
    assert (res.rivalry["test_rows"], res.rivalry["outside_rows"]) == (record.protocol.rows.test,
                                                                        record.protocol.rows.outside)
    text = "\n".join(res.lines("nu-method"))
    assert "same measurement, your rows beside the owner's signed record" in text
    assert f"x{record.best_ratio.value:.3f} [{record.best_ratio.low:.2f}, {record.best_ratio.high:.2f}] {record.best}" in text
    m = res.rivalry["mean_only"]  # the partner's own (not in the signed record)
    assert f"mean only / key           x{m['value']:.3f} [{m['low']:.2f}, {m['high']:.2f}]" in text
    assert "- (not recorded)" in text


def test_trust_store_file_and_env_default(runner, forged, tmp_path, monkeypatch):
    other = generate_private_key().public_key()
    store = tmp_path / "trusted"
    store.write_text(
        "# name key\n"
        f"someone {public_key_line(other)}\n"
        f"acme {forged['public'].read_text().split(' ')[0]} {forged['public'].read_text().split(' ')[1]}\n"
    )
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(store)])
    assert result.exit_code == 0, result.output
    assert "signed by acme (" in result.output  # the name is the partner's, from the store
    monkeypatch.setenv("ENFO_TRUST_STORE", str(store))
    assert runner.invoke(partner, ["verify", str(forged["bundle"])]).exit_code == 0


def test_trust_is_required(runner, forged):
    result = runner.invoke(partner, ["verify", str(forged["bundle"])])
    assert_one_clean_error(result, "--trust", "ENFO_TRUST_STORE", codes=(2,))


def test_untrusted_signer(runner, forged, tmp_path):
    save_public_key(generate_private_key().public_key(), tmp_path / "other.pub")
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(tmp_path / "other.pub")])
    assert_one_clean_error(result, str(forged["bundle"]), "not in your trust store")


def test_unreadable_trust_file(runner, forged, tmp_path):
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(tmp_path / "none.pub")])
    assert_one_clean_error(result, "none.pub")
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(forged["key"])])
    assert_one_clean_error(result, "owner.key", "private key")


def _tamper_value(src: Path, dst: Path) -> None:
    """Change one signed value (flip the lowest mantissa bit of the first x1 value)."""
    raw = bytearray(src.read_bytes())
    first = pq.read_table(src, columns=["x1"]).column("x1")[0].as_py()
    at = raw.find(struct.pack("<d", first))
    assert at > 0
    raw[at] ^= 1
    dst.write_bytes(bytes(raw))


def test_tampered_bundle(runner, forged, tmp_path):
    bad = tmp_path / "tampered.parquet"
    _tamper_value(forged["bundle"], bad)
    result = runner.invoke(partner, ["verify", str(bad), "--trust", str(forged["public"])])
    assert_one_clean_error(result, str(bad), "x1")
    result = runner.invoke(partner, ["train", str(bad), "--trust", str(forged["public"]), "--out", str(tmp_path / "m.parquet")])
    assert_one_clean_error(result, str(bad))
    assert not (tmp_path / "m.parquet").exists()


def test_truncated_and_foreign_files(runner, forged, tmp_path):
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(forged["bundle"].read_bytes()[:-100])
    assert_one_clean_error(
        runner.invoke(partner, ["verify", str(cut), "--trust", str(forged["public"])]), str(cut)
    )
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(plain)
    assert_one_clean_error(
        runner.invoke(partner, ["verify", str(plain), "--trust", str(forged["public"])]), str(plain)
    )


def test_partner_name_and_expiry(runner, forged, tmp_path):
    folder = forged["folder"]
    contract = write_contract(folder, tiny_contract(
        signing={"key": "keys/owner.key", "owner": "acme-data"},
        output={"bundle": "out/for-beta.parquet"},
        partner={"name": "beta", "expires_in_days": 30},
    ), name="beta.yaml")
    assert runner.invoke(owner, ["forge", "--contract", str(contract), "--quiet"]).exit_code == 0
    bundle = folder / "out" / "for-beta.parquet"
    trust = ["--trust", str(forged["public"])]
    assert_one_clean_error(runner.invoke(partner, ["verify", str(bundle), *trust]), str(bundle), "beta")
    assert_one_clean_error(
        runner.invoke(partner, ["verify", str(bundle), *trust, "--partner", "gamma"]), "beta"
    )
    result = runner.invoke(partner, ["verify", str(bundle), *trust, "--partner", "beta"])
    assert result.exit_code == 0, result.output
    assert "expires" in result.output


def test_train_then_predict_csv_and_parquet(runner, forged, tmp_path):
    model = tmp_path / "model.parquet"
    result = runner.invoke(
        partner, ["train", str(forged["bundle"]), "--trust", str(forged["public"]), "--out", str(model)]
    )
    assert result.exit_code == 0, result.output
    assert f"model saved to {model}" in result.output
    rows = pd.read_csv(forged["rows"])
    for name in ("pred.csv", "pred.parquet"):
        out = tmp_path / name
        result = runner.invoke(partner, ["predict", str(model), "--input", str(forged["rows"]), "--out", str(out)])
        assert result.exit_code == 0, result.output
        got = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
        assert list(got.columns) == [*rows.columns, "y_pred"]
        assert len(got) == len(rows) and got["y_pred"].notna().all()
    # Parquet input, extra columns passed through
    extra = rows.assign(customer=range(len(rows)))
    extra.to_parquet(tmp_path / "in.parquet")
    result = runner.invoke(partner, ["predict", str(model), "--input", str(tmp_path / "in.parquet"),
                                     "--out", str(tmp_path / "p2.csv")])
    assert result.exit_code == 0, result.output
    assert "customer" in pd.read_csv(tmp_path / "p2.csv").columns


def test_predict_input_missing_a_feature(runner, forged, tmp_path):
    model = tmp_path / "model.parquet"
    runner.invoke(partner, ["train", str(forged["bundle"]), "--trust", str(forged["public"]), "--out", str(model)])
    bad = tmp_path / "partial.csv"
    pd.read_csv(forged["rows"]).drop(columns="x3").to_csv(bad, index=False)
    result = runner.invoke(partner, ["predict", str(model), "--input", str(bad), "--out", str(tmp_path / "p.csv")])
    assert_one_clean_error(result, str(bad), "'x3'")
    assert not (tmp_path / "p.csv").exists()


def test_predict_refusals(runner, forged, tmp_path):
    # a bundle is not a model
    result = runner.invoke(partner, ["predict", str(forged["bundle"]), "--input", str(forged["rows"]),
                                     "--out", str(tmp_path / "p.csv")])
    assert_one_clean_error(result, str(forged["bundle"]))
    model = tmp_path / "model.parquet"
    runner.invoke(partner, ["train", str(forged["bundle"]), "--trust", str(forged["public"]), "--out", str(model)])
    result = runner.invoke(partner, ["predict", str(model), "--input", str(forged["rows"]), "--out", str(tmp_path / "p.txt")])
    assert_one_clean_error(result, "p.txt")
    result = runner.invoke(partner, ["predict", str(model), "--input", str(tmp_path / "none.csv"), "--out", str(tmp_path / "p.csv")])
    assert_one_clean_error(result, "none.csv", codes=(2,))


def test_augment_and_check_commands(runner, forged, tmp_path):
    from enfo_sdk.data.builtin import friedman3

    own = tmp_path / "own.parquet"
    friedman3(n=200, seed=5).to_parquet(own)
    args = [str(forged["bundle"]), "--trust", str(forged["public"]), "--own", str(own), "--cv", "3"]
    result = runner.invoke(partner, ["augment", *args])
    assert result.exit_code == 0, result.output
    assert "your rows alone" in result.output and "your rows + bundle" in result.output
    body = json.loads(runner.invoke(partner, ["augment", *args, "--json"]).stdout)
    assert body["folds"] == 3 and body["own_rows"] == 200 and body["mode"] == "rival"
    assert body["helped"] == (body["augmented_rmse"] < body["own_rmse"])
    result = runner.invoke(partner, ["check", *args, "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)
    assert res["best_rmse"] == min(m["rmse"] for m in res["models"].values())


def test_augment_names_the_missing_target(runner, forged, tmp_path):
    from enfo_sdk.data.builtin import friedman3

    own = tmp_path / "own.csv"
    friedman3(n=50, seed=5).drop(columns="y").to_csv(own, index=False)
    result = runner.invoke(partner, ["augment", str(forged["bundle"]), "--trust", str(forged["public"]), "--own", str(own)])
    assert result.exit_code == 1
    assert "own.csv" in result.output and "missing column(s) 'y'" in result.output
    assert "Traceback" not in result.output
