"""Fuzz the partner's inputs: mutated bundles, models, contracts and trust files.

Every mutant of a valid bundle must be refused by ``verify`` with an ``EnfoError`` -- never
accepted with content other than the signed one, never another exception, never slower than 1 s. A mutant that changes only bytes the Parquet reader skips (a Thrift field of a page header
the reader does not need) decodes to exactly the signed rows and manifest; it verifies, by design
(docs/bundle-format.md, section 2), and is counted apart as "same content". A saved model is not
signed but carries an integrity digest (state and metadata): its mutants follow the bundle's rules.
Contracts and trust files carry nothing of the kind, so a mutant may be valid (a dropped comment,
a changed number); for them the rules are: an ``EnfoError`` or a clean load, never another
exception, never over 1 s.

Mutations: single bit flips, byte overwrites, truncation, insertion of random bytes, footer
edits (an extra entry, an Arrow schema, the envelope removed or replaced), envelope edits (payload
type, keyid, signature, payload bytes, fields added or dropped, deep nesting) and column edits
(two columns swapped, a column renamed, rows reordered) re-encoded into a well-formed Parquet file.

Usage::

    python benchmarks/fuzz_bundle.py                       # 10,000 bundles, then 1,000 of each other kind
    python benchmarks/fuzz_bundle.py --bundles 500 --others 100 --seed 1

Prints counts per mutation (accepted, same content, EnfoError, other exception, over 1 s) and
every finding with its mutation, so it can be replayed; exits 1 when a bundle mutant was accepted
with changed content, or any mutant raised a non-EnfoError or took over 1 s. ``atheris`` is not
needed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enfo_sdk import encapsulate, forge, partner  # noqa: E402
from enfo_sdk.bundle import ENVELOPE_KEY, verify, write_bundle  # noqa: E402
from enfo_sdk.bundle.write import encode_parquet  # noqa: E402
from enfo_sdk.contract import parse_contract  # noqa: E402
from enfo_sdk.data.builtin import friedman3  # noqa: E402
from enfo_sdk.errors import EnfoError  # noqa: E402
from enfo_sdk.signing import TrustStore, generate_private_key, load_trust, public_key_line  # noqa: E402

SLOW = 1.0  # seconds

CONTRACT = """version: 1
data: {source: builtin:friedman3, target: y, test_fraction: 0.5, options: {n: 600}}
key: {algorithm: nu-method, search: {bandwidth: [1.0], iterations: {max: 50}}}
forge: {rows: 20, steps: 30, seed: 0}
output: {bundle: out/b.parquet, report: out/r.json}
partner: {name: beta, expires_in_days: 30}
"""


# -- the valid inputs ------------------------------------------------------------------------------
def same_as(verified):
    """A check that a verified mutant holds exactly the signed manifest and rows of ``verified``."""
    def same(got) -> bool:
        return got.manifest == verified.manifest and got.data.equals(verified.data)
    return same


def same_model_as(good):
    """A check that a loaded mutant model has exactly ``good``'s key, names and state."""
    def same(got) -> bool:
        return (got.spec == good.spec and list(got.feature_names) == list(good.feature_names)
                and set(got.state_) == set(good.state_)
                and all(np.array_equal(got.state_[k], good.state_[k]) for k in good.state_))
    return same


def make_inputs(folder: Path):
    df = friedman3(n=600, seed=0)
    X, y = df.drop(columns="y"), df["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = encapsulate(X, y, search={"bandwidth": [1.0], "iterations": {"max": 50}})
    result = forge(X, y, spec, rows=20, steps=30)
    key = generate_private_key()
    bundle = folder / "good.parquet"
    write_bundle(bundle, result, signing_key=key, owner_name="acme")
    trust = TrustStore()
    trust.add("acme", key.public_key())
    verified = verify(bundle, trust)
    model = folder / "model.parquet"
    partner.save_model(partner.train(verified), model, verified)
    trust_text = f"acme {public_key_line(key.public_key(), 'acme')}\n".encode()
    return bundle.read_bytes(), trust, model.read_bytes(), trust_text, verified


def parts(raw: bytes, folder: Path):
    """Columns and footer of a good bundle (read with plain pyarrow: our own file)."""
    import pyarrow.parquet as pq

    p = folder / "parts.parquet"
    p.write_bytes(raw)
    table = pq.read_table(p)
    meta = pq.read_metadata(p).metadata
    return {c: table.column(c).to_numpy().copy() for c in table.column_names}, meta[ENVELOPE_KEY.encode()]


# -- mutations (each returns (bytes, description)) ---------------------------------------------------
def bit_flip(raw, rng, **_):
    i, b = int(rng.integers(len(raw))), int(rng.integers(8))
    out = bytearray(raw)
    out[i] ^= 1 << b
    return bytes(out), f"bit {b} of byte {i}"


def byte_set(raw, rng, **_):
    i, v = int(rng.integers(len(raw))), int(rng.integers(256))
    out = bytearray(raw)
    if out[i] == v:
        v ^= 0xFF
    out[i] = v
    return bytes(out), f"byte {i} := {v}"


def truncate(raw, rng, **_):
    n = int(rng.integers(len(raw)))
    return raw[:n], f"first {n} of {len(raw)} bytes"


def insert(raw, rng, **_):
    i, k = int(rng.integers(len(raw) + 1)), int(rng.integers(1, 64))
    return raw[:i] + rng.bytes(k) + raw[i:], f"{k} random bytes at {i}"


def footer_edit(raw, rng, columns, envelope, **_):
    choice = int(rng.integers(4))
    if choice == 0:
        meta, what = {ENVELOPE_KEY: envelope, "extra": b"x"}, "an extra footer entry"
    elif choice == 1:
        meta, what = {ENVELOPE_KEY: envelope, "ARROW:schema": base64.b64encode(rng.bytes(64))}, "an Arrow schema"
    elif choice == 2:
        meta, what = {}, "no envelope"
    else:
        meta = {ENVELOPE_KEY: rng.bytes(int(rng.integers(1, 400))).decode("latin-1").encode("utf-8")}
        what = "random envelope text"
    return encode_parquet(list(columns), columns, meta), what


def envelope_edit(raw, rng, columns, envelope, **_):
    env = json.loads(envelope)
    choice = int(rng.integers(8))
    if choice == 0:
        env["payloadType"] += "x"; what = "payload type"
    elif choice == 1:
        env["signatures"][0]["keyid"] = "SHA256:" + base64.b64encode(rng.bytes(32)).decode().rstrip("="); what = "keyid"
    elif choice == 2:
        sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
        sig[int(rng.integers(len(sig)))] ^= 1 << int(rng.integers(8))
        env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode(); what = "signature bit"
    elif choice == 3:
        payload = bytearray(base64.b64decode(env["payload"]))
        payload[int(rng.integers(len(payload)))] ^= 1 << int(rng.integers(8))
        env["payload"] = base64.b64encode(bytes(payload)).decode(); what = "payload bit"
    elif choice == 4:
        env["signatures"] = []; what = "no signatures"
    elif choice == 5:
        env["extra"] = 1; what = "extra field"
    elif choice == 6:
        del env["payload"]; what = "no payload"
    else:
        depth = int(rng.integers(100, 200_000))
        body = b"[" * depth + b"]" * depth
        return encode_parquet(list(columns), columns, {ENVELOPE_KEY: body}), f"nested {depth} deep"
    return encode_parquet(list(columns), columns, {ENVELOPE_KEY: json.dumps(env).encode()}), what


def column_edit(raw, rng, columns, envelope, **_):
    names = list(columns)
    choice = int(rng.integers(3))
    if choice == 0:
        i, j = rng.choice(len(names), 2, replace=False)
        names[i], names[j] = names[j], names[i]
        return encode_parquet(names, columns, {ENVELOPE_KEY: envelope}), f"columns {i} and {j} swapped"
    if choice == 1:
        i = int(rng.integers(len(names)))
        renamed = {(n + "_" if k == i else n): v for k, (n, v) in enumerate(columns.items())}
        return encode_parquet(list(renamed), renamed, {ENVELOPE_KEY: envelope}), f"column {names[i]!r} renamed"
    perm = rng.permutation(len(next(iter(columns.values()))))
    shuffled = {n: v[perm] for n, v in columns.items()}
    return encode_parquet(names, shuffled, {ENVELOPE_KEY: envelope}), "rows reordered"


BUNDLE_MUTATIONS = [bit_flip, byte_set, truncate, insert, footer_edit, envelope_edit, column_edit]
BYTE_MUTATIONS = [bit_flip, byte_set, truncate, insert]


def text_mutation(raw, rng):
    """A byte mutation, or a line duplicated / dropped / swapped (text formats)."""
    if rng.random() < 0.5:
        return BYTE_MUTATIONS[int(rng.integers(len(BYTE_MUTATIONS)))](raw, rng)
    lines = raw.split(b"\n")
    i = int(rng.integers(len(lines)))
    choice = int(rng.integers(3))
    if choice == 0:
        lines.insert(i, lines[i]); what = f"line {i + 1} duplicated"
    elif choice == 1:
        del lines[i]; what = f"line {i + 1} dropped"
    else:
        j = int(rng.integers(len(lines)))
        lines[i], lines[j] = lines[j], lines[i]; what = f"lines {i + 1} and {j + 1} swapped"
    return b"\n".join(lines), what


# -- running ------------------------------------------------------------------------------------------
class Tally:
    def __init__(self):
        self.counts = defaultdict(Counter)
        self.findings: list[str] = []
        self.slowest = 0.0

    def run(self, kind: str, mutation: str, what: str, call, must_refuse: bool, same=None):
        t = time.perf_counter()
        try:
            got = call()
            outcome = "same content" if same is not None and same(got) else "accepted"
        except EnfoError:
            outcome = "EnfoError"
        except Exception as e:  # noqa: BLE001 -- the point is to count these
            outcome = "other"
            self.findings.append(f"{kind}/{mutation} ({what}): {type(e).__name__}: {str(e)[:160]}")
        dt = time.perf_counter() - t
        self.slowest = max(self.slowest, dt)
        c = self.counts[(kind, mutation)]
        c[outcome] += 1
        if dt > SLOW:
            c["over 1 s"] += 1
            self.findings.append(f"{kind}/{mutation} ({what}): {dt:.2f} s")
        if must_refuse and outcome == "accepted":
            self.findings.append(f"{kind}/{mutation} ({what}): ACCEPTED with changed content")

    def report(self) -> bool:
        cols = ("accepted", "same content", "EnfoError", "other", "over 1 s")
        print(f"{'input/mutation':<24}{'mutants':>8}" + "".join(f"{c:>14}" for c in cols))
        total: Counter = Counter()
        for (kind, mutation), c in sorted(self.counts.items()):
            n = sum(c[k] for k in cols[:4])
            if kind == "bundle":
                total.update({"mutants": n, **c})
            print(f"{kind + '/' + mutation:<24}{n:>8}" + "".join(f"{c[k]:>14}" for k in cols))
        print(f"{'bundles, all':<24}{total['mutants']:>8}" + "".join(f"{total[k]:>14}" for k in cols))
        print(f"slowest mutant: {self.slowest:.3f} s")
        for f in self.findings[:50]:
            print("  " + f)
        return not self.findings


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundles", type=int, default=10_000)
    ap.add_argument("--others", type=int, default=1_000, help="mutants each of models, contracts, trust files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bundle, trust, model, trust_text, verified = make_inputs(folder)
        same = same_as(verified)
        model_path = folder / "model.parquet"
        same_model = same_model_as(partner.load_model(model_path))
        columns, envelope = parts(bundle, folder)
        target = folder / "mutant.parquet"
        t0 = time.perf_counter()
        for _ in range(args.bundles):
            mutate = BUNDLE_MUTATIONS[int(rng.integers(len(BUNDLE_MUTATIONS)))]
            data, what = mutate(bundle, rng, columns=columns, envelope=envelope)
            target.write_bytes(data)
            tally.run("bundle", mutate.__name__, what, lambda: verify(target, trust), must_refuse=True,
                      same=same)
        print(f"{args.bundles} bundle mutants in {time.perf_counter() - t0:.1f} s")
        for _ in range(args.others):
            mutate = BYTE_MUTATIONS[int(rng.integers(len(BYTE_MUTATIONS)))]
            data, what = mutate(model, rng)
            target.write_bytes(data)
            tally.run("model", mutate.__name__, what, lambda: partner.load_model(target), must_refuse=True,
                      same=same_model)
        text = CONTRACT.encode()
        for _ in range(args.others):
            data, what = text_mutation(text, rng)
            tally.run("contract", "text", what, lambda: parse_contract(data.decode("utf-8", "replace"), "key.yaml"),
                      must_refuse=False)
        store = folder / "trust.txt"
        for _ in range(args.others):
            data, what = text_mutation(trust_text, rng)
            store.write_bytes(data)
            tally.run("trust", "text", what, lambda: load_trust([store]), must_refuse=False)
    return 0 if tally.report() else 1


if __name__ == "__main__":
    sys.exit(main())
