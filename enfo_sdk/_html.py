"""Small HTML tables for notebooks: the ``_repr_html_`` of the SDK's result objects.

Jupyter shows an object through its ``_repr_html_`` when it has one. Every value is escaped
(a bundle's names come from its signer, a partner's columns from anywhere), and the markup is
a plain ``<table>`` so it reads the same in Jupyter, VS Code and GitHub's viewer.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape


def key_value_table(title: str, rows: Iterable[tuple[str, object]]) -> str:
    """``<table>`` with a caption and one (name, value) pair per row; everything escaped.

    Parameters
    ----------
    title : str
    rows : iterable of (str, object)
        Values are shown through ``str`` (floats with 6 significant digits).

    Returns
    -------
    str
    """
    def show(value: object) -> str:
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    body = "".join(
        f"<tr><th style='text-align:left'>{escape(name)}</th><td style='text-align:left'>{escape(show(value))}</td></tr>"
        for name, value in rows
    )
    return f"<table><caption style='text-align:left'><b>{escape(title)}</b></caption>{body}</table>"
