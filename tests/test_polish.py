"""The targets' polish (enfo_sdk.forging.polish): the kept rows' targets solved exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from enfo_sdk import encapsulate
from enfo_sdk.contract import parse_contract
from enfo_sdk.errors import ForgeError
from enfo_sdk.forge import ForgeSettings, forge
from enfo_sdk.forging.polish import LAMBDAS, polish_targets


@pytest.fixture(scope="module")
def wide():
    """1,500 rows (a validation split of 300: not a small table, so no refit) and a wide kernel,
    on which a short forging run is far from its least-squares targets."""
    g = np.random.default_rng(0)
    X = pd.DataFrame(g.uniform(-1, 1, (1500, 4)), columns=["a", "b", "c", "d"])
    y = pd.Series(X["a"] + 0.5 * X["b"] ** 2 - X["c"] * X["d"] + 0.1 * g.standard_normal(1500), name="y")
    spec = encapsulate(X, y, algorithm="nu-method", search={"bandwidth": [4.0], "iterations": {"max": 3000}})
    return X, y, spec


KW = dict(rows=15, steps=40, eval_every=10, seed=1)


def _split(y, seed):
    """Forging's validation split: the first 20% of the seeded permutation (tests/test_forge_settings.py)."""
    perm = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(0.2 * len(y)))
    return perm[n_val:], perm[:n_val]


def test_polish_solves_the_targets_and_a_refit_confirms_the_validation_figure(wide):
    X, y, spec = wide
    res = forge(X, y, spec, **KW)  # the default: on here
    plain = forge(X, y, spec, **KW, polish=False)
    assert res.settings["polish"] == "labels" and "polish" not in plain.settings
    lam = res.metrics["polish_lambda"]
    assert lam in LAMBDAS
    # the features are untouched; the targets moved
    np.testing.assert_array_equal(res.X, plain.X)
    assert np.max(np.abs(res.y - plain.y)) > 1e-3
    # an independent reference for the validation figure: the key refitted on the numpy side
    # on the returned rows, scored on forging's validation split
    tr, val = _split(y, KW["seed"])
    r = spec.build().fit(res.X, res.y).predict(X.iloc[val].to_numpy()) - y.to_numpy()[val]
    assert np.sqrt(np.mean(r * r)) == pytest.approx(res.metrics["best_val_rmse"], rel=1e-9)
    assert res.metrics["best_val_rmse"] < res.metrics["polish_val_rmse_before"] == plain.metrics["best_val_rmse"]
    # optimality: the ridge objective's gradient vanishes at the polished targets, with the key's
    # map of the targets formed one unit vector at a time (numpy side), standardized units
    pre = spec.preprocessing
    m, n = len(res.y), len(tr)
    Zf = res.X
    A = np.column_stack([
        (spec.build().fit(Zf, pre.inverse_y(np.eye(m)[j])).predict(X.iloc[tr].to_numpy()) - pre.target_mean) / pre.target_scale
        for j in range(m)])
    t, t0 = pre.transform_y(res.y), pre.transform_y(plain.y)
    ttr = pre.transform_y(y.to_numpy()[tr])
    grad = A.T @ (A @ t - ttr) / n + lam / m * (t - t0)
    scale = np.abs(A.T @ (A @ t0 - ttr) / n).max()
    assert np.abs(grad).max() < 1e-6 * scale


def test_polish_keeps_the_rows_when_no_candidate_validates_lower(wide):
    X, y, spec = wide
    pre = spec.preprocessing
    g = np.random.default_rng(3)
    Z = pre.transform_X(X.iloc[:12].to_numpy())
    t = g.standard_normal(12)
    Ztr, ttr = pre.transform_X(X.iloc[100:600].to_numpy()), pre.transform_y(y.iloc[100:600].to_numpy())
    Zval = pre.transform_X(X.iloc[600:800].to_numpy())
    # validation targets the kept rows' key predicts exactly: nothing can score lower
    fit = spec.key.fit(Z, t, spec.hyperparameters)
    tval = np.asarray(spec.key.predict(fit, Zval, spec.hyperparameters))
    choice = polish_targets(spec, Z, t, Ztr, ttr, Zval, tval, seed=0)
    assert choice.targets is None and choice.lam is None
    assert choice.before < 1e-9 and set(choice.scores) == set(LAMBDAS)
    assert min(choice.scores.values()) > choice.before
    # and the same rows against the real validation targets: a candidate wins
    real = polish_targets(spec, Z, t, Ztr, ttr, Zval, pre.transform_y(y.iloc[600:800].to_numpy()), seed=0)
    assert real.targets is not None and real.after < real.before


def test_polished_targets_stay_in_the_owner_range(wide):
    from enfo_sdk.data.columns import ColumnTransform, infer_schema

    X, y, _ = wide
    df = X.assign(y=y)
    columns = ColumnTransform.fit(df, infer_schema(df, "y"), "y")
    spec = encapsulate(columns.encode_frame(df), y, algorithm="nu-method",
                       search={"bandwidth": [4.0], "iterations": {"max": 3000}}).with_columns(columns)
    res = forge(columns.encode_frame(df), y, spec, **KW)
    assert "polish_lambda" in res.metrics
    assert float(y.min()) <= res.y.min() and res.y.max() <= float(y.max())


def test_polish_resolves_where_it_applies(wide):
    X, y, spec = wide
    rule = dict(regression=True, refit=False, owner_rows=1000, selection="validation", penalty=False)
    s = ForgeSettings()
    assert s.polish is None and s.polish_for(**rule) is True
    for change, why in [({"regression": False}, "a regression key"),
                        ({"refit": True, "owner_rows": 5001}, "at most 5,000 owner rows with refit"),
                        ({"selection": "last"}, "other than 'last'"), ({"penalty": True}, "penalty")]:
        assert s.polish_for(**{**rule, **change}) is False
        with pytest.raises(ForgeError, match=why):
            s.replace(polish=True).polish_for(**{**rule, **change})
    for mode in (dict(mode="augment"), dict(rival_weight=0.1)):
        assert s.replace(**mode).polish_for(**rule) is False
    assert s.replace(polish=False).polish_for(**rule) is False
    assert s.polish_for(**{**rule, "refit": True, "owner_rows": 5000}) is True  # toward the key's fit
    with pytest.raises(ForgeError, match="polish must be true, false or left out"):
        ForgeSettings(polish="yes")
    with pytest.raises(ForgeError, match="polish needs mode 'rival' without rival_weight"):
        forge(X, y, spec, **KW, mode="adaptable", polish=True)
    # a small table (validation split of 60): the refit's rows, polished toward the key's own fit
    small = forge(X.iloc[:300], y.iloc[:300], spec, rows=12, steps=20, eval_every=10, seed=0)
    assert small.settings["refit"] is True and small.settings["polish"] == "key_fit"
    assert "polish_val_rmse_before" not in small.metrics and "polish_fidelity_before" in small.metrics


def test_after_a_refit_the_polish_fits_the_key_to_its_own_fit_on_every_owner_row(wide):
    X, y, spec = wide
    X, y = X.iloc[:400], y.iloc[:400]  # a validation split of 80: a small table, refit on
    kw = dict(rows=20, steps=30, eval_every=10, seed=4)
    res = forge(X, y, spec, **kw)
    plain = forge(X, y, spec, **kw, polish=False)
    assert res.settings["polish"] == "key_fit" and res.settings["refit"] is True
    lam = res.metrics["polish_lambda"]
    assert lam in LAMBDAS
    assert res.metrics["polish_fidelity_after"] < res.metrics["polish_fidelity_before"]
    np.testing.assert_array_equal(res.X, plain.X)
    # independent references (numpy side): the key's fit on all 400 owner rows, and its map of
    # the forged targets one unit vector at a time; the ridge objective's gradient vanishes
    pre = spec.preprocessing
    m, n = len(res.y), len(y)
    f = pre.transform_y(spec.build().fit(X.to_numpy(), y.to_numpy()).predict(X.to_numpy()))
    A = np.column_stack([
        pre.transform_y(spec.build().fit(res.X, pre.inverse_y(np.eye(m)[j])).predict(X.to_numpy()))
        for j in range(m)])
    t, t0 = pre.transform_y(res.y), pre.transform_y(plain.y)
    grad = A.T @ (A @ t - f) / n + lam / m * (t - t0)
    assert np.abs(grad).max() < 1e-6 * np.abs(A.T @ (A @ t0 - f) / n).max()
    # and the key on the polished rows is closer to the key's fit than before, on every owner row
    assert np.sqrt(np.mean((A @ t - f) ** 2)) < np.sqrt(np.mean((A @ t0 - f) ** 2))


def test_the_contract_passes_polish(tmp_path):
    text = ("version: 1\ndata: {source: builtin:friedman3, target: y}\nkey: {algorithm: nu-method}\n"
            "forge: {rows: 30, polish: false}\noutput: {bundle: b.parquet}\n")
    assert parse_contract(text, file=tmp_path / "key.yaml").forge.settings().polish is False
    default = parse_contract(text.replace(", polish: false", ""), file=tmp_path / "key.yaml")
    assert default.forge.settings().polish is None


def test_a_streamed_source_is_polished_on_its_sample_and_its_own_validation_rows(wide, tmp_path):
    """One process reading a two-shard Parquet source: the labels are the source's seeded sample
    (the rows k-means starts from), the validation split is the source's, scored as sums (the
    path two torchrun ranks take; tests/test_distributed.py checks that they agree)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from enfo_sdk.stream import ParquetSource

    X, y, spec = wide
    pq.write_table(pa.Table.from_pandas(X.assign(y=y), preserve_index=False), tmp_path / "o.parquet",
                   row_group_size=150)

    def source():
        return ParquetSource(tmp_path / "o.parquet", "y", world=2, buffer_rows=300, refresh_every=10)

    res = forge(source(), None, spec, **KW)
    plain = forge(source(), None, spec, **KW, polish=False)
    assert res.settings["polish"] == "labels" and "polish" not in plain.settings
    lam = res.metrics["polish_lambda"]
    assert lam in LAMBDAS
    np.testing.assert_array_equal(res.X, plain.X)
    # the validation figure against an independent reference: the key refitted on the numpy side
    # on the returned rows, scored on the source's validation rows
    src = source()
    Xv, yv = src.validation_rows()
    r = spec.build().fit(res.X, res.y).predict(Xv) - yv
    assert np.sqrt(np.mean(r * r)) == pytest.approx(res.metrics["best_val_rmse"], rel=1e-9)
    assert res.metrics["best_val_rmse"] < res.metrics["polish_val_rmse_before"] == plain.metrics["best_val_rmse"]
    # the polish's own figure (sums of squared errors on the source's validation rows) is that one
    assert res.metrics["polish_val_rmse_after"] == pytest.approx(res.metrics["best_val_rmse"], rel=1e-9)
    # optimality of the ridge on the source's sample (normal equations, numpy side)
    Xs, ys = src.sample(20000, KW["seed"])
    assert len(ys) == src.n_train  # the whole training split: under the polish's 20,000 rows
    pre, m = spec.preprocessing, len(res.y)
    A = np.column_stack([
        (spec.build().fit(res.X, pre.inverse_y(np.eye(m)[j])).predict(Xs.to_numpy()) - pre.target_mean) / pre.target_scale
        for j in range(m)])
    t, t0, ts = pre.transform_y(res.y), pre.transform_y(plain.y), pre.transform_y(ys.to_numpy())
    n = len(ts)
    ref = np.linalg.solve(A.T @ A / n + lam / m * np.eye(m), A.T @ ts / n + lam / m * t0)
    np.testing.assert_allclose(t, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_the_streamed_polish_scores_the_validation_rows_as_sums_over_ranks(wide):
    """polish_targets with ``reduce``: two ranks holding parts of the validation rows, their sums
    added, score and choose as the whole split does without it (under 20,000 rows: no sample)."""
    X, y, spec = wide
    res = forge(X, y, spec, **KW, polish=False)
    pre = spec.preprocessing
    Z, t = pre.transform_X(res.X), pre.transform_y(res.y)
    tr, va = _split(y, KW["seed"])
    Ztr, ttr = pre.transform_X(X.to_numpy()[tr]), pre.transform_y(y.to_numpy()[tr])
    Zv, tv = pre.transform_X(X.to_numpy()[va]), pre.transform_y(y.to_numpy()[va])
    whole = polish_targets(spec, Z, t, Ztr, ttr, Zv, tv, seed=1)
    h = len(tv) // 3
    sums = []
    polish_targets(spec, Z, t, Ztr, ttr, Zv[h:], tv[h:], seed=1, reduce=lambda v: sums.append(v) or v)
    both = polish_targets(spec, Z, t, Ztr, ttr, Zv[:h], tv[:h], seed=1, reduce=lambda v: v + sums[0])
    assert both.lam == whole.lam
    assert both.before == pytest.approx(whole.before, rel=1e-12)
    assert both.scores == pytest.approx(whole.scores, rel=1e-12)
    assert len(set(whole.scores.values())) == len(whole.scores)  # the candidates do differ
    # a rank without validation rows adds zeros; none on any rank is an error
    empty = polish_targets(spec, Z, t, Ztr, ttr, Zv[:0], tv[:0], seed=1, reduce=lambda v: v + sums[0])
    part = polish_targets(spec, Z, t, Ztr, ttr, Zv[h:], tv[h:], seed=1, reduce=lambda v: v)
    assert empty.scores == pytest.approx(part.scores, rel=1e-12) and empty.lam == part.lam
    with pytest.raises(ForgeError, match="no validation rows on any process"):
        polish_targets(spec, Z, t, Ztr, ttr, Zv[:0], tv[:0], seed=1, reduce=lambda v: v)
