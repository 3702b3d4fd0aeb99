"""``enfo-partner keygen`` and a bundle sealed to a partner, through both CLIs.

The owner names partner A's public sealing key (``output.seal_to``); A verifies, trains and
predicts; B (another keygen) and anyone without a key see one clean line each.
"""

from __future__ import annotations

import os
import stat

import pytest

from enfo_sdk.sealing import load_sealing_public_key, sealing_fingerprint
from owner_cli.main import cli as owner
from partner_cli.main import cli as partner

from .conftest import assert_one_clean_error, tiny_contract, write_contract


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_keygen_default_path_modes_and_no_overwrite(runner, tmp_path):
    result = runner.invoke(partner, ["keygen"])
    assert result.exit_code == 0, result.output
    private = tmp_path / "config" / "enfo" / "partner.x25519"  # XDG_CONFIG_HOME from conftest
    public = private.with_name("partner.x25519.pub")
    assert _mode(private) == 0o600 and _mode(public) == 0o644
    assert public.read_text().startswith("enfo-x25519 ")
    fp = sealing_fingerprint(load_sealing_public_key(public))
    assert fp in result.output
    before = private.read_bytes()
    assert_one_clean_error(runner.invoke(partner, ["keygen"]), str(private), "already exists", "--force")
    assert private.read_bytes() == before
    assert runner.invoke(partner, ["keygen", "--force"]).exit_code == 0
    assert private.read_bytes() != before and _mode(private) == 0o600


@pytest.fixture(scope="module")
def sealed_bundle(tmp_path_factory):
    """A tiny bundle sealed to partner A; B has a key pair too."""
    from click.testing import CliRunner

    from .conftest import owner_table

    folder = tmp_path_factory.mktemp("sealed")
    owner_table().to_csv(folder / "owner.csv", index=False)
    owner_table(n=15, seed=5).drop(columns="y").to_csv(folder / "new_rows.csv", index=False)
    runner = CliRunner()
    for who in ("a", "b"):
        assert runner.invoke(partner, ["keygen", str(folder / who / "partner.x25519")]).exit_code == 0
    assert runner.invoke(owner, ["keygen", "--out", str(folder / "owner.key"), "--name", "acme"]).exit_code == 0
    contract = write_contract(folder, tiny_contract(
        signing={"key": "owner.key", "owner": "acme"},
        output={"bundle": "out/sealed.parquet", "seal_to": "a/partner.x25519.pub"},
    ))
    result = runner.invoke(owner, ["forge", "--contract", str(contract)])
    assert result.exit_code == 0, result.output
    fp_a = sealing_fingerprint(load_sealing_public_key(folder / "a" / "partner.x25519.pub"))
    assert f"sealed  key and probes sealed to partner {fp_a}" in result.output
    return folder


def test_sealed_bundle_end_to_end(runner, sealed_bundle, tmp_path):
    f = sealed_bundle
    bundle, trust = str(f / "out" / "sealed.parquet"), ["--trust", str(f / "owner.key.pub")]
    fp_a = sealing_fingerprint(load_sealing_public_key(f / "a" / "partner.x25519.pub"))
    fp_b = sealing_fingerprint(load_sealing_public_key(f / "b" / "partner.x25519.pub"))
    shown = runner.invoke(partner, ["verify", bundle, *trust])  # anyone: the signature checks
    assert shown.exit_code == 0, shown.output
    assert f"sealed to partner {fp_a}" in shown.output and "nu-method" not in shown.output
    out_b = tmp_path / "b.model.parquet"
    assert_one_clean_error(runner.invoke(partner, ["train", bundle, *trust, "--out", str(out_b)]),
                           f"sealed to partner {fp_a}", "--key")
    assert_one_clean_error(
        runner.invoke(partner, ["train", bundle, *trust, "--out", str(out_b), "--key", str(f / "b" / "partner.x25519")]),
        f"sealed to partner {fp_a}", f"not to your key {fp_b}")
    assert not out_b.exists()
    model = tmp_path / "a.model.parquet"
    got = runner.invoke(partner, ["train", bundle, *trust, "--out", str(model), "--key", str(f / "a" / "partner.x25519")])
    assert got.exit_code == 0, got.output
    assert "nu-method" in got.output and f"was sealed to partner {fp_a}" in got.output
    pred = runner.invoke(partner, ["predict", str(model), "--input", str(f / "new_rows.csv"),
                                   "--out", str(tmp_path / "p.csv")])
    assert pred.exit_code == 0, pred.output


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_open_private_key_and_wrong_files_are_refused(runner, sealed_bundle, tmp_path):
    f = sealed_bundle
    bundle, trust = str(f / "out" / "sealed.parquet"), ["--trust", str(f / "owner.key.pub")]
    key = tmp_path / "a.x25519"
    key.write_bytes((f / "a" / "partner.x25519").read_bytes())
    key.chmod(0o644)
    assert_one_clean_error(runner.invoke(partner, ["train", bundle, *trust, "--key", str(key), "--out",
                                                   str(tmp_path / "m.parquet")]), str(key), "chmod 600")
    assert_one_clean_error(runner.invoke(partner, ["train", bundle, *trust, "--key", str(f / "owner.key"), "--out",
                                                   str(tmp_path / "m.parquet")]), "owner.key", "not the X25519 key")


def test_seal_to_a_signing_key_stops_before_forging(runner, project):
    (project / "p.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea x\n")
    contract = write_contract(project, tiny_contract(output={"bundle": "out/b.parquet", "seal_to": "p.pub"}))
    out = assert_one_clean_error(runner.invoke(owner, ["forge", "--contract", str(contract), "--quiet"]),
                                 "output.seal_to", "enfo-partner keygen")
    assert not (project / "out" / "b.parquet").exists(), out


def test_the_owner_opens_its_own_sealed_bundle(runner, sealed_bundle, tmp_path):
    """evaluate --bundle and forge --from need the key; the owner's copy opens with its signing key."""
    from enfo_sdk.bundle.rows import owner_bundle_rows
    from enfo_sdk.bundle.verify import read_envelope_unverified
    from enfo_sdk.errors import DataError
    from enfo_sdk.signing import generate_private_key, load_private_key

    f = sealed_bundle
    bundle = f / "out" / "sealed.parquet"
    manifest, _ = read_envelope_unverified(bundle)
    assert [r.type for r in manifest.sealed.recipients] == ["x25519", "owner"]
    features, target = list(manifest.task.features), manifest.task.target
    opened, rows = owner_bundle_rows(bundle, features, target, owner_key=load_private_key(f / "owner.key"))
    spec = opened.key
    model = tmp_path / "a.model.parquet"
    assert runner.invoke(partner, ["train", str(bundle), "--trust", str(f / "owner.key.pub"), "--out", str(model),
                                   "--key", str(f / "a" / "partner.x25519")]).exit_code == 0
    from enfo_sdk.partner import load_model

    assert load_model(model).to_spec() == spec.with_columns(None) and len(rows) == 20
    with pytest.raises(DataError, match="signing key"):
        owner_bundle_rows(bundle, features, target)
    from enfo_sdk.errors import SealedKeyError

    with pytest.raises(SealedKeyError, match="not to your key"):
        owner_bundle_rows(bundle, features, target, owner_key=generate_private_key())
    update = write_contract(f, tiny_contract(signing={"key": "owner.key", "owner": "acme"},
                                             output={"bundle": "out/update.parquet"}), name="update.yaml")
    got = runner.invoke(owner, ["forge", "--contract", str(update), "--from", str(bundle), "--quiet"])
    assert got.exit_code == 0, got.output
