"""examples/owner.ipynb then examples/partner.ipynb, executed cell by cell on small parameters.

No Jupyter kernel is needed (nbclient/ipykernel would be new dependencies): the notebook's
JSON is read with the standard library and its code cells run in order in one namespace, in a
scratch folder, as a kernel would run them. The cell tagged ``parameters`` is followed by an
injected cell of smaller values (papermill's convention). Like Jupyter, a cell's last
expression is evaluated and shown: here its ``_repr_html_`` (when it has one) must return
HTML, so every table the notebooks display is built too.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL = {
    "owner": "N_OWNER_ROWS = 400\nFORGED_ROWS = 20\nSTEPS = 30\n",
    "partner": "OWN_ROWS = 60\nFAMILIES = ['ridge', 'knn']\n",
}


def run_notebook(path: Path, injected: str) -> list:
    """Run the code cells of ``path``; returns the value of each cell's last expression."""
    book = json.loads(path.read_text(encoding="utf-8"))
    assert book["nbformat"] == 4
    assert all(not c.get("outputs") for c in book["cells"] if c["cell_type"] == "code"), f"{path.name}: clear outputs"
    namespace: dict = {"__name__": "__main__"}
    shown = []
    for i, cell in enumerate(book["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse(source, filename=f"{path.name}[{i}]")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"{path.name}[{i}]", "exec"), namespace)
        value = eval(compile(ast.Expression(last.value), f"{path.name}[{i}]", "eval"), namespace) if last else None
        if hasattr(value, "_repr_html_"):
            html = value._repr_html_()
            assert isinstance(html, str) and "<table" in html, f"{path.name}[{i}]: {type(value).__name__} shows no table"
        shown.append(value)
        if "parameters" in cell["metadata"].get("tags", []):
            exec(injected, namespace)
    return shown


@pytest.mark.slow
def test_owner_then_partner_notebooks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run_notebook(ROOT / "examples" / "owner.ipynb", SMALL["owner"])
    assert sorted(p.name for p in (tmp_path / "enfo-notebook").iterdir()) == ["bundle.parquet", "owner.key", "owner.key.pub"]
    shown = run_notebook(ROOT / "examples" / "partner.ipynb", SMALL["partner"])
    names = [type(v).__name__ for v in shown]
    for expected in ("VerifiedBundle", "TrainedModel", "AugmentReport", "DataFrame"):
        assert expected in names, names
    assert (tmp_path / "enfo-notebook" / "model.parquet").exists()
    assert os.stat(tmp_path / "enfo-notebook" / "trusted_owners").st_mode & 0o077 == 0


def test_html_tables_escape_what_they_show():
    from enfo_sdk._html import key_value_table
    from enfo_sdk.partner import AugmentReport

    html = key_value_table("a <b> & c", [("<script>", "x<y"), ("rmse", 0.123456789)])
    assert "<script>" not in html and "&lt;script&gt;" in html and "x&lt;y" in html and "a &lt;b&gt; &amp; c" in html
    assert "<td style='text-align:left'>0.123457</td>" in html
    rep = AugmentReport(own_rmse=2.0, augmented_rmse=1.5, bundle_only_rmse=3.0, folds=5, own_rows=100, bundle_rows=20)
    page = rep._repr_html_()
    assert "5-fold CV, 100 rows; bundle 20 rows" in page and "-25.0%" in page and "<td style='text-align:left'>yes</td>" in page
