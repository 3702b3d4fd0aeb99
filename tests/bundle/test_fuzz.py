"""Property: a mutated bundle is refused with an EnfoError (never another exception, never in
over a second), or -- when only bytes the Parquet reader skips changed -- verifies to exactly the
signed manifest and rows. The long run is benchmarks/fuzz_bundle.py (10,000 mutants)."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enfo_sdk.bundle import verify
from enfo_sdk.errors import EnfoError

MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**9), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10**9), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**9), st.binary(min_size=1, max_size=32)),
    st.tuples(st.just("set"), st.integers(0, 10**9), st.integers(0, 255)),
)


def mutate(raw: bytes, mutation) -> bytes:
    kind, where, arg = mutation
    i = where % len(raw)
    if kind == "flip":
        return raw[:i] + bytes([raw[i] ^ (1 << arg)]) + raw[i + 1:]
    if kind == "truncate":
        return raw[:i]
    if kind == "insert":
        return raw[:i] + arg + raw[i:]
    value = arg if arg != raw[i] else arg ^ 0xFF
    return raw[:i] + bytes([value]) + raw[i + 1:]


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=MUTATIONS)
def test_a_mutated_bundle_is_refused_or_holds_the_signed_content(bundle, trust, verified, tmp_path, mutation):
    target = tmp_path / "mutant.parquet"
    target.write_bytes(mutate(bundle[0].read_bytes(), mutation))
    t = time.perf_counter()
    try:
        got = verify(target, trust)
    except EnfoError:
        pass
    else:  # only skipped framing bytes changed: the signed content, exactly
        assert got.manifest == verified.manifest and got.data.equals(verified.data), mutation
    assert time.perf_counter() - t < 1.0, mutation
