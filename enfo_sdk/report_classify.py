"""Plain-text table of a classification forge run (``enfo-owner forge`` for a classification task).

A pure function from :meth:`ForgeRun.to_json`'s dict to a string, beside
:func:`enfo_sdk.report_table.format_forge_table` (which hands classification summaries here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_classification_table"]


def format_classification_table(summary: Mapping[str, Any]) -> str:
    """Accuracy, balanced accuracy, log-loss, Brier and ROC AUC of the key trained on all owner
    rows, on the forged rows and on as many sampled real rows; the class balance; the facts."""
    test = summary["test"]
    rows = summary["rows"]
    train, test_rows = summary["owner_rows"]["train"], summary["owner_rows"]["test"]
    labels = [("full", f"key trained on all {train:,} owner rows"),
              ("forged_soft", f"... on the {rows:,} forged rows before hardening"),
              ("forged", f"key trained on the {rows:,} forged rows"),
              ("sampled", f"key trained on {rows:,} sampled real rows")]
    labels = [(side, label) for side, label in labels if side in test]
    width = max(len(label) for _, label in labels)
    cols = ("accuracy", "balanced_accuracy", "log_loss", "brier", "roc_auc")
    heads = ("accuracy", "bal. acc.", "log-loss", "Brier", "ROC AUC")
    out = [f"{summary.get('task_note', 'task: classification')}",
           f"{'':<{width}}  " + "  ".join(f"{h:>9}" for h in heads)]
    for side, label in labels:
        m = test[side]
        out.append(f"{label:<{width}}  " + "  ".join(
            f"{m[c]:>9.4f}" if m.get(c) is not None else f"{'-':>9}" for c in cols))
    balance = summary.get("class_balance") or {}
    if balance:
        out.append("")
        out.append("forged rows by most likely class: " + ", ".join(
            f"{c} {b['rows']} (label mass {b['mass']:.1f})" for c, b in balance.items()))
    key = summary["key"]
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in key["hyperparameters"].items())
    out += ["", f"rows    {rows:,} forged; {train:,} owner rows for training, {test_rows:,} held out for the test",
            f"key     {key['algorithm']} v{key['version']} ({params})",
            f"bundle  {summary['bundle']}",
            f"signer  {summary['signer']['fingerprint']} ({summary['signer']['key']})"]
    return "\n".join(out)
