"""Plain-text renderings of run summaries and manifests, for the command-line tools.

Pure functions from JSON-ready dicts to strings: the CLIs print them, tests read them, and
nothing here computes a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .report_rivalry import full_label, reference_name

__all__ = ["format_forge_table", "format_mapping", "format_seconds"]


#: The phases of an ``enfo-owner forge`` run, in order (the time line's; ``dial`` only when the
#: rival dial ran); :data:`enfo_sdk.workflows.forge_run.PHASES` is this tuple.
FORGE_PHASES = ("encapsulate", "forge", "dial", "evaluate", "write")

def format_seconds(s: float) -> str:
    """``0.4s``, ``12.3s``, ``1m 42s``, ``1h 03m``."""
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m {sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def _pct(value: float, reference: float) -> str:
    if not reference > 0:
        return ""
    return f"{100.0 * (value / reference - 1.0):+.1f}%"


def format_forge_table(summary: Mapping[str, Any]) -> str:
    """The table ``enfo-owner forge`` ends with, from :meth:`ForgeRun.summary`.

    Test RMSE of the key trained on all owner rows, on the forged rows and on as many
    sampled real rows (with the difference to the first), then rows, time, bundle, signer.
    """
    if summary.get("task") == "classification":  # accuracy and friends, not RMSE
        from .report_classify import format_classification_table

        return format_classification_table(summary)
    rmse = summary["test_rmse"]
    rows = summary["rows"]
    owner = summary["owner_rows"]
    train, test = owner["train"], owner["test"]
    ref = ((summary.get("record") or {}).get("protocol") or {}).get("rows")
    lines = [(f"key trained on {full_label(ref, 'owner rows') if ref else f'all {train:,} owner rows'}",
              rmse["full"], "")]
    if "forged_soft" in rmse:
        lines.append((f"... on the {rows:,} forged rows before hardening", rmse["forged_soft"],
                      _pct(rmse["forged_soft"], rmse["full"])))
    lines += [
        (f"key trained on the {rows:,} forged rows", rmse["forged"], _pct(rmse["forged"], rmse["full"])),
        (f"key trained on {rows:,} sampled real rows", rmse["sampled"], _pct(rmse["sampled"], rmse["full"])),
    ]
    width = max(len(label) for label, _, _ in lines)
    out = [f"{'':<{width}}  {'test RMSE':>10}  {'vs ' + reference_name(ref):>11}"]
    for label, value, diff in lines:
        out.append(f"{label:<{width}}  {value:>10.4g}  {diff:>11}")
    out += _rivalry_lines(summary.get("rivalry"), reference_name(ref))
    mcaa = (summary.get("record") or {}).get("mcaa")
    if mcaa:
        out.append(f"membership attack (MCAA)   {mcaa['accuracy']:.3f} on {mcaa['candidates']:,} candidates (0.5 is chance)")
    if summary.get("record"):
        out.append("  these figures are signed into the bundle (enfo-partner verify shows them)")
    if summary.get("dial"):
        out.append(summary["dial"]["message"])
    sec = summary["seconds"]
    phases = ", ".join(
        f"{name} {format_seconds(sec[name])}" for name in FORGE_PHASES if name in sec
    )
    key = summary["key"]
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in key["hyperparameters"].items())
    signer = summary["signer"]
    facts = [
        ("rows", f"{rows:,} forged; {train:,} owner rows for training, {test:,} test rows"
                 + (f" and {owner['outside']:,} outside rows held out" if owner.get("outside") else " held out")),
        ("key", f"{key['algorithm']} v{key['version']} ({params})"),
        ("time", f"{format_seconds(sec['total'])} ({phases})"),
        ("bundle", summary["bundle"]),
        ("signer", f"{signer['fingerprint']} ({signer['key']})"),
    ]
    if summary.get("sealed_to"):
        facts.append(("sealed", f"key and probes sealed to partner {', '.join(summary['sealed_to'])} "
                                "(only that partner, and you, can rebuild the key)"))
    if summary.get("report"):
        facts.append(("report", summary["report"]))
    out.append("")
    out += [f"{name:<7} {value}" for name, value in facts]
    return "\n".join(out)


def _interval(t: Mapping[str, float]) -> str:
    return f"x{t['value']:.3f} [{t['low']:.2f}, {t['high']:.2f}]"


def _rivalry_lines(r: Mapping[str, Any] | None, reference: str = "all rows") -> list[str]:
    """The rivalry check's lines under the RMSE table (nothing when it did not run)."""
    if not r:
        return []
    out = [""]
    if r.get("key_vs_full"):
        out.append(f"{'forged / ' + reference:<27}{_interval(r['key_vs_full'])}")
    if r.get("key_vs_sampled"):
        out.append(f"forged / sampled rows      {_interval(r['key_vs_sampled'])}")
    ran = len(r["attackers"])
    if r.get("best"):
        out.append(f"best attacker / key        {_interval(r['ratio'])}  ({r['best']}; {ran} attackers "
                   f"tuned by CV on the forged rows in {r['seconds']:.0f}s, budget {r['budget']:.0f}s)")
    if r.get("skipped"):
        out.append(f"  not run (time up): {', '.join(r['skipped'])}")
    if r.get("mean_only"):
        out.append(f"mean only / key            {_interval(r['mean_only'])}  (a model that ignores the features: "
                   "predicts the forged targets' mean)")
    if r.get("outside"):
        out.append(f"+{r['outside_rows']:,} outside rows / forged {_interval(r['outside'])}  (above 1: outside "
                   "rows make the key worse)")
    out.append(f"  intervals: 95% bootstrap over the {r['test_rows']:,} test rows")
    if r.get("below_target"):
        out.append(f"WARNING: the best attacker ({r['best']}) comes within x{r['ratio']['value']:.3f} of the key, "
                   f"below the target x{r['target']:g} (forge.rivalry.target): these rows are not rival enough")
        m = r.get("mean_only")
        if m and m["high"] < r["target"]:
            out.append(f"  and out of reach on this table: predicting the forged targets' mean alone scores "
                       f"x{m['value']:.3f} [{m['low']:.2f}, {m['high']:.2f}] of the key, and attackers tuned by CV "
                       "can shrink to that")
    return out


def _short(value: Any, limit: int) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > limit:
        head = ", ".join(_short(v, limit) for v in value[:limit])
        return f"[{head}, ... ({len(value)} values)]"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return "[" + ", ".join(_short(v, limit) for v in value) + "]"
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def format_mapping(data: Mapping[str, Any], *, indent: int = 0, list_limit: int = 6) -> str:
    """A nested mapping as indented ``key: value`` lines; long lists are shortened.

    Lists of mappings (e.g. features, probe points) show their first ``list_limit`` items.
    """
    pad = "  " * indent
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            if not value:
                out.append(f"{pad}{key}: {{}}")
                continue
            out.append(f"{pad}{key}:")
            out.append(format_mapping(value, indent=indent + 1, list_limit=list_limit))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            out.append(f"{pad}{key}: ({len(value)} items)")
            for item in value[:list_limit]:
                flat = ", ".join(f"{k}={_short(v, list_limit)}" for k, v in item.items())
                out.append(f"{pad}  - {flat}")
            if len(value) > list_limit:
                out.append(f"{pad}  - ... {len(value) - list_limit} more")
        else:
            out.append(f"{pad}{key}: {_short(value, list_limit)}")
    return "\n".join(out)
