"""What both evaluation reports' HTML pages share: number formats and a plain table."""

from __future__ import annotations

import html
import math

__all__ = ["fmt", "pct", "table"]


def fmt(v, digits: int = 4) -> str:
    """A float to ``digits`` significant digits, "–" for None or NaN; anything else escaped."""
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def pct(v) -> str:
    """A relative change as a signed percentage, "–" for None."""
    return "–" if v is None else f"{100 * v:+.1f}%"


def table(header, rows) -> str:
    """``<table>`` of escaped headers and cells given as HTML."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
