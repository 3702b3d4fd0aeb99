"""The partner's default trust store (enfo_sdk.trust) and how verification reads it."""

from __future__ import annotations

import os
from pathlib import Path
import stat
from datetime import datetime, timedelta, timezone

import pytest

from enfo_sdk import trust
from enfo_sdk.bundle import verify, write_bundle
from enfo_sdk.errors import SigningError, UntrustedSignerError
from enfo_sdk.signing import TrustStore, fingerprint, generate_private_key, load_trust, public_key_line, save_public_key

try:  # tests/ is on sys.path (pytest's rootdir-less import mode)
    from bundle import helpers
except ImportError:  # pragma: no cover
    from tests.bundle import helpers

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture
def keys(tmp_path):
    """Two owner keys with their .pub files (comments 'acme' and 'beta')."""
    out = {}
    for name in ("acme", "beta"):
        key = generate_private_key()
        out[name] = (key, save_public_key(key.public_key(), tmp_path / f"{name}.pub", name))
    return out


def test_default_location_follows_env_then_xdg_then_home(tmp_path):
    assert trust.default_store_path({"ENFO_TRUST_STORE": "/x/store", "XDG_CONFIG_HOME": "/c"}) == Path("/x/store")
    assert trust.default_store_path({"XDG_CONFIG_HOME": "/c", "HOME": "/h"}) == Path("/c/enfo/trusted_owners")
    assert trust.default_store_path({"HOME": "/h"}) == Path("/h/.config/enfo/trusted_owners")
    # a relative XDG_CONFIG_HOME is invalid per the XDG spec and ignored
    assert trust.default_store_path({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}) == Path("/h/.config/enfo/trusted_owners")
    with pytest.raises(SigningError, match="names 2 files.*--store"):
        trust.default_store_path({"ENFO_TRUST_STORE": f"/a{os.pathsep}/b"})


def test_add_creates_a_private_store_that_load_trust_reads(tmp_path, keys):
    store = tmp_path / "cfg" / "enfo" / "trusted_owners"
    entry = trust.add(store, keys["acme"][1])
    assert entry.name == "acme" and entry.fingerprint == fingerprint(keys["acme"][0].public_key())
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cfg").stat().st_mode) == 0o700
    trust.add(store, keys["beta"][1], name="beta-corp")
    loaded = load_trust(store)  # the format --trust reads
    assert sorted(n for _, n in loaded) == ["acme", "beta-corp"]
    assert loaded.get(fingerprint(keys["beta"][0].public_key()))[0] == "beta-corp"
    assert [p.name for p in store.parent.iterdir()] == ["trusted_owners"]  # no temp file left


def test_a_second_key_under_a_taken_name_is_refused(tmp_path, keys):
    store = tmp_path / "trusted"
    trust.add(store, keys["acme"][1])
    before = store.read_bytes()
    with pytest.raises(SigningError, match="already trusts a different key as 'acme'.*trust remove acme"):
        trust.add(store, keys["beta"][1], name="acme")
    with pytest.raises(SigningError, match="already trusts .* as 'acme'; one key has one name"):
        trust.add(store, keys["acme"][1], name="other")
    assert store.read_bytes() == before
    assert trust.add(store, keys["acme"][1]).name == "acme"  # the same key again: a no-op
    assert store.read_bytes() == before
    with pytest.raises(SigningError, match="one word"):
        trust.add(store, keys["beta"][1], name="two words")


def test_expiry_is_kept_and_enforced_when_loading(tmp_path, keys):
    store = tmp_path / "trusted"
    with pytest.raises(SigningError, match="already passed"):
        trust.add(store, keys["acme"][1], expires=NOW - timedelta(days=1), now=NOW)
    assert not store.exists()
    until = datetime(2026, 7, 1, tzinfo=timezone.utc)
    entry = trust.add(store, keys["acme"][1], expires=until, now=NOW)
    assert entry.expires == until and not entry.expired(NOW) and entry.expired(until)
    assert "expires=2026-07-01T00:00:00Z" in store.read_text()
    keyid = entry.fingerprint
    assert keyid in TrustStore.from_file(store, now=NOW)
    later = TrustStore.from_file(store, now=until + timedelta(seconds=1))
    assert keyid not in later and "expired at 2026-07-01T00:00:00Z" in later.why_untrusted(keyid)


def test_remove_and_revoke(tmp_path, keys):
    store = tmp_path / "trusted"
    store.write_text("# my own note, kept\n")
    trust.add(store, keys["acme"][1])
    trust.add(store, keys["beta"][1])
    with pytest.raises(SigningError, match="no key named 'gamma' \\(names: acme, beta\\)"):
        trust.remove(store, "gamma")
    assert trust.remove(store, "beta").name == "beta"
    assert [e.name for e in trust.entries(store)] == ["acme"]
    assert store.read_text().startswith("# my own note, kept\n")

    acme = fingerprint(keys["acme"][0].public_key())
    with pytest.raises(SigningError, match="not a key fingerprint"):
        trust.revoke(store, "SHA256:short")
    assert trust.revoke(store, acme, note="key leaked", now=NOW).name == "acme"
    assert trust.entries(store) == []
    assert trust.revocations(store) == {acme: "revoked=2026-06-01 was=acme key leaked"}
    assert trust.revoke(store, acme) is None  # twice: a no-op
    assert len(trust.revocations(store)) == 1
    with pytest.raises(SigningError, match="is revoked"):
        trust.add(store, keys["acme"][1])
    # a revocation wins over the same key listed elsewhere, in another file or line
    merged = load_trust([keys["acme"][1], store])
    assert acme not in merged and "revoked" in merged.why_untrusted(acme)
    store.write_text(store.read_text() + f"acme {public_key_line(keys['acme'][0].public_key())}\n")
    assert acme not in TrustStore.from_file(store)


def test_unknown_signer_error_gives_fingerprint_command_and_advice(tmp_path, keys):
    key, _ = keys["acme"]
    path = tmp_path / "b.parquet"
    write_bundle(path, helpers.forged(), signing_key=key, owner_name="acme")
    store = tmp_path / "trusted"
    trust.add(store, keys["beta"][1])
    with pytest.raises(UntrustedSignerError) as info:
        verify(path, trust.load(store))
    msg = str(info.value)
    keyid = fingerprint(key.public_key())
    assert f"signed by {keyid}" in msg
    assert "enfo-partner trust add OWNER.pub --name NAME" in msg
    assert "compare its fingerprint" in msg and "another channel" in msg
    trust.add(store, keys["acme"][1])
    assert verify(path, trust.load(store)).signer == "acme"
    trust.revoke(store, keyid, note="rotated")
    with pytest.raises(UntrustedSignerError) as info:
        verify(path, trust.load(store))
    assert f"{keyid}: it was revoked (revoked=" in str(info.value) and "was=acme rotated)" in str(info.value)
    assert "signed with their new key" in str(info.value)


def test_concurrent_adds_lose_nothing(tmp_path):
    """Eight writers at once: each read-modify-write holds the store's lock, so all eight keys stay."""
    from concurrent.futures import ThreadPoolExecutor

    pubs = [save_public_key(generate_private_key().public_key(), tmp_path / f"k{i}.pub", f"k{i}") for i in range(8)]
    store = tmp_path / "cfg" / "trusted_owners"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pub: trust.add(store, pub), pubs))
    assert sorted(e.name for e in trust.entries(store)) == [f"k{i}" for i in range(8)]
    assert [p.name for p in store.parent.iterdir()] == ["trusted_owners"]
