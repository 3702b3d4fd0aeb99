"""House figures for issue 12: module sizes, modules over 600 lines, longest functions (AST over enfo_sdk/).

Run from the repository root: python scripts/house_figures.py
"""
import ast, sys
from pathlib import Path
root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
funcs, sizes = [], []
for p in sorted((root / "enfo_sdk").rglob("*.py")):
    src = p.read_text()
    sizes.append((len(src.splitlines()), str(p.relative_to(root))))
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.append((n.end_lineno - n.lineno + 1, f"{p.relative_to(root)}:{n.lineno} {n.name}"))
funcs.sort(reverse=True); sizes.sort(reverse=True)
print("largest modules:", ", ".join(f"{f} {n}" for n, f in sizes[:5]))
print("modules over 600 lines:", [f for n, f in sizes if n > 600])
print("longest functions:", "; ".join(f"{w} {n}" for n, w in funcs[:5]))
for f in ("enfo_sdk/forge.py", "enfo_sdk/pipeline.py"):
    q = root / f
    print(f, len(q.read_text().splitlines()) if q.exists() else "absent")
