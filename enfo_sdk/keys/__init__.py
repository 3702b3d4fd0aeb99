"""Registry of key algorithms, keyed by (name, version).

>>> from enfo_sdk.keys import get_key
>>> get_key("nu-method").version
1
"""

from __future__ import annotations

from ..errors import KeySpecError, UnknownAlgorithmError
from .base import Hyperparameter, Key, SearchResult
from .classify import KRRClassifier, NuMethodClassifier
from .krr import KRR
from .linear import OLS, Ridge
from .nu_method import NuMethod

_REGISTRY: dict[tuple[str, int], Key] = {}


def register(key: Key) -> Key:
    """Add a key instance to the registry (name and version must be new)."""
    ident = (key.name, key.version)
    if ident in _REGISTRY:
        raise KeySpecError(f"key {key.name!r} v{key.version} is already registered")
    _REGISTRY[ident] = key
    return key


for _k in (NuMethod(), OLS(), Ridge(), KRR(), NuMethodClassifier(), KRRClassifier()):
    register(_k)


def available() -> list[str]:
    """Registered keys as ``name vN`` strings."""
    return [f"{n} v{v}" for n, v in sorted(_REGISTRY)]


def get_key(name: str, version: int | None = None) -> Key:
    """Look up a key; ``version=None`` means the newest registered version."""
    if version is None:
        versions = [v for (n, v) in _REGISTRY if n == name]
        if versions:
            return _REGISTRY[(name, max(versions))]
    elif (name, version) in _REGISTRY:
        return _REGISTRY[(name, version)]
    what = repr(name) if version is None else f"{name!r} version {version}"
    raise UnknownAlgorithmError(
        f"unknown key algorithm {what}; available: {', '.join(available())}"
    )


__all__ = ["Key", "Hyperparameter", "SearchResult", "get_key", "register", "available"]
