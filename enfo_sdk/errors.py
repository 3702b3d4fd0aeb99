"""One exception tree for the whole SDK, rooted at :class:`EnfoError`.

Every error the library raises on purpose is a subclass of ``EnfoError``; third-party
errors are wrapped with ``raise ... from e`` so that callers (and the CLIs) can catch one
base class and show one clear message.

:class:`NotFittedError` subclasses scikit-learn's, so this module defines it on first use
(PEP 562 ``__getattr__``): importing the error tree does not import scikit-learn (about 1.5 s),
which the partner's ``verify`` and both CLIs' ``--help`` never need.
"""

from __future__ import annotations

import threading


class EnfoError(Exception):
    """Base class of every error the EnFo SDK raises on purpose."""


def unknown_names(names, known) -> str:
    """``'x' (did you mean 'y'?), 'z'``: the unknown ``names`` for a message, each with the
    closest of ``known`` when one is close."""
    import difflib

    hints = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


# -- input data ------------------------------------------------------------------------
class DataError(EnfoError, ValueError):
    """The owner's or partner's table cannot be used as given (names the column or file)."""


class DataTypeError(DataError, TypeError):
    """Values are of a type that cannot be read as numbers."""


class ShapeError(DataError):
    """Arrays have the wrong number of dimensions, rows or columns."""


# -- keys and specs --------------------------------------------------------------------
class KeySpecError(EnfoError):
    """Base for problems with a key specification (algorithm, version, hyperparameters)."""


class UnknownAlgorithmError(KeySpecError):
    """No key algorithm is registered under this name and version."""


class HyperparameterError(KeySpecError):
    """A hyperparameter is unknown, missing or out of range."""


class ForgeError(EnfoError):
    """Forging cannot start or continue (bad settings, diverged optimisation)."""


class ConfigError(EnfoError, ValueError):
    """A contract file or option is invalid (names the file, the key path and the value)."""


class ConsortiumError(EnfoError, ValueError):
    """A consortium cannot be planned as given (names the member or parameter at fault)."""


# -- files ------------------------------------------------------------------------------------
class OutputError(EnfoError, OSError):
    """An output path is refused before any work: it is an input or another output, a symbolic
    link, not a regular file, an existing file (without ``--force``), or its folder cannot be
    written; or writing it failed (the message names the user's path, never a temporary file).
    Also an ``OSError``, so code that caught write failures before still does."""


class InputFileError(EnfoError):
    """An input path is not a regular file (a FIFO, device, socket or directory), so it is refused
    before it is opened."""


# -- signing and bundles -------------------------------------------------------------------
class SigningError(EnfoError):
    """A key file cannot be read, parsed or decrypted."""


class BundleError(EnfoError):
    """Base for every reason a bundle is refused."""


class BundleFormatError(BundleError):
    """The file is not a bundle: not Parquet, truncated, too large, or no/malformed envelope."""


class BundleTooLargeError(BundleFormatError):
    """The file, its Parquet footer or its envelope exceeds the configured size limit."""


class NotParquetError(BundleFormatError):
    """The file does not start with the Parquet magic bytes (or is too short to be Parquet)."""


class TruncatedBundleError(BundleFormatError):
    """The file starts like Parquet but its end (footer, length, magic) is missing or cut off."""


class MissingEnvelopeError(BundleFormatError):
    """The Parquet footer has no ``enfo.envelope`` entry: the file was never signed."""


class MalformedEnvelopeError(BundleFormatError):
    """The ``enfo.envelope`` entry is not a well-formed DSSE envelope."""


class UnexpectedFooterMetadataError(BundleFormatError):
    """The Parquet footer carries entries besides ``enfo.envelope`` (e.g. an Arrow schema).

    Such entries are refused unread: an Arrow schema can name extension types whose
    deserialisation runs code (pickle).
    """


class UntrustedSignerError(BundleError):
    """The envelope's signer is not in the trust store."""


class SignatureError(BundleError):
    """The signature does not verify over the envelope payload."""


class PayloadTypeError(BundleError):
    """The envelope's payload type is not one this library understands."""


class ManifestError(BundleError):
    """The signed manifest does not parse under the strict schema."""


class ExpiredBundleError(BundleError):
    """The bundle's expiry time has passed."""


class WrongPartnerError(BundleError):
    """The bundle names an intended partner other than the verifier."""


class SchemaMismatchError(BundleError):
    """The Parquet table's columns or types differ from the manifest's."""


class DigestMismatchError(BundleError):
    """The table's content digest differs from the signed one (a value, name or order changed)."""


class SealedKeyError(BundleError):
    """A sealed key cannot be opened: no private sealing key, another partner's key, or a
    sealed block that does not belong to its manifest."""


class ReconstructionError(BundleError):
    """The rebuilt key model does not reproduce the owner's probe predictions."""


# -- calls ----------------------------------------------------------------------------------
class ApiUsageError(EnfoError, TypeError):
    """A library function was given the wrong kind of object (e.g. a path where a TrustStore is
    expected); the message names the argument and what to pass."""


# -- partner-side model files ---------------------------------------------------------------
class ModelFileError(EnfoError, ValueError):
    """A saved partner model file cannot be read: not Parquet, truncated, or bad metadata."""


def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as _SkNotFittedError

    class NotFittedError(EnfoError, _SkNotFittedError):
        """A model was used before ``fit``.

        Subclasses scikit-learn's NotFittedError so that its conventions hold.
        """

    NotFittedError.__module__ = __name__
    NotFittedError.__qualname__ = "NotFittedError"
    return NotFittedError


_DEFINE_LOCK = threading.Lock()


def __getattr__(name: str):
    """Define :class:`NotFittedError` (and import scikit-learn) on first access, once."""
    if name == "NotFittedError":
        with _DEFINE_LOCK:
            if "NotFittedError" not in globals():
                globals()["NotFittedError"] = _not_fitted_error()
        return globals()["NotFittedError"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [name for name in dir() if name.endswith("Error")] + ["NotFittedError"]


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"NotFittedError"})
