"""Keys, fingerprints and trust stores (enfo_sdk.signing)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import stat
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from enfo_sdk.errors import EnfoError, SigningError
from enfo_sdk.signing import (
    TrustStore, fingerprint, generate_private_key, keygen, load_private_key, load_public_key, load_trust,
    parse_public_key_line, public_key_line, save_private_key, save_public_key,
)

ENV = "ENFO_TEST_PASSPHRASE"


def raw(pub) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def same(a, b) -> bool:
    return raw(a.public_key() if hasattr(a, "public_key") else a) == raw(b.public_key() if hasattr(b, "public_key") else b)


# -- private keys ----------------------------------------------------------------------------------
def test_save_load_plain_private_key(tmp_path):
    key = generate_private_key()
    path = save_private_key(key, tmp_path / "owner.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert same(load_private_key(path), key)
    assert [p.name for p in tmp_path.iterdir()] == ["owner.pem"]  # no temp files left


def test_encrypted_private_key_reads_passphrase_from_env(tmp_path, monkeypatch):
    key = generate_private_key()
    path = save_private_key(key, tmp_path / "owner.pem", passphrase=b"correct horse")
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    monkeypatch.setenv(ENV, "correct horse")
    assert same(load_private_key(path, passphrase_env=ENV), key)
    monkeypatch.setenv(ENV, "wrong")
    with pytest.raises(SigningError, match=f"cannot decrypt .*owner.pem.*passphrase in {ENV} is wrong"):
        load_private_key(path, passphrase_env=ENV)
    monkeypatch.delenv(ENV)
    with pytest.raises(SigningError, match=f"owner.pem is encrypted: set the environment variable {ENV}"):
        load_private_key(path, passphrase_env=ENV)


def test_private_key_errors_name_the_file(tmp_path):
    with pytest.raises(SigningError, match="missing.pem does not exist"):
        load_private_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("hello\n")
    with pytest.raises(SigningError, match="junk.pem is not a PEM private key"):
        load_private_key(tmp_path / "junk.pem")
    pub = save_public_key(generate_private_key().public_key(), tmp_path / "k.pub")
    with pytest.raises(SigningError, match="k.pub holds a public key"):
        load_private_key(pub)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(SigningError, match="ec.pem holds a key of type EC, not Ed25519"):
        load_private_key(tmp_path / "ec.pem")
    with pytest.raises(SigningError, match="empty"):
        save_private_key(generate_private_key(), tmp_path / "x.pem", passphrase=b"")
    assert issubclass(SigningError, EnfoError)


# -- public keys and fingerprints ----------------------------------------------------------------------
def test_public_key_line_and_fingerprint_by_hand(tmp_path):
    key = generate_private_key().public_key()
    line = public_key_line(key, "acme")
    kind, b64, comment = line.split(" ")
    assert kind == "ssh-ed25519" and comment == "acme"
    blob = base64.b64decode(b64)
    assert blob == struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + raw(key)
    expected = "SHA256:" + base64.b64encode(hashlib.sha256(raw(key)).digest()).decode().rstrip("=")
    assert fingerprint(key) == expected and len(expected) == 7 + 43
    assert same(parse_public_key_line(line), key)
    assert public_key_line(key) == f"ssh-ed25519 {b64}"
    path = save_public_key(key, tmp_path / "acme.pub", "acme")
    assert path.read_text() == line + "\n"
    assert same(load_public_key(path), key)


@pytest.mark.parametrize("line, phrase", [
    ("ssh-rsa AAAAB3NzaC1yc2E", "ssh-rsa keys are not supported"),
    ("hello world", "expected a line starting with 'ssh-ed25519 '"),
    ("ssh-ed25519", "no key after the type"),
    ("ssh-ed25519 !!!!", "not valid base64"),
    ("ssh-ed25519 " + base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x05short").decode(), "not an encoded"),
])
def test_bad_public_key_lines(line, phrase):
    with pytest.raises(SigningError, match=phrase):
        parse_public_key_line(line)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_interoperates_with_ssh_keygen(tmp_path):
    # our public line is a valid OpenSSH key ...
    pub = save_public_key(generate_private_key().public_key(), tmp_path / "ours.pub", "ours")
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "ED25519" in out.stdout
    # ... and an unencrypted ssh-keygen key loads as a signing key
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "theirs", "-f", str(tmp_path / "theirs")],
                   check=True, capture_output=True, timeout=20)
    key = load_private_key(tmp_path / "theirs")
    assert same(key, load_public_key(tmp_path / "theirs.pub"))


# -- keygen -----------------------------------------------------------------------------------------
def test_keygen_writes_pair_and_refuses_to_overwrite(tmp_path):
    priv, pub = keygen(tmp_path / "acme")
    assert (priv.name, pub.name) == ("acme", "acme.pub")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert same(load_private_key(priv), load_public_key(pub))
    assert pub.read_text().rstrip().endswith(" acme")
    before = priv.read_bytes()
    with pytest.raises(SigningError, match="already exists"):
        keygen(tmp_path / "acme")
    assert priv.read_bytes() == before
    (tmp_path / "solo.pub").write_text("x")
    with pytest.raises(SigningError, match="solo.pub already exists"):
        keygen(tmp_path / "solo")
    assert not (tmp_path / "solo").exists()


def test_keygen_with_passphrase(tmp_path, monkeypatch):
    priv, pub = keygen(tmp_path / "k", passphrase=b"s3cret", comment="K")
    monkeypatch.setenv(ENV, "s3cret")
    assert same(load_private_key(priv, ENV), load_public_key(pub))


# -- trust stores ------------------------------------------------------------------------------------
def test_trust_store_from_public_key_files_and_lookup(tmp_path):
    a, b = generate_private_key(), generate_private_key()
    pa_ = save_public_key(a.public_key(), tmp_path / "a.pub", "Acme Retail")
    pb = save_public_key(b.public_key(), tmp_path / "beta.pub")
    store = TrustStore.from_public_key_files([pa_, pb])
    assert len(store) == 2
    name, key = store.get(fingerprint(a.public_key()))
    assert name == "Acme Retail" and same(key, a)
    assert store.get(fingerprint(b.public_key()))[0] == "beta"  # no comment: the file name
    assert store.get("SHA256:" + "A" * 43) is None


def test_trust_store_file_format_and_errors(tmp_path):
    a, b = generate_private_key(), generate_private_key()
    good = tmp_path / "trusted"
    good.write_text(
        "# partners we trust\n\n"
        f"acme {public_key_line(a.public_key(), 'acme@laptop')}\n"
        f"   beta   {public_key_line(b.public_key())}\n"
    )
    store = TrustStore.from_file(good)
    assert sorted(n for _, n in store) == ["acme", "beta"]
    cases = [
        (f"{public_key_line(a.public_key())}\n", ":1: missing the name"),
        ("# c\nacme\n", ":2: expected 'name ssh-ed25519"),
        ("# c\n\nacme ssh-ed25519 !!!\n", ":3: the key is not valid base64"),
        (f"acme {public_key_line(a.public_key())}\nother {public_key_line(a.public_key())}\n", ":2: key SHA256:"),
        ("# only comments\n", "lists no keys"),
    ]
    for i, (text, phrase) in enumerate(cases):
        bad = tmp_path / f"bad{i}"
        bad.write_text(text)
        with pytest.raises(SigningError) as info:
            TrustStore.from_file(bad)
        assert str(bad) in str(info.value) and phrase in str(info.value), str(info.value)


def test_load_trust_detects_file_kinds(tmp_path):
    a, b, c = generate_private_key(), generate_private_key(), generate_private_key()
    pub = save_public_key(a.public_key(), tmp_path / "acme.pub", "acme")
    store_file = tmp_path / "partners.txt"
    store_file.write_text(f"# list\nbeta {public_key_line(b.public_key())}\ngamma {public_key_line(c.public_key())}\n")
    store = load_trust([str(pub), store_file])
    assert sorted(n for _, n in store) == ["acme", "beta", "gamma"]
    assert len(load_trust(pub)) == 1
    with pytest.raises(SigningError, match="no trusted keys"):
        load_trust([])
    with pytest.raises(SigningError, match="nope.pub does not exist"):
        load_trust([tmp_path / "nope.pub"])
    with pytest.raises(SigningError, match="holds a private key"):
        load_trust([save_private_key(a, tmp_path / "oops.pem")])


def test_add_same_key_under_two_names_is_an_error():
    k = generate_private_key().public_key()
    store = TrustStore()
    store.add("acme", k)
    store.add("acme", k)  # idempotent
    assert len(store) == 1
    with pytest.raises(SigningError, match="listed twice"):
        store.add("evil", k)
    with pytest.raises(SigningError):
        store.add("", generate_private_key().public_key())
