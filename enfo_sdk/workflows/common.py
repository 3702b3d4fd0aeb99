"""What every workflow shares: progress reporting, error context, warnings, the contract's key.

A workflow (``enfo_sdk.workflows.*``) runs one job end to end for a CLI command or an embedding
program; the library below it knows nothing of contracts or terminals. Progress is reported
through ``progress(phase, fraction)``; the library prints nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from ..errors import EnfoError

#: ``progress(phase, fraction)``, fraction in [0, 1].
Progress = Callable[[str, float], None]


@contextmanager
def context(where: str) -> Iterator[None]:
    """Re-raise an EnfoError with ``where`` (file and key path) in front, same type."""
    try:
        yield
    except EnfoError as e:
        raise type(e)(f"{where}: {e}") from e


def data_inputs(contract) -> dict[str, Any]:
    """The contract's own input files by label, for :func:`enfo_sdk.outputs.check_outputs`:
    the contract file and the data source (a file or folder, or a SQL query's database file;
    built-in datasets and database servers are no files)."""
    src = contract.data.source
    inputs: dict[str, Any] = {"the contract": contract.file}
    if isinstance(src, str):
        inputs[contract.where("data.source")] = src
    else:
        from ..data.sql import parse_connection

        conn = parse_connection(src.connection)
        if conn.is_file:
            inputs[contract.where("data.source.connection")] = conn.target
    return inputs


def notify(progress: Progress | None, phase: str, fraction: float) -> None:
    """Report ``fraction`` of ``phase`` (clamped to [0, 1]) when a callback is given."""
    if progress is not None:
        progress(phase, min(1.0, max(0.0, float(fraction))))


@contextmanager
def collect_warnings(into: list[str]) -> Iterator[None]:
    """Record the warnings raised inside (all of them, DeprecationWarning aside) into ``into``."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
    into.extend(str(w.message) for w in seen if not issubclass(w.category, DeprecationWarning))


def encapsulate_contract(contract, X_train, y_train, progress: Progress | None, caught: list[str],
                         columns=None):
    """The contract's key chosen on the (encoded) training rows, reading raw tables through
    ``columns`` when given; warnings are appended to ``caught``."""
    from ..encapsulate import encapsulate

    k = contract.key
    search = None if k.search is None else dict(k.search)
    extra = {} if k.cv is None else {"cv": k.cv}
    algorithm = task_algorithm(contract, k.algorithm, "regression" if columns is None else columns.task)
    with collect_warnings(caught), context(contract.where("key")):
        spec = encapsulate(
            X_train, y_train, algorithm=algorithm, version=k.version, search=search,
            seed=contract.data.seed, progress=lambda f: notify(progress, "encapsulate", f),
            **extra,
        )
    return spec.with_columns(columns) if columns is not None else spec


#: The classification key a classification task uses when the contract names its regression form.
CLASSIFIER_OF = {"nu-method": "nu-method-classifier", "krr": "krr-classifier"}


def task_algorithm(contract, algorithm: str, task: str) -> str:
    """The key for ``task``: ``nu-method``/``krr`` become their classifiers for a classification
    task (the same maths on one-hot targets); any other mismatch is a ConfigError."""
    from ..errors import ConfigError
    from ..keys import get_key

    if get_key(algorithm).task == task:
        return algorithm
    if task == "classification" and algorithm in CLASSIFIER_OF:
        return CLASSIFIER_OF[algorithm]
    raise ConfigError(f"{contract.where('key.algorithm')}: {algorithm!r} is a {get_key(algorithm).task} key "
                      f"but the task is {task}; use " + (", ".join(CLASSIFIER_OF.values()) if task ==
                      "classification" else "nu-method, krr, ridge or ols"))


def report_meta(contract, spec, notes: list, caught: list, **extra) -> dict[str, Any]:
    """The ``meta`` block of an evaluation or sweep report: where it came from and the key."""
    return {
        "contract": str(contract.file) if contract.file else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
        "key": key_summary(spec),
        "notes": notes, "warnings": caught,
    }


def key_summary(spec) -> dict[str, Any]:
    """The key as results print it: algorithm, version, hyperparameters."""
    return {"algorithm": spec.algorithm, "version": spec.version,
            "hyperparameters": dict(spec.hyperparameters)}


def run_rows_curve(curve, contract, spec, split, X_train, y_train, *, sizes, seeds: int, external_rows: int,
                   progress: Progress | None, notes: list) -> dict | None:
    """The evaluation's rows curve (``curve``: :func:`enfo_sdk.evaluate.rows_curve` or its
    classification form) on the protocol's test rows with the contract's forging settings;
    None without ``sizes``. Skipped sizes are added to ``notes``."""
    from ..evaluate.core import split_holdout

    if not sizes:
        return None
    _, test_sub = split_holdout(len(split.y_test), external_rows, contract.data.seed)
    kw = {k: v for k, v in contract.forge.forge_kwargs().items() if k not in ("rows", "seed")}
    notify(progress, "curve", 0.0)
    with context(contract.where("forge")):
        out = curve(spec, X_train, y_train, split.X_test[test_sub], split.y_test[test_sub], sizes=tuple(sizes),
                    seeds=tuple(range(seeds)), forge_kwargs=kw, progress=lambda f: notify(progress, "curve", f))
    if out["skipped"]:
        notes.append(f"Row counts {out['skipped']} skipped: not fewer than the owner rows forging learns from.")
    return out
