"""EnFo SDK: rival synthetic data by Encapsulation-Forging.

The Python API is the product as much as the CLIs are::

    from enfo_sdk import encapsulate, forge
    spec = encapsulate(X_train, y_train, algorithm="nu-method")
    result = forge(X_train, y_train, spec, rows=100)
    result.data          # the forged rows, original units
    result.model()       # the key trained on them
"""

from .encapsulate import EdgeOfGridWarning, Encapsulation, encapsulate
from .errors import EnfoError
from .forge import ForgeProgress, ForgeResult, PenaltyContext, forge, rows_from_bundle
from .stream import ParquetSource
from .keys import available as available_keys, get_key
from .preprocessing import Preprocessing
from .spec import KeyRegressor, KeySpec

__version__ = "0.1.0"

__all__ = [
    "EdgeOfGridWarning", "Encapsulation", "EnfoError", "ForgeProgress", "ForgeResult",
    "KeyRegressor", "KeySpec", "PenaltyContext", "Preprocessing", "available_keys", "encapsulate", "forge",
    "get_key", "ParquetSource", "rows_from_bundle", "__version__",
]
