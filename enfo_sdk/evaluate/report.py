"""``metrics.json`` and a self-contained ``report.html`` (PNG figures embedded as base64).

:func:`write_report` takes the dict assembled by :func:`enfo_sdk.workflows.evaluate_run.run_evaluate`
(keys ``evaluation``, ``curve``, ``history``, ``meta``) and writes both files atomically.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..fs import write_files_atomic
from . import plots
from .html_parts import fmt as _fmt, pct as _pct, table as _table

__all__ = ["write_report", "render_html", "figures", "REPORT_FILES"]

#: Every file :func:`write_report` may write into its folder.
REPORT_FILES = ("metrics.json", "report.html", "training_curve.png", "rows_curve.png",
                "rmse_vs_attack.png", "accuracy_vs_attack.png", "divergence_radar.png", "attackers.png")

_STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
          "td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:8px}"
          "img{max-width:470px}")


def _classification(body: dict) -> bool:
    return body["evaluation"].get("task") == "classification"


def figures(body: dict) -> dict[str, bytes]:
    """The report's PNGs by file stem (those that have data)."""
    if _classification(body):
        from .classify_report import figures_classification

        return figures_classification(body)
    ev = body["evaluation"]
    full = ev["full"]["key_rmse"]
    out = {
        "training_curve": plots.training_curve(body.get("history"), full),
        "rows_curve": plots.rows_curve_plot(body.get("curve"), full),
        "rmse_vs_attack": plots.rmse_vs_attack(ev),
        "divergence_radar": plots.divergence_radar(ev),
        "attackers": plots.attacker_bars(ev),
    }
    return {k: v for k, v in out.items() if v is not None}


def _images(pngs: dict[str, bytes]) -> str:
    return "".join(
        f'<figure><img alt="{k}" src="data:image/png;base64,{base64.b64encode(v).decode()}">'
        f"<figcaption>{html.escape(k.replace('_', ' '))}</figcaption></figure>" for k, v in pngs.items()
    )


def render_html(body: dict, pngs: dict[str, bytes]) -> str:
    """The self-contained report page (figures embedded); a classification evaluation's from
    :func:`enfo_sdk.evaluate.classify_report.render_classification`."""
    if _classification(body):
        from .classify_report import render_classification

        return render_classification(body, _images(pngs), _STYLE)
    ev, meta = body["evaluation"], body["meta"]
    b = ev["bundle"]
    rows = []
    for name, m in [("bundle", b), *ev["baselines"].items()]:
        rows.append([
            html.escape(plots.label(name)), _fmt(m["key_rmse"]),
            _pct(m.get("vs_bundle")) if name != "bundle" else _pct(b["vs_full"]) + " vs full",
            _fmt(m["external"]["augmented"]), _pct(m["external"]["change"]),
            _fmt(m["divergence"]["kl"]), _fmt(m["divergence"]["js"]), _fmt(m["divergence"]["wasserstein"]),
            _fmt(m["privacy"]["mc_attack"]["accuracy"], 3), _fmt(m["privacy"]["dcr"]["median"], 3),
        ])
    main = _table(["table", "key test RMSE", "vs bundle", f"+{b['external']['external_rows']} real rows",
                   "change", "KL", "JS", "Wasserstein", "MC attack acc.", "median DCR"], rows)
    zoo = b["attackers"]
    zoo_rows = [["key", _fmt(b["key_rmse"]), "1.00", html.escape(json.dumps(meta.get("key", {})))]]
    zoo_rows += [[html.escape(n), _fmt(m["rmse"]), f"{m['rmse'] / b['key_rmse']:.2f}",
                  html.escape(json.dumps(m["params"]))] for n, m in zoo["models"].items()]
    zoo_table = _table(["model", "test RMSE", "/ key", "chosen by CV on the bundle"], zoo_rows)
    imgs = _images(pngs)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in meta.get("notes", []))
    summary = (
        f"<p>Key <b>{html.escape(str(meta.get('key', {}).get('algorithm')))}</b>; bundle "
        f"{html.escape(str(meta.get('bundle') or 'forged in this run'))} with {b['rows']} rows. "
        f"Test rows: {ev['split']['test']}, outside rows: {ev['split']['external']}, "
        f"owner training rows (members): {ev['split']['train']}.</p>"
        f"<ul><li>key test RMSE: all training rows {_fmt(ev['full']['key_rmse'])}, bundle "
        f"{_fmt(b['key_rmse'])} ({_pct(b['vs_full'])})</li>"
        f"<li>best attacker ({html.escape(zoo['best'])}) / key: {_fmt(zoo.get('best_ratio'), 3)}</li>"
        f"<li>adding {b['external']['external_rows']} real rows changes the key's RMSE by "
        f"{_pct(b['external']['change'])}</li>"
        f"<li>Monte Carlo attack accuracy {_fmt(b['privacy']['mc_attack']['accuracy'], 3)} "
        f"(0.5 = chance)</li></ul>"
    )
    style = _STYLE
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>EnFo evaluation</title>"
        f"<style>{style}</style></head><body><h1>EnFo evaluation</h1>{summary}"
        f"<h2>Bundle and baselines (same row count)</h2>{main}"
        f"<h2>Attacker zoo</h2>{zoo_table}<h2>Figures</h2>{imgs}"
        f"<h2>Notes</h2><ul>{notes}</ul>"
        f"<p>Definitions: docs/metrics.md of the EnFo SDK. Created {html.escape(str(meta.get('created')))}.</p>"
        "</body></html>"
    )


def write_report(body: dict, out: str | Path, *, overwrite: bool = True) -> tuple[Path, Path, list[Path]]:
    """Write ``metrics.json``, ``report.html`` and the PNGs into folder ``out``, together
    (:func:`enfo_sdk.fs.write_files_atomic`; without ``overwrite`` an existing file is refused).

    Returns
    -------
    (metrics_path, report_path, png_paths)
    """
    out = Path(out)
    pngs = figures(body)
    files = {out / f"{name}.png": data for name, data in pngs.items()}
    paths = list(files)
    metrics = {k: v for k, v in body.items() if k != "history"}
    mpath, rpath = out / "metrics.json", out / "report.html"
    files[mpath] = (json.dumps(metrics, indent=2, default=float) + "\n").encode()
    files[rpath] = render_html(body, pngs).encode("utf-8")
    write_files_atomic(files, overwrite=overwrite)
    return mpath, rpath, paths
