"""The signed rivalry record: covered by the signature, parsed strictly, optional for old bundles."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from enfo_sdk.bundle import RivalryRecord, verify, write_bundle
from enfo_sdk.errors import ManifestError, SignatureError
from enfo_sdk.report_rivalry import NO_RECORD, format_record

from . import helpers

RECORD = {
    "version": 1, "task": "regression",
    "protocol": {
        "name": "enfo-one-protocol-v1", "split_seed": 0, "test_fraction": 0.2,
        "rows": {"train": 480, "held_out": 120, "outside": 60, "test": 60, "forged": 40, "full_reference": 480},
        "bootstrap": {"resamples": 1000, "level": 0.95, "seed": 20261201},
        "attackers": {"families": ["ridge", "knn"], "cv_folds": 5, "seed": 0, "budget_seconds": 60.0,
                      "seconds": 3.25},
    },
    "key": {"full": {"rmse": 0.125}, "forged": {"rmse": 0.15}, "sampled": {"rmse": 0.3}},
    "key_vs_full": {"value": 1.2, "low": 1.05, "high": 1.4},
    "key_vs_sampled": {"value": 0.5, "low": 0.4, "high": 0.6},
    "attackers": {"ridge": {"rmse": 0.3, "ratio": 2.0, "params": {"alpha": 1.0}},
                  "knn": {"rmse": 0.225, "ratio": 1.5, "params": {"n_neighbors": 5, "weights": "distance"}}},
    "best": "knn", "best_ratio": {"value": 1.5, "low": 1.25, "high": 1.75}, "target": 1.2,
    "outside": {"value": 1.1, "low": 0.95, "high": 1.3},
    "mcaa": {"accuracy": 0.51, "candidates": 120},
}


@pytest.fixture(scope="module")
def recorded(result, owner_key, bundle_dir):
    path = bundle_dir / "recorded.parquet"
    manifest = write_bundle(path, result, signing_key=owner_key, owner_name="Acme Retail",
                            rivalry=RivalryRecord.model_validate(RECORD))
    return path, manifest


def _numbers(obj, path=()):
    """Every number in a JSON object, as (path, value)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, (*path, i))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def _edit_keep_signature(src, dst, edit):
    """The manifest edited as JSON, the owner's original signature kept."""
    _, env = helpers.read_parts(src)
    body = json.loads(env.payload)
    edit(body)
    return helpers.rewrite(src, dst, envelope=replace(env, payload=json.dumps(body).encode()))


def test_the_record_round_trips_through_signing_and_verification(recorded, trust):
    path, manifest = recorded
    verified = verify(path, trust)
    assert verified.manifest.rivalry == RivalryRecord.model_validate(RECORD)
    assert verified.manifest.rivalry.model_dump(mode="json", exclude_none=True) == RECORD | {
        "protocol": RECORD["protocol"] | {"bootstrap": RECORD["protocol"]["bootstrap"] | {"paired": True}},
        "skipped": [],
    }
    assert json.loads(manifest.payload())["rivalry"]["best_ratio"] == RECORD["best_ratio"]


FIGURES = [p for p, _ in _numbers(RECORD)]


@pytest.mark.parametrize("where", FIGURES, ids=[".".join(map(str, p)) for p in FIGURES])
def test_editing_any_figure_of_the_record_breaks_the_signature(recorded, trust, tmp_path, where):
    def edit(body):
        node = body["rivalry"]
        for k in where[:-1]:
            node = node[k]
        node[where[-1]] = node[where[-1]] * 2 + 1  # a different number of the same type
    bad = _edit_keep_signature(recorded[0], tmp_path / "b.parquet", edit)
    with pytest.raises(SignatureError, match="does not verify"):
        verify(bad, trust)


def test_dropping_or_adding_a_record_breaks_the_signature(recorded, bundle, trust, tmp_path):
    with pytest.raises(SignatureError):
        verify(_edit_keep_signature(recorded[0], tmp_path / "a.parquet", lambda m: m.pop("rivalry")), trust)
    with pytest.raises(SignatureError):
        verify(_edit_keep_signature(bundle[0], tmp_path / "b.parquet", lambda m: m.update(rivalry=RECORD)), trust)


def test_a_bundle_without_a_record_verifies_and_says_so(bundle, trust):
    path, manifest = bundle
    assert b'"rivalry"' not in manifest.payload()  # written without one: the manifest's bytes as before
    verified = verify(path, trust)
    assert verified.manifest.rivalry is None
    assert format_record(None) == [NO_RECORD]


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.update(best="svr"), "rivalry.best 'svr' is not among the attackers"),
    (lambda r: r.update(version=2), "rivalry.version"),
    (lambda r: r["key"].pop("sampled"), "'sampled' rows"),
    (lambda r: r["key_vs_full"].update(value=float("nan")), "not valid JSON"),
    (lambda r: r.update(task="classification"), "differs from task.type"),
    (lambda r: r.update(comment="trust me"), "rivalry.comment: unknown field"),
])
def test_a_bad_record_signed_by_the_owner_is_refused_naming_it(recorded, trust, owner_key, tmp_path, edit, match):
    bad = helpers.resign(recorded[0], tmp_path / "b.parquet", owner_key, edit=lambda m: edit(m["rivalry"]))
    with pytest.raises(ManifestError, match=match):
        verify(bad, trust)


def test_the_record_reads_as_lines_with_every_headline_figure(recorded):
    lines = "\n".join(format_record(recorded[1].rivalry.model_dump(mode="json")))
    for text in ("60 test rows, 60 outside rows of 120 held out", "forged / all rows          x1.200 [1.05, 1.40]",
                 "best attacker / key        x1.500 [1.25, 1.75]  (knn; target x1.2)",
                 "knn x1.500, ridge x2.000", "2 of 2 attackers, tuned by 5-fold CV",
                 "+60 outside rows / forged x1.100 [0.95, 1.30]", "membership attack (MCAA)   0.510 on 120",
                 "95% paired bootstrap, 1,000 resamples"):
        assert text in lines, lines


def test_a_capped_or_sampled_full_reference_is_named_as_such(recorded):
    """The 'full' key trained on fewer rows than the training rows (the 10,000-row cap, or a
    streamed table's 5,000-row sample) is not called "all": the record's count says so."""
    from enfo_sdk.report_table import format_forge_table

    record = recorded[1].rivalry.model_dump(mode="json")
    rows = record["protocol"]["rows"]
    lines = "\n".join(format_record(record))
    assert f"key test RMSE: all {rows['train']:,} training rows" in lines
    rows["full_reference"] = rows["train"] - 1
    lines = "\n".join(format_record(record))
    assert f"key test RMSE: {rows['train'] - 1:,} of the {rows['train']:,} training rows (seeded sample)" in lines
    assert "forged / reference         x1.200" in lines and "all rows" not in lines
    summary = {"test_rmse": {"full": 1.0, "forged": 1.1, "sampled": 1.3}, "rows": rows["forged"],
               "owner_rows": {"train": rows["train"], "test": rows["test"], "held_out": rows["held_out"],
                              "outside": rows["outside"]},
               "record": record, "seconds": {"total": 1.0}, "key": {"algorithm": "nu-method", "version": 1, "hyperparameters": {}},
               "bundle": "b.parquet", "signer": {"fingerprint": "SHA256:x", "key": "k"}}
    table = format_forge_table(summary)
    assert f"key trained on {rows['train'] - 1:,} of the {rows['train']:,} owner rows (seeded sample)" in table
    assert "key trained on all" not in table and "all rows" not in table
    assert "vs reference" in table.splitlines()[0]


def test_a_bundle_without_a_record_verifies_and_trains_on_the_command_line(bundle, owner_key, tmp_path):
    from click.testing import CliRunner

    from enfo_sdk.signing import save_public_key
    from partner_cli.main import cli as partner

    public = save_public_key(owner_key.public_key(), tmp_path / "owner.pub")
    runner = CliRunner()
    shown = runner.invoke(partner, ["verify", str(bundle[0]), "--trust", str(public)])
    assert shown.exit_code == 0, shown.output
    assert f"  rivalry   {NO_RECORD}\n" in shown.output
    assert json.loads(runner.invoke(partner, ["verify", str(bundle[0]), "--trust", str(public), "--json"])
                      .stdout)["rivalry"] is None
    trained = runner.invoke(partner, ["train", str(bundle[0]), "--trust", str(public), "--out", str(tmp_path / "m.parquet")])
    assert trained.exit_code == 0 and (tmp_path / "m.parquet").exists(), trained.output
