"""Fixture factories and adversarial bundle builders for the bundle and partner tests.

Everything here acts as an attacker (or a careless copier) would: it reads a good bundle with
plain pyarrow (the tests trust their own files) and writes a changed copy.
"""

from __future__ import annotations

import json
import pickle
import warnings
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from enfo_sdk import KeySpec, encapsulate, forge
from enfo_sdk.bundle import ENVELOPE_KEY, Envelope, Signature, parse_envelope, sign_envelope
from enfo_sdk.bundle.write import encode_parquet
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.forge import ForgeResult


#: One valid hyperparameter set per key, for tests that run every key on a small table.
KEY_PARAMS = {
    "nu-method": {"bandwidth": 0.7, "iterations": 60, "nu": 1.0},
    "krr": {"bandwidth": 0.7, "alpha": 1e-4},
    "ridge": {"alpha": 1e-2},
    "ols": {},
}


# -- forged results (made once per session) -------------------------------------------------------
@lru_cache(maxsize=None)
def owner_table(n: int = 600) -> pd.DataFrame:
    return friedman3(n=n, seed=0)


@lru_cache(maxsize=None)
def forged() -> ForgeResult:
    """A small real forge: nu-method on Friedman #3, 20 rows, 30 steps."""
    df = owner_table()
    X, y = df.drop(columns="y"), df["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the one-point grid is "on the edge"
        spec = encapsulate(X, y, search={"bandwidth": [1.0], "iterations": {"max": 50}})
    return forge(X, y, spec, rows=20, steps=30)


def result_from_rows(rows: pd.DataFrame, spec: KeySpec, target: str = "y") -> ForgeResult:
    """A ForgeResult around given rows (for keys or sizes we do not want to forge)."""
    features = [c for c in rows.columns if c != target]
    return ForgeResult(
        data=rows[[*features, target]].reset_index(drop=True), spec=spec, history=pd.DataFrame(),
        metrics={"best_val_rmse": 0.1, "steps_run": 0}, settings={"mode": "rival", "seed": 0, "steps": 0},
        feature_names=features, target_name=target,
    )


def with_algorithm(spec: KeySpec, algorithm: str, **hyperparameters) -> KeySpec:
    return KeySpec(algorithm=algorithm, version=1, hyperparameters=hyperparameters, preprocessing=spec.preprocessing)


# -- reading and rewriting bundles ------------------------------------------------------------------
def read_parts(path) -> tuple[dict[str, np.ndarray], Envelope]:
    """The columns and envelope of one of *our* bundles (plain pyarrow; test files only)."""
    table = pq.read_table(path)
    envelope = parse_envelope(pq.read_metadata(path).metadata[ENVELOPE_KEY.encode()])
    return {c: table.column(c).to_numpy().copy() for c in table.column_names}, envelope


def rewrite(src, dst, *, columns=None, envelope: Envelope | None = None, footer: dict | None = None) -> Path:
    """Write ``dst`` like ``src`` with some parts replaced."""
    cols, env = read_parts(src)
    cols = cols if columns is None else columns
    env = env if envelope is None else envelope
    meta = {ENVELOPE_KEY: env.to_json()} if footer is None else footer
    Path(dst).write_bytes(encode_parquet(list(cols), cols, meta))
    return Path(dst)


def tamper_value(src, dst, column: str, row: int, factor: float = 1.0001) -> Path:
    cols, _ = read_parts(src)
    cols[column][row] *= factor
    return rewrite(src, dst, columns=cols)


def rename_column(src, dst, old: str, new: str) -> Path:
    cols, _ = read_parts(src)
    renamed = {(new if k == old else k): v for k, v in cols.items()}
    return rewrite(src, dst, columns=renamed)


def reorder_rows(src, dst, seed: int = 1) -> Path:
    cols, _ = read_parts(src)
    perm = np.random.default_rng(seed).permutation(len(next(iter(cols.values()))))
    return rewrite(src, dst, columns={k: v[perm] for k, v in cols.items()})


def flip_manifest_byte(src, dst) -> Path:
    """Change one byte of the signed manifest (a digit of a probe prediction), keep the signature."""
    _, env = read_parts(src)
    payload = bytearray(env.payload)
    i = payload.index(b'"predictions":[') + len(b'"predictions":[') + 3  # inside the first number
    assert chr(payload[i]).isdigit(), payload[i - 5:i + 5]
    payload[i] = ord("7") if payload[i] != ord("7") else ord("3")
    return rewrite(src, dst, envelope=replace(env, payload=bytes(payload)))


def resign(src, dst, key, *, keyid: str | None = None, payload_type: str | None = None, edit=None) -> Path:
    """Sign ``src``'s manifest (optionally edited as JSON) with ``key``; optionally claim ``keyid``."""
    _, env = read_parts(src)
    payload = env.payload
    if edit is not None:
        obj = json.loads(payload)
        edit(obj)
        payload = json.dumps(obj).encode()
    new = sign_envelope(payload, payload_type or env.payload_type, key)
    if keyid is not None:
        new = replace(new, signatures=(Signature(keyid, new.signatures[0].sig),))
    return rewrite(src, dst, envelope=new)


def truncate(src, dst, keep_fraction: float = 0.6) -> Path:
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * keep_fraction)])
    return Path(dst)


def not_parquet(dst) -> Path:
    Path(dst).write_text("x1,x2,x3,x4,y\n1,2,3,4,5\n")
    return Path(dst)


def parquet_without_envelope(src, dst) -> Path:
    pq.write_table(pq.read_table(src).replace_schema_metadata(None), dst)  # pandas-style default writer
    return Path(dst)


# -- a pickled Arrow extension type -----------------------------------------------------------------
PWNED: list[str] = []
DESERIALIZED: list[bytes] = []


def _pwned(tag: str) -> str:
    PWNED.append(tag)
    return tag


class _Payload:
    """Unpickling this calls _pwned: the stand-in for arbitrary code."""

    def __reduce__(self):
        return (_pwned, ("unpickled",))


class PickledExtensionType(pa.ExtensionType):
    """An extension type as careless user code registers it: metadata is a pickle."""

    def __init__(self):
        super().__init__(pa.float64(), "test.enfo.pickled")

    def __arrow_ext_serialize__(self) -> bytes:
        return pickle.dumps(_Payload())

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized):
        DESERIALIZED.append(serialized)
        pickle.loads(serialized)
        return cls()


def with_pickled_extension(src, dst, column: str = "y") -> Path:
    """``src``'s exact table and valid envelope, but ``column`` is stored as a pickled extension
    type, so the footer also carries an ``ARROW:schema`` with ``ARROW:extension:name``."""
    table = pq.read_table(src)
    _, env = read_parts(src)
    arrays = [
        pa.ExtensionArray.from_storage(PickledExtensionType(), table.column(c).combine_chunks()) if c == column
        else table.column(c).combine_chunks()
        for c in table.column_names
    ]
    t = pa.Table.from_arrays(arrays, names=table.column_names)
    t = t.replace_schema_metadata({ENVELOPE_KEY: env.to_json().decode()})
    pq.write_table(t, dst, store_schema=True)
    return Path(dst)

