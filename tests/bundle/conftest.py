"""Session fixtures: one forge, one owner key, one good bundle; tests copy what they change."""

from __future__ import annotations

import pytest

from enfo_sdk.bundle import verify, write_bundle
from enfo_sdk.signing import TrustStore, generate_private_key

from . import helpers


@pytest.fixture(scope="session")
def result():
    return helpers.forged()


@pytest.fixture(scope="session")
def owner_key():
    return generate_private_key()


@pytest.fixture(scope="session")
def other_key():
    return generate_private_key()


@pytest.fixture(scope="session")
def trust(owner_key):
    store = TrustStore()
    store.add("acme", owner_key.public_key())
    return store


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def bundle(result, owner_key, bundle_dir):
    """(path, manifest) of a good bundle. Never modify the file: write changed copies."""
    path = bundle_dir / "good.parquet"
    manifest = write_bundle(path, result, signing_key=owner_key, owner_name="Acme Retail")
    return path, manifest


@pytest.fixture(scope="session")
def verified(bundle, trust):
    return verify(bundle[0], trust)
