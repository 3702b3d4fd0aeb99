"""Plain-text renderings of a bundle's signed rivalry record, and of a partner's re-measurement beside it.

Pure functions from JSON-ready dicts (``RivalryRecord.model_dump(mode="json")``, ``CheckReport.
to_json()``) to lines: ``enfo-partner verify``, ``enfo-owner inspect`` and ``enfo-partner check``
print them; nothing here computes a figure or imports more than the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["NO_RECORD", "format_record", "format_comparison"]

#: What is shown for a bundle without a record (written before records were signed).
NO_RECORD = "no rivalry record (the bundle was signed without the owner's measured figures)"


def _x(t: Mapping[str, float] | None, digits: int = 3) -> str:
    if not t:
        return "-"
    return f"x{t['value']:.{digits}f} [{t['low']:.2f}, {t['high']:.2f}]"


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


def reference_name(rows) -> str:
    """What the "full" figures are relative to: ``all rows``, or ``reference`` when the key was
    trained on a sample of the training rows (:func:`full_label` says which)."""
    return "all rows" if not rows or int(rows["full_reference"]) >= int(rows["train"]) else "reference"


def full_label(rows, noun: str) -> str:
    """Which rows the 'full' reference was trained on: ``all N <noun>``, or ``F of the N <noun>
    (seeded sample)`` when it was capped (a kernel key's memory) or is a streamed table's
    sample."""
    full, train = int(rows["full_reference"]), int(rows["train"])
    return f"all {train:,} {noun}" if full >= train else f"{full:,} of the {train:,} {noun} (seeded sample)"


def format_record(record: Mapping[str, Any] | None) -> list[str]:
    """The record's figures, a few lines, each saying what it measures and on how many rows."""
    if not record:
        return [NO_RECORD]
    p = record["protocol"]
    rows = p["rows"]
    key = record["key"]
    head = (f"signed record v{record['version']} ({p['name']}): {rows['test']:,} test rows"
            + (f", {rows['outside']:,} outside rows" if rows["outside"] else "")
            + f" of {rows['held_out']:,} held out (data.test_fraction {p['test_fraction']:g}, seed "
              f"{p['split_seed']}); {rows['train']:,} training rows, {rows['forged']:,} forged")
    out = [head]
    if record["task"] == "classification":
        out.append(f"{'key trained on':<26}{'accuracy':>10}{'bal. acc.':>10}{'log-loss':>10}{'Brier':>8}{'ROC AUC':>9}")
        for side, label in (("full", full_label(rows, "rows")), ("forged", f"{rows['forged']:,} forged rows"),
                            ("forged_soft", "forged, before hardening"), ("sampled", f"{rows['forged']:,} sampled rows")):
            if side in key:
                m = key[side]
                out.append(f"  {label:<24}{_num(m['accuracy']):>10}{_num(m['balanced_accuracy']):>10}"
                           f"{_num(m['log_loss']):>10}{_num(m['brier']):>8}{_num(m['roc_auc']):>9}")
        out.append("no attackers, intervals or outside rows are measured for classification bundles yet")
        return out
    out.append(f"key test RMSE: {full_label(rows, 'training rows')} {_num(key['full']['rmse'])}, "
               f"{rows['forged']:,} forged rows {_num(key['forged']['rmse'])}, "
               f"{rows['forged']:,} sampled rows {_num(key['sampled']['rmse'])}"
               + (f", forged before hardening {_num(key['forged_soft']['rmse'])}" if "forged_soft" in key else ""))
    out.append(f"{'forged / ' + reference_name(rows):<27}{_x(record.get('key_vs_full'))}")
    out.append(f"forged / sampled rows      {_x(record.get('key_vs_sampled'))}")
    a = p.get("attackers")
    if record.get("best"):
        out.append(f"best attacker / key        {_x(record['best_ratio'])}  ({record['best']}; target "
                   f"x{record['target']:g})")
        ratios = ", ".join(f"{name} x{f['ratio']:.3f}" for name, f in
                           sorted(record["attackers"].items(), key=lambda kv: kv[1]["rmse"]) if f["ratio"] is not None)
        out.append(f"  each attacker / key: {ratios}")
    else:
        out.append("best attacker / key        - (no attackers were run: forge.rivalry.seconds 0)")
    if a:
        out.append(f"  {len(record['attackers'])} of {len(a['families'])} attackers, tuned by {a['cv_folds']}-fold CV "
                   f"on the forged rows (seed {a['seed']}); the check took {a['seconds']:.1f}s, budget {a['budget_seconds']:g}s"
                   + (f"; not run: {', '.join(record['skipped'])}" if record.get("skipped") else ""))
    if record.get("outside"):
        out.append(f"+{rows['outside']:,} outside rows / forged {_x(record['outside'])}  (above 1: outside rows "
                   "make the key worse)")
    if record.get("mcaa"):
        m = record["mcaa"]
        out.append(f"membership attack (MCAA)   {m['accuracy']:.3f} on {m['candidates']:,} candidates (0.5 is chance)")
    b = p.get("bootstrap")
    if b:
        out.append(f"intervals: {100 * b['level']:g}% paired bootstrap, {b['resamples']:,} resamples (seed {b['seed']}) "
                   f"over the {rows['test']:,} test rows")
    return out


def format_comparison(check: Mapping[str, Any], record: Mapping[str, Any] | None) -> list[str]:
    """The partner's re-measurement (``CheckReport.to_json()``) beside the owner's signed figures."""
    mine = check.get("rivalry")
    if not mine:
        return []
    if not record:
        return [NO_RECORD + ": nothing to compare with"]
    if record["task"] != "regression":
        return []
    rows = record["protocol"]["rows"]
    w, lw = 32, 26
    out = [f"same measurement, your rows beside the owner's signed record ({record['protocol']['name']}):",
           f"  {'':<{lw}}{'yours':<{w}}{'owner (signed)':<{w}}",
           f"  {'test rows':<{lw}}{mine['test_rows']:<{w},}{rows['test']:<{w},}",
           f"  {'key test RMSE':<{lw}}{_num(check['key_rmse']):<{w}}{_num(record['key']['forged']['rmse']):<{w}}"]
    if mine.get("best") or record.get("best"):
        yours = f"{_x(mine.get('ratio'))} {mine.get('best') or ''}".strip()
        theirs = f"{_x(record.get('best_ratio'))} {record.get('best') or ''}".strip()
        out.append(f"  {'best attacker / key':<{lw}}{yours:<{w}}{theirs:<{w}}")
    names = list(dict.fromkeys([*record.get("attackers", {}), *mine.get("attackers", {})]))
    for name in names:
        a, b = mine["attackers"].get(name), record["attackers"].get(name)
        fa = "-" if not a or a.get("ratio") is None else f"x{a['ratio']:.3f}"
        fb = "-" if not b or b.get("ratio") is None else f"x{b['ratio']:.3f}"
        out.append(f"  {'  ' + name + ' / key':<{lw}}{fa:<{w}}{fb:<{w}}")
    if mine.get("mean_only"):  # not in the signed record (version 1): yours only
        out.append(f"  {'mean only / key':<{lw}}{_x(mine['mean_only']):<{w}}{'- (not recorded)':<{w}}")
    if mine.get("outside") or record.get("outside"):
        yours = f"{_x(mine.get('outside'))} ({mine['outside_rows']:,} rows)" if mine.get("outside") else "-"
        theirs = f"{_x(record.get('outside'))} ({rows['outside']:,} rows)" if record.get("outside") else "-"
        out.append(f"  {'+outside rows / forged':<{lw}}{yours:<{w}}{theirs:<{w}}")
    out.append("  intervals: 95% paired bootstrap over each side's test rows; the owner's rows are not yours, "
               "so the figures agree when the intervals overlap")
    return out
