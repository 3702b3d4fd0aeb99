#!/usr/bin/env python
"""The house's size figures, for issue 12's before/after table (prints figures; not a test).

    python scripts/house_metrics.py [ROOT]

ROOT (default: this checkout) may be any checkout of the project, e.g. an old commit's
worktree, so both sides are measured by the same code. Prints: lines of ``enfo_sdk/pipeline.py``
and ``enfo_sdk/forge.py``; the largest modules and those over 600 lines; the five longest functions in ``enfo_sdk`` (lines, parameters);
the function with most parameters; import cycles inside ``enfo_sdk`` (the graph of
tests/test_house.py, applied to ROOT, so that an old checkout without that test is measured alike).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def functions(root: Path):
    for path in sorted((root / "enfo_sdk").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                params -= 1 if a.args and a.args[0].arg in ("self", "cls") else 0
                yield path.relative_to(root), node.name, node.end_lineno - node.lineno + 1, params


def import_cycles(root: Path) -> list[list[str]]:
    """Import cycles of ``root``'s ``enfo_sdk``, by this checkout's tests/test_house.py graph."""
    import importlib.util

    here = Path(__file__).resolve().parents[1] / "tests" / "test_house.py"
    spec = importlib.util.spec_from_file_location("house_rules", here)
    house = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(house)
    house.ROOT = root  # measure the given checkout with the same rules
    return house.cycles(house.import_graph())


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).resolve()
    for f in ("enfo_sdk/pipeline.py", "enfo_sdk/forge.py"):
        p = root / f
        print(f"{f}: {len(p.read_text().splitlines()) if p.exists() else 'absent'} lines")
    sizes = sorted(((len(p.read_text().splitlines()), str(p.relative_to(root)))
                    for p in (root / "enfo_sdk").rglob("*.py")), reverse=True)
    print("largest modules: " + ", ".join(f"{f} {n}" for n, f in sizes[:3]))
    print(f"modules over 600 lines: {[f'{f} {n}' for n, f in sizes if n > 600]}")
    funcs = list(functions(root))
    print("longest functions (lines, parameters):")
    for path, fname, lines, params in sorted(funcs, key=lambda t: -t[2])[:5]:
        print(f"  {lines:4d} {params:3d}  {path}:{fname}")
    path, fname, lines, params = max(funcs, key=lambda t: t[3])
    print(f"most parameters: {params} ({path}:{fname}, {lines} lines)")
    cyc = import_cycles(root)
    print(f"import cycles: {len(cyc)} {cyc if cyc else ''}")


if __name__ == "__main__":
    main()
