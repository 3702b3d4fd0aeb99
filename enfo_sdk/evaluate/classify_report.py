"""The report of a classification evaluation: its PNG figures and its HTML page.

:func:`enfo_sdk.evaluate.report.write_report` hands a body whose ``evaluation`` came from
:func:`enfo_sdk.evaluate.classify_core.evaluate_classification` here: the same files
(``metrics.json``, ``report.html``, PNGs), with accuracy, balanced accuracy, log-loss, Brier
and ROC AUC where the regression report shows RMSE.
"""

from __future__ import annotations

import html
import json

from .html_parts import fmt as _fmt, pct as _pct, table as _table
from .plots import _figure, _png, divergence_radar, label, rmse_vs_attack, rows_curve_plot, training_curve

__all__ = ["figures_classification", "render_classification"]

_METRICS = (("accuracy", "accuracy"), ("balanced_accuracy", "bal. acc."), ("log_loss", "log-loss"),
            ("brier", "Brier"), ("roc_auc", "ROC AUC"))


def _points(v) -> str:
    return "–" if v is None else f"{100 * v:+.1f} pts"


def accuracy_vs_attack(ev: dict) -> bytes:
    """Key test accuracy against Monte Carlo attack accuracy, bundle and every baseline."""
    return rmse_vs_attack(ev, utility=lambda m: m["key"]["accuracy"],
                          ylabel="key test accuracy (higher = more useful)")


def attacker_accuracy_bars(ev: dict) -> bytes:
    """Test accuracy of every classifier trained on the bundle, against the key."""
    zoo, key = ev["bundle"]["attackers"], ev["bundle"]["key"]
    names = list(zoo["models"])
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    ax.bar(["key"] + names, [key["accuracy"]] + [zoo["models"][n]["accuracy"] for n in names],
           color=["C2"] + ["C0"] * len(names))
    ax.axhline(key["accuracy"], color="C2", ls="--", lw=1, label="key on the bundle")
    ax.axhline(ev["full"]["key"]["accuracy"], color="k", ls=":", lw=1, label="key on all training rows")
    ax.set_ylabel("test accuracy")
    ax.set_xlabel("model trained on the bundle (tuned by CV on the bundle alone)")
    ax.set_title(f"Attacker zoo: best {zoo['best']} {zoo['best_accuracy']:.3f}, key {key['accuracy']:.3f}")
    for t in ax.get_xticklabels():
        t.set_rotation(30)
        t.set_horizontalalignment("right")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return _png(plt, fig)


def accuracy_rows_curve(curve: dict | None, full: float) -> bytes | None:
    """Key test accuracy against row count: forged vs sampled real rows, mean +- std over seeds."""
    return rows_curve_plot(curve, full, metric="accuracy", ylabel="key test accuracy", what="Accuracy")


def figures_classification(body: dict) -> dict[str, bytes]:
    """The report's PNGs by file stem (those that have data)."""
    ev = body["evaluation"]
    out = {
        "training_curve": training_curve(body.get("history")),
        "rows_curve": accuracy_rows_curve(body.get("curve"), ev["full"]["key"]["accuracy"]),
        "accuracy_vs_attack": accuracy_vs_attack(ev),
        "divergence_radar": divergence_radar(ev),
        "attackers": attacker_accuracy_bars(ev) if "attackers" in ev["bundle"] else None,
    }
    return {k: v for k, v in out.items() if v is not None}


def render_classification(body: dict, images: str, style: str) -> str:
    """The HTML page; ``images`` is the figures' HTML, ``style`` the shared CSS."""
    ev, meta = body["evaluation"], body["meta"]
    b = ev["bundle"]
    heads = [h for _, h in _METRICS]
    keys = [["all training rows", *(_fmt(ev["full"]["key"][c]) for c, _ in _METRICS), "–"]]
    keys.append(["bundle", *(_fmt(b["key"][c]) for c, _ in _METRICS), _points(b["vs_full"]["accuracy"]) + " vs full"])
    for name, m in ev["baselines"].items():
        keys.append([html.escape(label(name)), *(_fmt(m["key"][c]) for c, _ in _METRICS),
                     _points(m["vs_bundle"]["accuracy"]) + " vs bundle"])
    key_table = _table(["key trained on", *heads, "accuracy"], keys)
    rival = []
    for name, m in [("bundle", b), *ev["baselines"].items()]:
        e = m.get("external")
        rival.append([html.escape(label(name)), _fmt(e["augmented"]["accuracy"]) if e else "–",
                      _points(e["accuracy_change"]) if e else "–", _pct(e["log_loss_change"]) if e else "–",
                      _fmt(m["divergence"]["kl"]), _fmt(m["divergence"]["js"]), _fmt(m["divergence"]["wasserstein"]),
                      _fmt(m["privacy"]["mc_attack"]["accuracy"], 3), _fmt(m["privacy"]["dcr"]["median"], 3)])
    ext_rows = b["external"]["external_rows"] if "external" in b else 0
    rival_table = _table(["table", f"accuracy + {ext_rows} real rows", "change", "log-loss change", "KL", "JS",
                          "Wasserstein", "MC attack acc.", "median DCR"], rival)
    zoo_html, best = "", ""
    if "attackers" in b:
        zoo = b["attackers"]
        rows = [["key", *(_fmt(b["key"][c]) for c, _ in _METRICS), html.escape(json.dumps(meta.get("key", {})))]]
        rows += [[html.escape(n), *(_fmt(m[c]) for c, _ in _METRICS), html.escape(json.dumps(m["params"]))]
                 for n, m in zoo["models"].items()]
        zoo_html = f"<h2>Attacker zoo</h2>{_table(['model', *heads, 'chosen by CV on the bundle'], rows)}"
        best = (f"<li>best attacker ({html.escape(zoo['best'])}): accuracy {_fmt(zoo['best_accuracy'])}, "
                f"log-loss {_fmt(zoo['best_log_loss'])}; the key {_fmt(b['key']['accuracy'])}, "
                f"{_fmt(b['key']['log_loss'])}</li>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in meta.get("notes", []))
    summary = (
        f"<p>Classification key <b>{html.escape(str(meta.get('key', {}).get('algorithm')))}</b>, classes "
        f"{html.escape(', '.join(ev['classes']))}; bundle {html.escape(str(meta.get('bundle') or 'forged in this run'))} "
        f"with {b['rows']} rows. Test rows: {ev['split']['test']}, outside rows: {ev['split']['external']}, "
        f"owner training rows (members): {ev['split']['train']}.</p>"
        f"<ul><li>key test accuracy: all training rows {_fmt(ev['full']['key']['accuracy'])}, bundle "
        f"{_fmt(b['key']['accuracy'])} ({_points(b['vs_full']['accuracy'])})</li>{best}"
        + (f"<li>adding {ext_rows} real rows changes the key's accuracy by {_points(b['external']['accuracy_change'])}"
           f"</li>" if "external" in b else "")
        + f"<li>Monte Carlo attack accuracy {_fmt(b['privacy']['mc_attack']['accuracy'], 3)} (0.5 = chance)</li></ul>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>EnFo evaluation (classification)</title>"
        f"<style>{style}</style></head><body><h1>EnFo evaluation: classification</h1>{summary}"
        f"<h2>The key on the bundle and the baselines (same row count)</h2>{key_table}"
        f"<h2>Rivalry and privacy</h2>{rival_table}{zoo_html}<h2>Figures</h2>{images}"
        f"<h2>Notes</h2><ul>{notes}</ul>"
        f"<p>Definitions: docs/metrics.md of the EnFo SDK. Created {html.escape(str(meta.get('created')))}.</p>"
        "</body></html>"
    )


def sweep_plot_classification(result: dict) -> bytes:
    """A classification sweep: divergences (left); augmentation gain, key accuracy change and
    (when measured) the best attacker's accuracy minus the key's (right), in points."""
    from .plots import _weight_axis, sweep_axes

    param, rows = result["param"], result["results"]
    plt, fig, x, right = sweep_axes(result)
    own = result["split"]["own"]
    right.plot(x, [100 * r["augmentation"]["gain"] for r in rows], marker="o", color="C2",
               label=f"augmentation gain: accuracy(own + bundle) - accuracy(own), {own} own rows")
    right.plot(x, [100 * r["key_accuracy_change"] for r in rows], marker="s", color="C3",
               label=f"key test accuracy on the bundle vs {param} = {x[0]:g}")
    if all(r.get("attackers") for r in rows):
        right.plot(x, [100 * r["attackers"]["best_minus_key"] for r in rows], marker="^", color="C4",
                   label="best attacker's accuracy - the key's (below 0: the key leads)")
    right.axhline(0.0, color="k", lw=0.8)
    right.set_ylabel("accuracy points")
    right.set_title("Augmentation gain and key accuracy change")
    for ax in fig.axes:
        _weight_axis(ax, x)
        ax.set_xlabel(param)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.suptitle(f"Sweep of {param} (mode {result['mode']}, {(result.get('forge') or {}).get('rows', '?')} "
                 f"forged rows per bundle, classification)")
    return _png(plt, fig)


def render_sweep_classification(body: dict, image: str, style: str) -> str:
    """The sweep page of a classification sweep; ``image`` is the figure's HTML."""
    s, meta = body["sweep"], body.get("meta", {})
    measured = any("attackers" in r for r in s["results"])
    head = ["value", "accuracy", "log-loss", "vs first", "KL", "JS", "Wasserstein", "own + bundle accuracy",
            "gain", "best step"] + (["best attacker - key"] if measured else [])
    rows = []
    for r in s["results"]:
        d, a = r["divergence"], r["augmentation"]
        cells = [_fmt(r["value"]), _fmt(r["key"]["accuracy"]), _fmt(r["key"]["log_loss"]),
                 _points(r["key_accuracy_change"]), _fmt(d["kl"]), _fmt(d["js"]), _fmt(d["wasserstein"]),
                 _fmt(a["own_plus_bundle"]["accuracy"]), _points(a["gain"]), _fmt(r["forge"]["best_step"])]
        if measured:
            z = r.get("attackers") or {}
            cells.append(f"{_points(z.get('best_minus_key'))} ({html.escape(str(z.get('best', '–')))})")
        rows.append(cells)
    sp, ref = s["split"], s["reference"]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in meta.get("notes", []))
    title = f"EnFo sweep of {s['param']} (classification)"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Key <b>{html.escape(str(meta.get('key', {}).get('algorithm')))}</b>; mode <b>{html.escape(s['mode'])}</b>; "
        f"{html.escape(str((s.get('forge') or {}).get('rows')))} forged rows per bundle. Owner training rows: "
        f"{sp['train']}; the partner's own rows: {sp['own']}; test rows: {sp['test']}.</p>"
        f"<p>Key test accuracy on all training rows {_fmt(ref['full']['accuracy'])}, on the own rows alone "
        f"{_fmt(ref['own']['accuracy'])}. gain = accuracy(own + bundle) - accuracy(own); positive means the "
        f"bundle helps.</p>{_table(head, rows)}{image}<h2>Notes</h2><ul>{notes}</ul>"
        f"<p>Definitions: docs/metrics.md (Classification) of the EnFo SDK. Created "
        f"{html.escape(str(meta.get('created')))}.</p></body></html>"
    )
