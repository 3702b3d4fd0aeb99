"""enfo-partner trust add/list/remove/revoke, and train with the default store and no flag."""

from __future__ import annotations

import json
import shutil
import stat

import pandas as pd

from enfo_sdk.partner import load_model
from enfo_sdk.signing import fingerprint, generate_private_key, load_public_key, save_public_key
from partner_cli.main import cli as partner

from .conftest import assert_one_clean_error


def test_trust_add_then_train_with_no_other_flag(runner, forged, tmp_path):
    """The product brief's partner commands, as written: trust the owner once, then train."""
    bundle = tmp_path / "bundle.parquet"  # a copy, so the default model path is ours
    shutil.copy(forged["bundle"], bundle)
    keyid = fingerprint(load_public_key(forged["public"]))
    result = runner.invoke(partner, ["train", str(bundle)])
    assert_one_clean_error(result, "trust add OWNER.pub", "--trust", codes=(2,))

    result = runner.invoke(partner, ["trust", "add", str(forged["public"])])
    assert result.exit_code == 0, result.output
    store = tmp_path / "config" / "enfo" / "trusted_owners"
    assert f"trusted acme-data ({keyid}) until never in {store}" in result.output
    assert "compare this fingerprint" in result.output
    assert stat.S_IMODE(store.stat().st_mode) == 0o600

    result = runner.invoke(partner, ["train", str(bundle)])
    assert result.exit_code == 0, result.output
    model_path = tmp_path / "bundle.model.parquet"
    assert f"model saved to {model_path}" in result.output
    model = load_model(model_path)
    rows = pd.read_csv(forged["rows"])
    assert model.signer_fingerprint == keyid and len(model.predict(rows)) == len(rows)


def test_unknown_signer_shows_fingerprint_and_the_command(runner, forged, tmp_path):
    save_public_key(generate_private_key().public_key(), tmp_path / "other.pub", "other")
    assert runner.invoke(partner, ["trust", "add", str(tmp_path / "other.pub")]).exit_code == 0
    result = runner.invoke(partner, ["verify", str(forged["bundle"])])
    keyid = fingerprint(load_public_key(forged["public"]))
    assert_one_clean_error(result, f"signed by {keyid}", "enfo-partner trust add OWNER.pub --name NAME",
                           "another channel", "trusted: other (")


def test_list_remove_revoke(runner, forged, tmp_path):
    store = tmp_path / "own-store"
    keyid = fingerprint(load_public_key(forged["public"]))
    result = runner.invoke(partner, ["trust", "list", "--store", str(store)])
    assert result.exit_code == 0 and "no trusted owners" in result.output
    result = runner.invoke(partner, ["trust", "add", str(forged["public"]), "--name", "acme",
                                     "--expires", "2999-01-01", "--store", str(store)])
    assert result.exit_code == 0, result.output
    other = save_public_key(generate_private_key().public_key(), tmp_path / "o.pub")
    result = runner.invoke(partner, ["trust", "add", str(other), "--name", "acme", "--store", str(store)])
    assert_one_clean_error(result, "already trusts a different key as 'acme'")
    result = runner.invoke(partner, ["trust", "add", str(other), "--expires", "soon", "--store", str(store)])
    assert_one_clean_error(result, "not an ISO date", codes=(2,))

    result = runner.invoke(partner, ["trust", "list", "--store", str(store)])
    assert f"acme  {keyid}  until 2999-01-01T00:00:00Z" in result.output
    body = json.loads(runner.invoke(partner, ["trust", "list", "--store", str(store), "--json"]).output)
    assert body["trusted"][0]["fingerprint"] == keyid and body["trusted"][0]["expired"] is False

    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(store)])
    assert result.exit_code == 0 and "signed by acme (" in result.output
    result = runner.invoke(partner, ["trust", "revoke", keyid, "--note", "leaked", "--store", str(store)])
    assert result.exit_code == 0 and "was trusted as acme" in result.output
    result = runner.invoke(partner, ["verify", str(forged["bundle"]), "--trust", str(store)])
    assert_one_clean_error(result, "it was revoked", "leaked")
    result = runner.invoke(partner, ["trust", "remove", "acme", "--store", str(store)])
    assert_one_clean_error(result, "no key named 'acme'")
