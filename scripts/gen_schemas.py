#!/usr/bin/env python
"""Write schemas/*.schema.json from the pydantic models (or check that they are current).

    python scripts/gen_schemas.py          # regenerate
    python scripts/gen_schemas.py --check  # exit 1 when a file differs from its model

The contract schema lets editors complete and check contracts (their first line is
``# yaml-language-server: $schema=../../schemas/contract.schema.json``); the manifest schema
documents bundle format v1 (docs/bundle-format.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _render(schema: dict, title: str) -> str:
    body = {"$schema": DRAFT, **{k: v for k, v in schema.items() if k != "$schema"}}
    body["title"] = title
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def schemas() -> dict[Path, str]:
    """Each schema file and the text it should hold."""
    from enfo_sdk.bundle import Manifest
    from enfo_sdk.contract import Contract

    return {
        SCHEMAS / "contract.schema.json": _render(
            Contract.model_json_schema(mode="validation"), "EnFo contract, version 1"
        ),
        SCHEMAS / "manifest.schema.json": _render(
            Manifest.model_json_schema(mode="validation"), "EnFo bundle manifest, format version 1"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in schemas().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python scripts/gen_schemas.py",
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
