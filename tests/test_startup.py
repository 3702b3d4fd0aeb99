"""Start-up cost: what importing the SDK and running the CLIs' light commands loads.

Each check runs in a fresh interpreter (``subprocess``), since this test process has long
imported torch and scikit-learn. A module "made unimportable" is refused by a finder placed
first on ``sys.meta_path`` before anything else runs, so ``import torch`` raises
ModuleNotFoundError there, as when torch is not installed. (Setting ``sys.modules["torch"] =
None`` does that too, but scipy's array-API helpers, which scikit-learn calls, then fail on
the ``None`` entry -- something a missing torch never causes.) The format-v2 check runs the
real entry point, ``python -m partner_cli.main``, with the same finder installed by a
``sitecustomize.py`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from enfo_sdk.bundle import read_envelope_unverified, write_bundle
from enfo_sdk.signing import generate_private_key, save_public_key

try:  # tests/ is on sys.path (pytest's rootdir-less import mode)
    from bundle import helpers
except ImportError:  # pragma: no cover - if tests/ ever becomes a package
    from tests.bundle import helpers

HEAVY = ("torch", "sklearn", "matplotlib")

ROOT = Path(__file__).resolve().parents[1]


def refuse_source(block) -> str:
    """Python source that makes the modules ``block`` unimportable, as if not installed."""
    return f"""import sys

class Refuse:
    blocked = {sorted(block)!r}

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Refuse)
"""


# argv: [python source to run, json list of modules that must be unimportable]; checks that they
# are, runs the source, prints the heavy modules loaded
_REPORT = r"""
import importlib.util, json, sys, traceback

def refused(name):
    try:
        importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return True
    return False

if not all(refused(m) for m in json.loads(sys.argv[2])):
    sys.exit("harness: a module to block is importable")
code = 0
try:
    exec(sys.argv[1])
except SystemExit as e:
    code = e.code
except BaseException:
    traceback.print_exc()
    code = 1
loaded = sorted(m for m in ("torch", "sklearn", "matplotlib", "pandas", "scipy") if sys.modules.get(m))
print("\nLOADED " + json.dumps(loaded))
sys.exit(code)
"""


def run_fresh(source: str, block=(), *, sitecustomize_in: Path | None = None,
              ) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``source`` in a new interpreter with ``block`` unimportable; (process, heavy modules
    loaded). The blocker runs first in the harness, or, with ``sitecustomize_in`` (a folder),
    from a ``sitecustomize.py`` there on ``PYTHONPATH``, before the interpreter runs anything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENFO_")}
    harness = refuse_source(block) + _REPORT
    if sitecustomize_in is not None:
        sitecustomize_in.mkdir(parents=True, exist_ok=True)
        (sitecustomize_in / "sitecustomize.py").write_text(refuse_source(block))
        env["PYTHONPATH"] = os.pathsep.join([str(sitecustomize_in), str(ROOT)])
        harness = _REPORT
    proc = subprocess.run(
        [sys.executable, "-c", harness, source, json.dumps(list(block))],
        capture_output=True, text=True, env=env, timeout=300,
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("LOADED ")]
    assert marker, f"harness did not finish:\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(marker[-1][len("LOADED "):])


def cli_call(app: str, args: list[str]) -> str:
    """Source that runs ``app``'s click group on ``args`` as the console script would."""
    module = {"enfo-partner": "partner_cli.main", "enfo-owner": "owner_cli.main"}[app]
    return f"from {module} import cli\ncli({args!r}, prog_name={app!r})"


# -- --help of both CLIs ------------------------------------------------------------------------
@pytest.mark.parametrize("app", ["enfo-partner", "enfo-owner"])
def test_help_loads_no_heavy_module(app):
    proc, loaded = run_fresh(cli_call(app, ["--help"]))
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout and "Commands:" in proc.stdout
    assert not set(loaded) & set(HEAVY), loaded


@pytest.mark.parametrize("app", ["enfo-partner", "enfo-owner"])
def test_every_subcommand_help_loads_no_heavy_module(app):
    module = {"enfo-partner": "partner_cli.main", "enfo-owner": "owner_cli.main"}[app]
    source = (
        f"from {module} import cli\n"
        "names = sorted(cli.commands)\n"
        "assert names, 'no subcommands'\n"
        "for name in names:\n"
        f"    cli([name, '--help'], prog_name={app!r}, standalone_mode=False)\n"
        "print('HELPED', len(names))\n"
    )
    proc, loaded = run_fresh(source)
    assert proc.returncode == 0, proc.stderr
    assert "HELPED" in proc.stdout and proc.stdout.count("Usage:") >= 2
    assert not set(loaded) & set(HEAVY), loaded


# -- importing the library ------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["enfo_sdk", "enfo_sdk.errors", "enfo_sdk.cli_support"])
def test_light_imports_load_no_heavy_module(module):
    proc, loaded = run_fresh(f"import {module}")
    assert proc.returncode == 0, proc.stderr
    assert loaded == [], loaded


def test_enfo_sdk_names_resolve_lazily_to_the_submodules_objects():
    import enfo_sdk
    from enfo_sdk import encapsulate as encapsulate_module_fn, errors, forge as forge_fn, keys, spec

    assert set(enfo_sdk.__all__) <= set(dir(enfo_sdk))
    for name in enfo_sdk.__all__:
        assert getattr(enfo_sdk, name) is not None, name
    assert enfo_sdk.KeySpec is spec.KeySpec
    assert enfo_sdk.KeyRegressor is spec.KeyRegressor
    assert enfo_sdk.EnfoError is errors.EnfoError
    assert enfo_sdk.get_key is keys.get_key and enfo_sdk.available_keys is keys.available
    assert callable(forge_fn) and forge_fn.__module__ == "enfo_sdk.forge"
    assert callable(encapsulate_module_fn) and encapsulate_module_fn.__module__ == "enfo_sdk.encapsulate"
    with pytest.raises(AttributeError, match="no_such_name"):
        enfo_sdk.no_such_name  # noqa: B018


def test_forge_and_encapsulate_stay_functions_when_their_submodules_load_first():
    source = (
        "import enfo_sdk.forge, enfo_sdk.encapsulate\n"
        "from enfo_sdk.forge import ForgeResult\n"
        "from enfo_sdk import forge, encapsulate\n"
        "import enfo_sdk, types\n"
        "assert isinstance(forge, types.FunctionType), forge\n"
        "assert isinstance(encapsulate, types.FunctionType), encapsulate\n"
        "assert enfo_sdk.forge is forge and enfo_sdk.ForgeResult is ForgeResult\n"
        "assert isinstance(__import__('sys').modules['enfo_sdk.forge'], types.ModuleType)\n"
    )
    proc, loaded = run_fresh(source)
    assert proc.returncode == 0, proc.stderr
    assert "torch" in loaded  # forging does need torch; only its name resolution is checked here


def test_not_fitted_error_is_one_class_and_scikit_learns():
    from sklearn.exceptions import NotFittedError as SkNotFittedError

    from enfo_sdk import errors
    from enfo_sdk.errors import EnfoError, NotFittedError

    assert NotFittedError is errors.NotFittedError
    assert issubclass(NotFittedError, SkNotFittedError) and issubclass(NotFittedError, EnfoError)
    assert "NotFittedError" in errors.__all__ and "NotFittedError" in dir(errors)
    assert NotFittedError.__module__ == "enfo_sdk.errors" and NotFittedError.__qualname__ == "NotFittedError"


# -- keys without torch ---------------------------------------------------------------------------
KEY_PARAMS = helpers.KEY_PARAMS


def test_keys_fit_and_predict_without_torch_match_this_process_bitwise(tmp_path):
    from enfo_sdk.keys import get_key

    g = np.random.default_rng(3)
    Z, t, Zq = g.standard_normal((30, 3)), g.standard_normal(30), g.standard_normal((7, 3))
    np.savez(tmp_path / "in.npz", Z=Z, t=t, Zq=Zq)
    source = (
        "import json, numpy as np\n"
        "from enfo_sdk.keys import get_key\n"
        f"params = {KEY_PARAMS!r}\n"
        f"d = np.load({str(tmp_path / 'in.npz')!r})\n"
        "out = {}\n"
        "for name, p in params.items():\n"
        "    key = get_key(name)\n"
        "    p = key.check_params(p)\n"
        "    out[name] = key.predict(key.fit(d['Z'], d['t'], p), d['Zq'], p)\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, **out)\n"
    )
    proc, loaded = run_fresh(source, block=["torch"])
    assert proc.returncode == 0, proc.stderr
    assert "torch" not in loaded
    got = np.load(tmp_path / "out.npz")
    for name, p in KEY_PARAMS.items():
        key = get_key(name)
        p = key.check_params(p)
        want = key.predict(key.fit(Z, t, p), Zq, p)
        np.testing.assert_array_equal(got[name], want, err_msg=name)


def test_torch_fit_still_imports_torch_where_used():
    source = (
        "from enfo_sdk.keys import get_key\n"
        "get_key('krr').torch_fit(None, None, {'bandwidth': 1.0, 'alpha': 1.0})\n"
    )
    proc, _ = run_fresh(source, block=["torch"])
    assert proc.returncode == 1 and "No module named 'torch' (blocked by the test)" in proc.stderr


# -- enfo-partner verify without torch --------------------------------------------------------------
@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory):
    """(bundle path, owner public key path, owner private key) of a real forged nu-method bundle."""
    folder = tmp_path_factory.mktemp("startup")
    key = generate_private_key()
    pub = save_public_key(key.public_key(), folder / "owner.pub")
    path = folder / "bundle.parquet"
    write_bundle(path, helpers.forged(), signing_key=key, owner_name="acme")
    return path, pub, key


def test_partner_verify_runs_with_torch_unimportable(signed_bundle):
    path, pub, _ = signed_bundle
    args = ["verify", str(path), "--trust", str(pub), "--json"]
    proc, loaded = run_fresh(cli_call("enfo-partner", args), block=["torch"])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout[: proc.stdout.rindex("LOADED")])
    assert summary["verified"] is True and summary["key"]["algorithm"] == "nu-method"
    assert summary["rows"] == 20
    assert loaded == [], loaded  # not even pandas or scipy: rows stay numpy, the key fit is numpy


def test_partner_verify_without_torch_still_checks_the_probes(signed_bundle, tmp_path):
    path, pub, key = signed_bundle

    def shift_first_prediction(manifest):
        manifest["probes"]["predictions"][0] *= 1.001

    bad = helpers.resign(path, tmp_path / "bad.parquet", key, edit=shift_first_prediction)
    args = ["verify", str(bad), "--trust", str(pub)]
    proc, loaded = run_fresh(cli_call("enfo-partner", args), block=["torch"])
    assert proc.returncode == 1, proc.stdout
    assert "does not reproduce the owner's predictions at 1 of 8 probe points" in proc.stderr
    assert "torch" not in loaded


def test_partner_augment_runs_with_torch_unimportable(signed_bundle, tmp_path):
    path, pub, _ = signed_bundle
    own = tmp_path / "own.csv"
    helpers.owner_table(200).to_csv(own, index=False)
    args = ["augment", str(path), "--trust", str(pub), "--own", str(own), "--cv", "3", "--json"]
    proc, loaded = run_fresh(cli_call("enfo-partner", args), block=["torch"])
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout[: proc.stdout.rindex("LOADED")])
    assert body["own_rows"] == 200 and body["bundle_rows"] == 20 and body["folds"] == 3
    assert np.isfinite([body["own_rmse"], body["augmented_rmse"], body["bundle_only_rmse"]]).all()
    assert "torch" not in loaded


def test_column_values_read_from_the_arrow_buffer_equal_to_numpy():
    import pyarrow as pa

    from enfo_sdk.bundle.verify import _float64_values

    g = np.random.default_rng(0)
    a, b = g.standard_normal(7), g.standard_normal(5)
    a[2] = -0.0
    chunked = pa.chunked_array([pa.array(a).slice(2, 4), pa.array(b)])  # an offset, two chunks
    got = _float64_values(chunked)
    want = chunked.to_numpy()
    assert got.dtype == np.float64 and got.flags.writeable and got.flags.c_contiguous
    assert got.tobytes() == want.tobytes()  # every bit, -0.0 included
    assert _float64_values(pa.chunked_array([pa.array(a).slice(3, 1)])).tobytes() == a[3:4].tobytes()
    assert _float64_values(pa.chunked_array([], type=pa.float64())).shape == (0,)


# -- a format-v2 bundle (typed columns) through the real entry point, torch not importable ----------
@pytest.fixture(scope="module")
def signed_v2_bundle(tmp_path_factory):
    """(bundle, owner public key, owner private key): a real forge on a mixed-type table (a
    categorical and a yes/no column beside Friedman #3's numbers), so the key carries its column
    encoding and the bundle is format 2."""
    from enfo_sdk import KeySpec, Preprocessing, forge
    from enfo_sdk.data.columns import ColumnTransform, infer_schema

    folder = tmp_path_factory.mktemp("startup_v2")
    df = helpers.owner_table(200).copy()
    df["region"] = np.where(df["x1"] > 50, "north", "south")
    df["member"] = np.where(df["x4"] > 6, "yes", "no")
    columns = ColumnTransform.fit(df, infer_schema(df, "y"), "y")
    X = columns.encode_frame(df)
    y = pd.Series(columns.target_values(df), name="y")
    pre = Preprocessing.fit(X.to_numpy(), y.to_numpy())
    spec = KeySpec(algorithm="nu-method", version=1, hyperparameters={"bandwidth": 1.0, "iterations": 30},
                   preprocessing=pre).with_columns(columns)
    result = forge(X, y, spec, rows=12, steps=10, seed=0)
    key = generate_private_key()
    pub = save_public_key(key.public_key(), folder / "owner.pub")
    path = folder / "bundle_v2.parquet"
    write_bundle(path, result, signing_key=key, owner_name="acme")
    return path, pub, key


def module_call(args: list[str]) -> str:
    """Source that runs ``python -m partner_cli.main ARGS`` (the module's ``__main__`` block)."""
    return (f"import runpy\nsys.argv = ['enfo-partner', *{args!r}]\n"
            "runpy.run_module('partner_cli.main', run_name='__main__', alter_sys=True)\n")


def test_a_sitecustomize_blocker_refuses_torch_before_anything_runs(tmp_path):
    proc, _ = run_fresh("import torch", ["torch"], sitecustomize_in=tmp_path / "site")
    assert proc.returncode == 1 and "No module named 'torch' (blocked by the test)" in proc.stderr
    # and the harness itself refuses to run when the blocker is missing
    proc = subprocess.run([sys.executable, "-c", _REPORT, "pass", json.dumps(["json"])],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "a module to block is importable" in proc.stderr


def test_partner_verify_of_a_v2_bundle_runs_with_torch_unimportable(signed_v2_bundle, tmp_path):
    path, pub, _ = signed_v2_bundle
    manifest, _ = read_envelope_unverified(path)
    assert manifest.format_version == 2 and manifest.key.columns is not None
    args = ["verify", str(path), "--trust", str(pub), "--json"]
    proc, loaded = run_fresh(module_call(args), ["torch"], sitecustomize_in=tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout[: proc.stdout.rindex("LOADED")])
    assert summary["verified"] is True and summary["rows"] == 12
    assert {"region=north", "region=south", "member"} <= set(summary["features"])
    assert loaded == [], loaded  # the column encoding is parsed, never applied: no pandas either


def test_partner_verify_of_a_v2_bundle_without_torch_still_checks_the_probes(signed_v2_bundle, tmp_path):
    path, pub, key = signed_v2_bundle

    def shift_last_prediction(manifest):
        manifest["probes"]["predictions"][-1] *= 1.001

    bad = helpers.resign(path, tmp_path / "bad.parquet", key, edit=shift_last_prediction)
    args = ["verify", str(bad), "--trust", str(pub)]
    proc, loaded = run_fresh(module_call(args), ["torch"], sitecustomize_in=tmp_path / "site")
    assert proc.returncode == 1, proc.stdout
    assert "does not reproduce the owner's predictions at 1 of 8 probe points" in proc.stderr
    assert "torch" not in loaded
