"""EnFo SDK: rival synthetic data by Encapsulation-Forging.

The Python API is the product as much as the CLIs are::

    from enfo_sdk import encapsulate, forge
    spec = encapsulate(X_train, y_train, algorithm="nu-method")
    result = forge(X_train, y_train, spec, rows=100)
    result.data          # the forged rows, original units
    result.model()       # the key trained on them

The public names load on first use (PEP 562 module ``__getattr__``), so ``import
enfo_sdk.errors`` or ``enfo_sdk.cli_support`` imports none of torch, scikit-learn, pandas or
matplotlib; ``enfo_sdk.forge`` (torch) loads when ``forge`` or a name beside it is asked for.

Two public functions share their name with their submodule (``forge``, ``encapsulate``).
Importing such a submodule makes the import system set the package attribute to the module;
the package's module class turns that into the function, so ``enfo_sdk.forge`` is the
function whichever is imported first (as it was with eager imports).
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

#: public name -> (submodule, attribute in it)
_EXPORTS: dict[str, tuple[str, str]] = {
    "EdgeOfGridWarning": (".encapsulate", "EdgeOfGridWarning"),
    "Encapsulation": (".encapsulate", "Encapsulation"),
    "encapsulate": (".encapsulate", "encapsulate"),
    "EnfoError": (".errors", "EnfoError"),
    "ForgeProgress": (".forge", "ForgeProgress"),
    "ForgeResult": (".forge", "ForgeResult"),
    "PenaltyContext": (".forge", "PenaltyContext"),
    "forge": (".forge", "forge"),
    "rows_from_bundle": (".forge", "rows_from_bundle"),
    "ParquetSource": (".stream", "ParquetSource"),
    "available_keys": (".keys", "available"),
    "get_key": (".keys", "get_key"),
    "Preprocessing": (".preprocessing", "Preprocessing"),
    "KeyRegressor": (".spec", "KeyRegressor"),
    "KeySpec": (".spec", "KeySpec"),
}

__all__ = [
    "EdgeOfGridWarning", "Encapsulation", "EnfoError", "ForgeProgress", "ForgeResult",
    "KeyRegressor", "KeySpec", "PenaltyContext", "Preprocessing", "available_keys", "encapsulate", "forge",
    "get_key", "ParquetSource", "rows_from_bundle", "__version__",
]


def __getattr__(name: str):
    """Import the submodule that defines the public ``name`` and keep the value here."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package's module type: a submodule named like a public function stays the function."""

    def __setattr__(self, name: str, value) -> None:
        export = _EXPORTS.get(name)
        if (
            export is not None
            and isinstance(value, types.ModuleType)
            and value.__name__ == __name__ + export[0]
            and hasattr(value, export[1])
        ):
            value = getattr(value, export[1])
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
