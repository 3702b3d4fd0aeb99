"""The house's layering rules, checked over the source: no import cycles inside ``enfo_sdk``,
no private name imported across packages, the library never imports the CLIs.

The graph has an edge from a module to every ``enfo_sdk`` module it imports, wherever the import
stands (top level or inside a function: a lazy import is still a dependency), plus an edge to
each package whose ``__init__`` an import runs (``from enfo_sdk.bundle.footer import x`` runs
``enfo_sdk/bundle/__init__.py`` first), except the importer's own packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ("owner_cli", "partner_cli", "benchmarks", "examples")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, [names])`` of every import statement in ``path``, made absolute."""
    name = _module_name(path)
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names]))
    return out


def _package_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in (ROOT / "enfo_sdk").rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    mods = _package_modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for module, names in _imports(path):
            for target in [module, *(f"{module}.{n}" for n in names)]:
                if target not in mods or target == m:
                    continue
                edges[m].add(target)
                parts = target.split(".")
                for k in range(2, len(parts)):  # the packages whose __init__ the import runs
                    parent = ".".join(parts[:k])
                    if parent in mods and not (m == parent or m.startswith(parent + ".")):
                        edges[m].add(parent)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_known_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_package():
    found = cycles(import_graph())
    assert found == [], f"import cycles: {found}"


def _owner_package(module: str, mods: dict[str, Path]) -> str:
    """The package a module belongs to (itself for a package's __init__)."""
    return module if mods.get(module, Path("x.py")).name == "__init__.py" else module.rpartition(".")[0]


def private_imports() -> list[str]:
    """Imports of a private module or name from outside the package that owns it."""
    mods = _package_modules()
    files = [*mods.values()] + [p for d in OUTSIDE for p in (ROOT / d).rglob("*.py")]
    bad = []
    for path in files:
        importer = _module_name(path)
        for module, names in _imports(path):
            if not module.startswith("enfo_sdk"):
                continue
            parts = module.split(".")
            # a private module: enfo_sdk.bundle._atomic belongs to enfo_sdk.bundle
            for k, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:k])
                    if not (importer == owner or importer.startswith(owner + ".")):
                        bad.append(f"{path.relative_to(ROOT)}: imports {module}")
                    break
            # a private name: from enfo_sdk.keys.base import _summarise belongs to enfo_sdk.keys
            owner = _owner_package(module, mods)
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    if not (importer == owner or importer.startswith(owner + ".")):
                        bad.append(f"{path.relative_to(ROOT)}: imports {n} from {module}")
    return bad


def test_no_private_names_imported_across_packages():
    assert private_imports() == []


def test_the_library_never_imports_the_clis():
    for m, path in _package_modules().items():
        for module, _ in _imports(path):
            assert not module.startswith(("owner_cli", "partner_cli")), f"{m} imports {module}"


@pytest.mark.parametrize("module", sorted(_package_modules()))
def test_every_module_says_what_it_is(module):
    path = _package_modules()[module]
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if path.name == "__init__.py" and path.stat().st_size == 0:
        pytest.skip("empty package marker")
    assert doc, f"{path.relative_to(ROOT)} has no module docstring"
