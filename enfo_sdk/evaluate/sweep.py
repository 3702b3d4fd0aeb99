"""Sweeps: forge one bundle per value of a forging weight and measure what the weight buys.

The paper's appendix F varies the alignment weight lambda_align of the ``augment`` objective
(DESIGN.md, "Forging objective") and plots how far the synthetic rows are from the real ones
and how much they help a partner who mixes them with data of its own. :func:`sweep` does the
same for any weight :func:`enfo_sdk.forge.forge` accepts among :data:`SWEEPABLE`, each weight
with the mode whose term it weights (:data:`MODE_OF`). For each value v it forges a bundle with
``forge(..., mode=MODE_OF[param], **{param: v})`` and measures, on the held-out rows split once
(seeded, :func:`.core.split_holdout`) into the partner's *own* rows (``own_rows`` of them) and
the *test* rows every RMSE is scored on:

* ``key_rmse``: test RMSE of the key trained on the bundle (:func:`.utility.key_rmse`), and
  ``key_rmse_change`` = key_rmse / key_rmse at the first value - 1;
* ``divergence``: mean per-column KL, JS and Wasserstein-1 between the owner's training rows
  and the bundle (:func:`.divergence.divergences`);
* ``augmentation``: test RMSE of the key trained on the own rows alone (``own``) and on the
  own rows plus the bundle (``own_plus_bundle``), and

      gain = 1 - own_plus_bundle / own

  (positive: the bundle helps a partner who already holds ``own_rows`` real rows);
* ``attackers`` (only with ``attackers=True``, slow): the forge's rivalry check
  (:func:`.rivalry.rivalry_check`: the fast zoo within ``attacker_seconds``, tuned on the
  bundle) -- the best attacker, its test RMSE over the key's and the ratio's bootstrap interval.

A workflow passes ``forge_fn`` (how its forge makes and hardens the rows it would sign) and
``full_rows`` (the rows its ``full`` reference trains on), so a sweep value equal to the
contract's gives the figures ``enfo-owner forge`` prints (docs/metrics.md, "One protocol").

:func:`sweepable_params` keeps only the weights of :data:`SWEEPABLE` that ``forge``'s signature
has, so the list follows the installed ``forge``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._random import rng as make_rng
from ..errors import ConfigError
from .core import split_holdout
from .divergence import divergences
from .utility import external_rivalry, key_rmse

__all__ = ["SWEEPABLE", "MODE_OF", "sweepable_params", "check_sweep", "sweep", "render_sweep_html",
           "write_sweep", "SWEEP_FILES"]

#: The files :func:`write_sweep` writes into its folder.
SWEEP_FILES = ("sweep.json", "sweep.png", "sweep.html")

#: Forging weights a sweep may vary, in the order they are listed to users.
SWEEPABLE = ("alignment_weight", "adaptability_weight", "rival_weight")

#: The forging mode whose objective term each weight multiplies.
MODE_OF = {"alignment_weight": "augment", "adaptability_weight": "adaptable", "rival_weight": "rival"}


def sweepable_params() -> tuple[str, ...]:
    """The weights of :data:`SWEEPABLE` that :class:`enfo_sdk.forging.settings.ForgeSettings` holds."""
    from ..forging import settings

    accepted = settings.ForgeSettings.names()
    return tuple(p for p in SWEEPABLE if p in accepted)


def check_sweep(param: str, values: Sequence[float], *, min_values: int = 1) -> list[float]:
    """``values`` as floats after checking ``param`` is sweepable and the values are weights.

    Raises
    ------
    ConfigError (a ValueError)
        ``param`` unknown (the message lists the known ones), a value not finite or negative,
        or fewer than ``min_values`` values.
    """
    known = sweepable_params()
    if param not in known:
        why = ("enfo_sdk.forge.ForgeSettings does not hold it in this version"
               if param in SWEEPABLE else "unknown forging weight")
        raise ConfigError(f"cannot sweep {param!r} ({why}); choose one of {', '.join(known)}")
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{param}: {v!r} is not a number") from None
        if not math.isfinite(f) or f < 0:
            raise ConfigError(f"{param}: weights must be finite and >= 0, got {v!r}")
        out.append(f)
    if len(out) < min_values:
        raise ConfigError(f"{param}: a sweep needs at least {min_values} value(s), got {len(out)}")
    return out


def sweep_setup(param: str, values: Sequence[float], forge_kwargs: dict | None, seed: int,
                own_rows: int) -> tuple[list[float], dict]:
    """The checked values and the forging settings a sweep shares (regression and classification);
    raises :class:`ConfigError` on bad values, a contradicting mode or ``own_rows`` < 1."""
    vals = check_sweep(param, values)
    kw = _forge_settings(param, forge_kwargs, seed)
    if int(own_rows) < 1:
        raise ConfigError(f"own_rows must be >= 1, got {own_rows}")
    return vals, kw


def _forge_settings(param: str, forge_kwargs: dict | None, seed: int) -> dict:
    kw = dict(forge_kwargs or {})
    mode = MODE_OF[param]
    given = kw.pop("mode", None)
    if given is not None and given != mode:
        raise ConfigError(
            f"{param} weights the {mode!r} term, but forge_kwargs names mode {given!r}; "
            f"drop the mode or set it to {mode!r}"
        )
    for k in (param, "callback"):
        kw.pop(k, None)
    kw.setdefault("seed", seed)
    kw["mode"] = mode
    return kw


def sweep(spec, X_train, y_train, X_holdout, y_holdout, *, param: str, values: Sequence[float],
          forge_kwargs: dict | None = None, own_rows: int = 1000, seed: int = 0,
          attackers: bool = False, progress: Callable[[float], None] | None = None,
          forge_fn: Callable | None = None, full_rows: tuple | None = None,
          attacker_seconds: float | None = None) -> dict:
    """Forge one bundle per value of ``param`` and measure divergence, utility and gain.

    Parameters
    ----------
    spec : KeySpec
        The key (hyperparameters and preprocessing used as they are).
    X_train : array-like of shape (n, n_features)
        The owner's training rows: forging learns from them, divergences compare with them.
    y_train : array-like of shape (n,)
    X_holdout : array-like of shape (n_holdout, n_features)
        Owner rows never used to forge: ``own_rows`` of them (seeded,
        :func:`.core.split_holdout`; half when there are fewer than ``2 * own_rows``) are the
        partner's own data, the rest the test rows.
    y_holdout : array-like of shape (n_holdout,)
    param : str
        The weight to vary, one of :func:`sweepable_params`.
    values : sequence of float
        Its values (>= 0), in the order to forge and plot them; the first is the reference of
        ``key_rmse_change``.
    forge_kwargs : dict, optional
        Other :func:`enfo_sdk.forge.forge` settings (``rows``, ``steps``, ...). ``mode`` is
        set to the one ``param`` weights (:data:`MODE_OF`); naming another raises. An entry
        for ``param`` itself is replaced by each swept value. ``seed`` defaults to ``seed``.
    own_rows : int
        Real rows the partner is assumed to hold (``augmentation``).
    seed : int
        Seeds the held-out split and the attackers (and forging unless ``forge_kwargs`` has
        a seed).
    attackers : bool
        Also run the forge's rivalry check on every bundle (slow).
    progress : callable, optional
        ``progress(fraction)`` with fraction in [0, 1].
    forge_fn : callable, optional
        ``forge_fn(value, callback) -> ForgeResult``: the rows to measure at ``value`` (default
        :func:`enfo_sdk.forge.forge` on ``X_train`` with ``forge_kwargs`` and ``param=value``).
    full_rows : (X, y), optional
        The rows the ``full`` reference trains on (default ``X_train``, ``y_train``).
    attacker_seconds : float, optional
        The attackers' time budget (default :data:`.rivalry.RIVALRY_SECONDS`).

    Returns
    -------
    dict
        JSON-ready: ``param``, ``mode``, ``values``, ``split`` (train / own / test row counts),
        ``reference`` (key test RMSE on all training rows, on the own rows alone and on as many
        sampled training rows as forged rows),
        ``forge`` (the settings shared by every bundle), ``results`` (one dict per value:
        ``value``, ``key_rmse``, ``key_rmse_change``, ``divergence``, ``augmentation``,
        ``forge`` metrics, optionally ``attackers``) and ``seconds``.

    Raises
    ------
    ConfigError (a ValueError)
        Unknown ``param``, bad values, a contradicting ``mode``, or ``own_rows`` < 1.
    """
    from ..forge import forge

    vals, kw = sweep_setup(param, values, forge_kwargs, seed, own_rows)
    t0 = time.perf_counter()
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    Xh = np.asarray(X_holdout, dtype=np.float64)
    yh = np.asarray(y_holdout, dtype=np.float64)
    train = np.column_stack([Xtr, ytr])
    own_idx, test_idx = split_holdout(len(yh), own_rows, seed)
    Xo, yo, Xt, yt = Xh[own_idx], yh[own_idx], Xh[test_idx], yh[test_idx]
    Xf, yf = (Xtr, ytr) if full_rows is None else (np.asarray(full_rows[0], np.float64),
                                                    np.asarray(full_rows[1], np.float64))
    own_rmse = key_rmse(spec, Xo, yo, Xt, yt)
    full_rmse = key_rmse(spec, Xf, yf, Xt, yt)
    if forge_fn is None:
        def forge_fn(v, callback):
            return forge(Xtr, ytr, spec, callback=callback, **kw, **{param: v})

    def note(f: float) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, f)))

    n = len(vals)
    results = []
    settings = None
    note(0.0)
    for i, v in enumerate(vals):
        part = 0.8 if attackers else 1.0  # share of a value's slot spent forging

        def on_step(p, i=i, part=part):
            note((i + part * 0.95 * p.step / p.steps) / n)

        r = forge_fn(v, on_step)
        settings = {k: x for k, x in r.settings.items() if k != param}
        table = r.data.to_numpy(np.float64)
        Xs, ys = table[:, :-1], table[:, -1]
        mix = external_rivalry(spec, Xs, ys, Xo, yo, Xt, yt)  # the own rows are the outside rows
        rm, mixed = mix["bundle"], mix["augmented"]
        div = divergences(train, table)
        del div["per_column"]
        row = {
            "value": v,
            "key_rmse": rm,
            "key_rmse_change": None,
            "divergence": div,
            "augmentation": {"own": own_rmse, "own_plus_bundle": mixed,
                             "gain": 1.0 - mixed / own_rmse if own_rmse > 0 else None},
            "forge": {k: r.metrics[k] for k in ("best_val_rmse", "best_step", "steps_run",
                                                "stopped_early", "seconds")},
        }
        if attackers:
            from .rivalry import RIVALRY_SECONDS, rivalry_check

            check = rivalry_check(spec, Xs, ys, Xt, yt, seed=seed, seconds=RIVALRY_SECONDS if attacker_seconds is None
                                  else attacker_seconds, progress=lambda f, i=i: note((i + part + (1 - part) * f) / n))
            row["attackers"] = {"best": check.best, "best_rmse": check.attackers[check.best]["rmse"],
                                "best_ratio": check.ratio[0], "interval": [check.ratio[1], check.ratio[2]],
                                "ran": list(check.attackers), "skipped": list(check.skipped)}
        results.append(row)
        note((i + 1) / n)
    pick = make_rng(seed).choice(len(yf), len(table), replace=False)  # every bundle has the same row count
    sampled_rmse = key_rmse(spec, Xf[pick], yf[pick], Xt, yt)
    first = results[0]["key_rmse"]
    for row in results:
        row["key_rmse_change"] = row["key_rmse"] / first - 1.0 if first > 0 else None
    return {
        "param": param,
        "mode": kw["mode"],
        "values": vals,
        "split": {"train": int(len(ytr)), "own": int(len(own_idx)), "test": int(len(test_idx))},
        "reference": {"full_key_rmse": full_rmse, "own_key_rmse": own_rmse, "sampled_key_rmse": sampled_rmse},
        "forge": settings,
        "results": results,
        "seconds": time.perf_counter() - t0,
    }


# -- files --------------------------------------------------------------------------------------
def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else html.escape(str(v))


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:+.1f}%"


def render_sweep_html(body: dict, png: bytes | None) -> str:
    """A self-contained page (the figure embedded as base64) for ``{"meta", "sweep"}``."""
    s, meta = body["sweep"], body.get("meta", {})
    head = ["value", "key test RMSE", "vs first", "KL", "JS", "Wasserstein", "own + bundle RMSE",
            "gain", "best step"]
    if any("attackers" in r for r in s["results"]):
        head.append("best attacker / key")
    rows = []
    for r in s["results"]:
        d, a = r["divergence"], r["augmentation"]
        cells = [_fmt(r["value"]), _fmt(r["key_rmse"]), _pct(r["key_rmse_change"]), _fmt(d["kl"]),
                 _fmt(d["js"]), _fmt(d["wasserstein"]), _fmt(a["own_plus_bundle"]), _pct(a["gain"]),
                 _fmt(r["forge"]["best_step"])]
        if "best attacker / key" in head:
            z = r.get("attackers") or {}
            cells.append(f"{_fmt(z.get('best_ratio'), 3)} ({html.escape(str(z.get('best', '–')))})")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = ("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
             + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    img = ("" if png is None else
           f'<figure><img alt="sweep" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
           "</figure>")
    key = meta.get("key", {})
    sp, ref = s["split"], s["reference"]
    summary = (
        f"<p>Key <b>{html.escape(str(key.get('algorithm')))}</b>; mode <b>{html.escape(s['mode'])}</b>; "
        f"{html.escape(str(s['forge'].get('rows')))} forged rows per bundle. Owner training rows: "
        f"{sp['train']}; the partner's own rows: {sp['own']}; test rows: {sp['test']}.</p>"
        f"<p>Key test RMSE on all training rows {_fmt(ref['full_key_rmse'])}, on the own rows "
        f"alone {_fmt(ref['own_key_rmse'])}. gain = 1 - RMSE(own + bundle) / RMSE(own); "
        f"positive means the bundle helps.</p>"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in meta.get("notes", []))
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}")
    title = f"EnFo sweep of {s['param']}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{summary}{table}{img}"
        f"<h2>Notes</h2><ul>{notes}</ul>"
        f"<p>Definitions: docs/metrics.md (Sweeps) of the EnFo SDK. Created "
        f"{html.escape(str(meta.get('created')))}.</p></body></html>"
    )


def write_sweep(body: dict, out: str | Path) -> tuple[Path, Path, Path]:
    """Write ``sweep.json``, ``sweep.png`` and ``sweep.html`` into folder ``out``, atomically.

    ``body`` is ``{"meta": {...}, "sweep": <sweep() result>}``.

    Returns
    -------
    (json_path, png_path, html_path)
    """
    from ..fs import write_bytes_atomic
    from .plots import sweep_plot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jpath, ppath, hpath = (out / name for name in SWEEP_FILES)
    if body["sweep"].get("task") == "classification":  # evaluate/classify_sweep.py
        from .classify_report import render_sweep_classification, sweep_plot_classification

        png = sweep_plot_classification(body["sweep"])
        write_bytes_atomic(ppath, png)
        image = f'<figure><img alt="sweep" src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
        page = render_sweep_classification(body, image, "body{font-family:sans-serif;max-width:1000px;margin:2em "
                                           "auto;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:90%}"
                                           "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                                           "img{max-width:100%}")
    else:
        png = sweep_plot(body["sweep"], ppath)
        page = render_sweep_html(body, png)
    write_bytes_atomic(jpath, (json.dumps(body, indent=2, default=float) + "\n").encode())
    write_bytes_atomic(hpath, page.encode("utf-8"))
    return jpath, ppath, hpath
