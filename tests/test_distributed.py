"""Data-parallel forging: two gloo ranks under torchrun (loopback only) equal one process."""

import json
import os
import socket
import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.forge import forge
from enfo_sdk.stream import ParquetSource

SETTINGS = dict(rows=12, steps=40, batch_size=101, eval_every=10, patience=100, lr=0.05, seed=2)
SOURCE = dict(buffer_rows=800, refresh_every=15)

WORKER = r"""
import json, sys
import numpy as np
from enfo_sdk.distributed import init, shard_source
from enfo_sdk.forge import forge
from enfo_sdk.spec import KeySpec

folder, spec_file, out, settings, source_kw = sys.argv[1:6]
rank, world = init()
assert world == 2
spec = KeySpec.model_validate_json(open(spec_file).read())
source = shard_source(folder, "y", **json.loads(source_kw))
for mode in ("rival", "adaptable"):
    res = forge(source, None, spec, mode=mode, distributed=True, **json.loads(settings))
    np.save(f"{out}/{mode}-rows{rank}.npy", res.data.to_numpy(), allow_pickle=False)
    hist = res.history[["step", "loss", "val_rmse"]].to_numpy()
    np.save(f"{out}/{mode}-hist{rank}.npy", hist, allow_pickle=False)
    json.dump({k: v for k, v in res.metrics.items() if k.startswith("polish")} | {"polish": res.settings.get("polish")},
              open(f"{out}/{mode}-polish{rank}.json", "w"))
# a source whose sample differs between ranks: the polish refuses it on every rank
class Skewed(type(source)):
    def sample(self, max_rows, seed):
        X, y = super().sample(max_rows, seed)
        return X.iloc[rank:], y.iloc[rank:]
skewed = shard_source(folder, "y", **json.loads(source_kw))
skewed.__class__ = Skewed
try:
    forge(skewed, None, spec, distributed=True, **json.loads(settings))
    refused = ""
except Exception as e:
    refused = f"{type(e).__name__}: {e}"
open(f"{out}/skewed{rank}.txt", "w").write(refused)
skewed.close()
# interrupted on every rank at step 20 (checkpoint at 20), then resumed: the same rows
class Stop(Exception):
    pass
def stop(p):
    if p.step == 20:
        raise Stop
kw = dict(json.loads(settings), checkpoint=f"{out}/ckpt.npz", checkpoint_every=10)
try:
    forge(source, None, spec, distributed=True, callback=stop, **kw)
except Stop:
    pass
seen = []
res = forge(source, None, spec, distributed=True, resume=True, callback=lambda p: seen.append(p.step), **kw)
np.save(f"{out}/resumed-rows{rank}.npy", res.data.to_numpy(), allow_pickle=False)
np.save(f"{out}/resumed-steps{rank}.npy", np.array(seen), allow_pickle=False)
source.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    df = friedman3(n=4000, noise=0.1, seed=21)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), folder / "owner.parquet", row_group_size=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = encapsulate(df.drop(columns="y").iloc[:1000], df["y"].iloc[:1000],
                           search={"bandwidth": [1.0], "iterations": {"max": 80}})
    spec_file = folder / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    return folder, spec, spec_file


@pytest.fixture(scope="module")
def ranks(setup, tmp_path_factory):
    """Both modes forged once by two ranks under torchrun."""
    folder, _, spec_file = setup
    tmp_path = tmp_path_factory.mktemp("ranks")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(script),
           str(folder / "owner.parquet"), str(spec_file), str(tmp_path), json.dumps(SETTINGS),
           json.dumps(SOURCE)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {mode: ([np.load(tmp_path / f"{mode}-rows{r}.npy") for r in (0, 1)],
                   [np.load(tmp_path / f"{mode}-hist{r}.npy") for r in (0, 1)]) for mode in ("rival", "adaptable")} | {
        "resumed": [np.load(tmp_path / f"resumed-rows{r}.npy") for r in (0, 1)],
        "polish": {mode: [json.loads((tmp_path / f"{mode}-polish{r}.json").read_text()) for r in (0, 1)]
                   for mode in ("rival", "adaptable")},
        "skewed": [(tmp_path / f"skewed{r}.txt").read_text() for r in (0, 1)],
        "resumed-steps": [np.load(tmp_path / f"resumed-steps{r}.npy") for r in (0, 1)]}


@pytest.mark.parametrize("mode", ["rival", "adaptable"])
def test_two_ranks_equal_one_process_with_the_same_global_batch(setup, ranks, mode):
    folder, spec, _ = setup
    rows, hist = ranks[mode]
    np.testing.assert_array_equal(rows[0], rows[1])  # every rank took the same steps
    one = forge(ParquetSource(folder / "owner.parquet", "y", world=2, **SOURCE), None, spec, mode=mode,
                **SETTINGS)
    ref = one.data.to_numpy()
    assert np.max(np.abs(rows[0] - ref) / (np.abs(ref) + 1e-12)) < 1e-9
    np.testing.assert_allclose(hist[0][1:], one.history[["step", "loss", "val_rmse"]].to_numpy()[1:],
                               rtol=1e-9)
    # the targets' polish (mode rival): the same choice on both ranks and in one process, from
    # validation sums over both ranks' rows
    polish = ranks["polish"][mode]
    assert polish[0] == polish[1]
    if mode == "rival":
        assert polish[0]["polish"] == one.settings["polish"] == "labels"
        assert polish[0]["polish_lambda"] == one.metrics["polish_lambda"]
        assert polish[0]["polish_val_rmse_before"] == pytest.approx(one.metrics["polish_val_rmse_before"], rel=1e-9)
        # the polish's own figure, from validation sums over both ranks' rows: one process's
        assert polish[0]["polish_val_rmse_after"] == pytest.approx(one.metrics["polish_val_rmse_after"], rel=1e-9)
    else:
        assert polish[0] == {"polish": None} and "polish" not in one.settings
    # and the rows did move: a single rank's shard alone gives other rows
    half = forge(ParquetSource(folder / "owner.parquet", "y", world=2, ranks=[0], **SOURCE), None, spec,
                 mode=mode, **SETTINGS)
    assert np.max(np.abs(half.data.to_numpy() - ref)) > 1e-6


def test_ranks_refuse_to_polish_on_a_sample_that_differs_between_them(ranks):
    for refused in ranks["skewed"]:  # every rank raises (none waits alone in a collective)
        assert refused.startswith("ForgeError: the targets' polish needs the same training rows on every rank")


def test_ranks_resume_from_rank_0s_checkpoint_exactly(ranks):
    rows, resumed = ranks["rival"][0], ranks["resumed"]
    np.testing.assert_array_equal(resumed[0], rows[0])
    np.testing.assert_array_equal(resumed[1], rows[1])
    for steps in ranks["resumed-steps"]:  # evaluations every 10 steps; resumed after step 20
        assert steps.tolist() == [30, 40]
