"""The report's figures as PNG bytes (matplotlib, Agg backend; nothing is shown on screen).

Each function takes parts of the :func:`enfo_sdk.evaluate.core.evaluate` result and returns
PNG bytes, or None when there is nothing to draw; :func:`sweep_plot` draws a
:func:`enfo_sdk.evaluate.sweep.sweep` result.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["training_curve", "rows_curve_plot", "rmse_vs_attack", "divergence_radar", "attacker_bars",
           "sweep_plot"]

_LABELS = {
    "bundle": "EnFo bundle", "sampled": "sampled real rows", "noise": "random noise",
    "rounding": "rounding", "top_coding": "top coding", "swap_20": "20% swapping",
    "swap_50": "50% swapping", "gaussian_copula": "Gaussian copula",
}


def label(name: str) -> str:
    return _LABELS.get(name, name)


def _figure(w=6.4, h=4.2):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(w, h), dpi=100)
    return plt, fig


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def training_curve(history, full_rmse: float | None = None) -> bytes | None:
    """Validation RMSE (and minibatch loss) against forging step."""
    if history is None or len(history) == 0:
        return None
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    ax.plot(history["step"], history["val_rmse"], marker=".", label="validation RMSE of the key on the forged rows")
    if full_rmse is not None:
        ax.axhline(full_rmse, color="k", ls="--", lw=1, label="key on all training rows (test RMSE)")
    ax.set_xlabel("forging step")
    ax.set_ylabel("RMSE (target units)")
    ax.set_title("Forging: training curve")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(plt, fig)


def rows_curve_plot(curve: dict, full_rmse: float, *, metric: str = "rmse",
                    ylabel: str = "key test RMSE (target units)", what: str = "RMSE") -> bytes | None:
    """Key test RMSE (or another ``metric`` of the curve) against row count: forged vs sampled
    real rows, mean +- std over seeds."""
    if not curve or not curve.get("sizes"):
        return None
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    sizes = curve["sizes"]
    for name, marker in (("forged", "o"), ("sampled", "s")):
        mean = [curve[name][str(s)]["mean"] for s in sizes]
        std = [curve[name][str(s)]["std"] or 0.0 for s in sizes]
        ax.errorbar(sizes, mean, yerr=std, marker=marker, capsize=4,
                    label="EnFo bundle" if name == "forged" else "sampled real rows")
    ax.axhline(full_rmse, color="k", ls="--", lw=1, label="all training rows")
    seeds = len(curve["forged"][str(sizes[0])][metric])
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("rows in the training table")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{what} vs row count (mean ± std over {seeds} seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(plt, fig)


def rmse_vs_attack(result: dict, utility=lambda m: m["key_rmse"],
                   ylabel: str = "key test RMSE (lower = more useful)") -> bytes:
    """Key test RMSE (or another ``utility`` of a table's metrics) against Monte Carlo attack
    accuracy, bundle and every baseline."""
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    points = {"bundle": result["bundle"], **result["baselines"]}
    for i, (name, m) in enumerate(points.items()):
        x, y = m["privacy"]["mc_attack"]["accuracy"], utility(m)
        ax.scatter([x], [y], s=80 if name == "bundle" else 45, marker="*" if name == "bundle" else "o",
                   color=f"C{i}", label=label(name), zorder=3)
    ax.axhline(utility(result["full"]), color="k", ls="--", lw=1, label="all training rows")
    ax.axvline(0.5, color="grey", ls=":", lw=1, label="chance (0.5)")
    ax.set_xlabel("Monte Carlo attack accuracy (lower = more private)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"Utility vs privacy at {result['bundle']['rows']} rows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(plt, fig)


def divergence_radar(result: dict) -> bytes:
    """KL, JS and Wasserstein of bundle and baselines, each normalised by its maximum."""
    plt, fig = _figure(6.4, 5.0)
    ax = fig.add_subplot(111, projection="polar")
    keys = [("kl", "KL"), ("js", "JS"), ("wasserstein", "Wasserstein")]
    points = {"bundle": result["bundle"], **result["baselines"]}
    maxima = {k: max(m["divergence"][k] for m in points.values()) or 1.0 for k, _ in keys}
    angles = np.linspace(0, 2 * np.pi, len(keys), endpoint=False).tolist()
    for i, (name, m) in enumerate(points.items()):
        vals = [m["divergence"][k] / maxima[k] for k, _ in keys]
        ax.plot(angles + angles[:1], vals + vals[:1], color=f"C{i}",
                lw=2.5 if name == "bundle" else 1.2, label=label(name))
    ax.set_xticks(angles)
    ax.set_xticklabels([f"{t}\n(max {maxima[k]:.3g})" for k, t in keys])
    ax.set_ylim(0, 1.05)
    ax.set_rlabel_position(60)
    ax.set_title("Divergence from the real rows (each axis / its max; higher = more rival)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.05, 1.0))
    return _png(plt, fig)


def attacker_bars(result: dict) -> bytes:
    """Test RMSE of every attacker trained on the bundle, against the key."""
    zoo = result["bundle"]["attackers"]
    names = list(zoo["models"])
    vals = [zoo["models"][n]["rmse"] for n in names]
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    ax.bar(["key"] + names, [result["bundle"]["key_rmse"]] + vals,
           color=["C2"] + ["C0"] * len(names))
    ax.axhline(result["bundle"]["key_rmse"], color="C2", ls="--", lw=1, label="key on the bundle")
    ax.axhline(result["full"]["key_rmse"], color="k", ls=":", lw=1, label="key on all training rows")
    ax.set_ylabel("test RMSE (target units)")
    ax.set_xlabel("model trained on the bundle (tuned by CV on the bundle alone)")
    ax.set_title(f"Attacker zoo: best / key = {zoo.get('best_ratio', float('nan')):.2f}")
    for t in ax.get_xticklabels():
        t.set_rotation(30)
        t.set_horizontalalignment("right")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return _png(plt, fig)


def _weight_axis(ax, values) -> None:
    """Linear x-axis, or log / symlog (linear below the smallest positive value, so 0 shows)
    when the values span two decades or more; ticks at the values themselves."""
    v = np.asarray(values, dtype=np.float64)
    pos = v[v > 0]
    if len(pos) and pos.max() / pos.min() >= 100:
        if (v == 0).any():
            ax.set_xscale("symlog", linthresh=float(pos.min()), linscale=0.5)
        else:
            ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ticks = sorted(set(v.tolist()))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    scale = ax.xaxis.get_transform()  # 6% margins measured in the scaled axis
    lo, hi = scale.transform([[ticks[0]], [ticks[-1]]])[:, 0]
    pad = 0.06 * (hi - lo) if hi > lo else 0.5
    ax.set_xlim(*scale.inverted().transform([[lo - pad], [hi + pad]])[:, 0])


def sweep_axes(result: dict):
    """A sweep figure's frame: ``(plt, fig, values, right axes)``, with the divergences of every
    swept value already drawn on the left axes."""
    rows = result["results"]
    x = [r["value"] for r in rows]
    plt, fig = _figure(11.0, 5.2)
    left, right = fig.add_subplot(121), fig.add_subplot(122)
    for key, name, marker in (("kl", "KL(real || bundle)", "o"), ("js", "Jensen-Shannon", "s"),
                              ("wasserstein", "Wasserstein-1", "^")):
        left.plot(x, [r["divergence"][key] for r in rows], marker=marker, label=name)
    left.set_ylabel("divergence from the owner's rows\n(mean over columns; lower = closer)")
    left.set_title("Divergence of the bundle")
    return plt, fig, x, right


def sweep_plot(result: dict, path=None) -> bytes:
    """Divergences (left) and augmentation gain and key RMSE change (right) against the weight;
    with attackers in ``result``, also the best attacker's RMSE over the key's (right).

    ``result`` is :func:`enfo_sdk.evaluate.sweep.sweep`'s; the PNG is also written to ``path``
    (atomically) when given.
    """
    param, rows = result["param"], result["results"]
    plt, fig, x, right = sweep_axes(result)
    gain = [np.nan if r["augmentation"]["gain"] is None else 100 * r["augmentation"]["gain"] for r in rows]
    change = [np.nan if r["key_rmse_change"] is None else 100 * r["key_rmse_change"] for r in rows]
    own = result.get("split", {}).get("own")
    right.plot(x, gain, marker="o", color="C2",
               label=f"augmentation gain: 1 - RMSE(own + bundle) / RMSE(own)"
                     + (f", {own} own rows" if own else ""))
    right.plot(x, change, marker="s", color="C3", label=f"key test RMSE on the bundle vs {param} = {x[0]:g}")
    has_attackers = all(r.get("attackers") for r in rows)
    if has_attackers:  # sweep(..., attackers=True): the rivalry the weight buys, same units
        right.plot(x, [100 * (r["attackers"]["best_ratio"] - 1.0) for r in rows], marker="^", color="C4",
                   label="best attacker's test RMSE over the key's - 1 (rivalry)")
    right.axhline(0.0, color="k", lw=0.8)
    right.set_ylabel("percent")
    right.set_title("Augmentation gain, key RMSE change" + (" and rivalry" if has_attackers else ""))
    for ax in fig.axes:
        _weight_axis(ax, x)
        ax.set_xlabel(param)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.suptitle(f"Sweep of {param} (mode {result.get('mode', '?')}, "
                 f"{(result.get('forge') or {}).get('rows', '?')} forged rows per bundle)")
    png = _png(plt, fig)
    if path is not None:
        from ..fs import write_bytes_atomic

        write_bytes_atomic(path, png)
    return png
