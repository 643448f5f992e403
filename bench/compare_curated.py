"""Compares two `sluice run --out` exports' curated tables: row multisets, Parquet schema, partition directories.

Lineage that names the run (`_ingest_id`, `_ingested_at`, `_source_key`) and columns derived from the clock
(`--ignore`, e.g. `_processed_at = current_timestamp()`) are left out. Used to check that a runtime change (Spark
3.5.6 -> 4.1.1) left the curated output unchanged (bench/results/runtimes.md):

    python -m bench.compare_curated OLD/curated NEW/curated [--ignore _processed_at]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

RUN_LINEAGE = ("_ingest_id", "_ingested_at", "_source_key")


def read_table(
    folder: Path, ignore: set[str]
) -> tuple[Counter[tuple[Any, ...]], list[tuple[str, str]], list[str]]:
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        raise SystemExit(f"{folder}: no Parquet files")
    rows: Counter[tuple[Any, ...]] = Counter()
    for file in files:
        for row in pq.read_table(file, partitioning=None).to_pylist():
            rows[tuple(sorted((k, repr(v)) for k, v in row.items() if k not in ignore))] += 1
    schema = [(f.name, str(f.type)) for f in pq.read_schema(files[0])]
    dirs = sorted({str(f.parent.relative_to(folder)) for f in files})
    return rows, schema, dirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--ignore", action="append", default=[], help="another column to leave out")
    args = parser.parse_args(argv)
    ignore = {*RUN_LINEAGE, *args.ignore}
    tables = sorted(p.name for p in args.old.iterdir() if p.is_dir())
    if tables != sorted(p.name for p in args.new.iterdir() if p.is_dir()):
        print(f"tables differ: {tables} vs {sorted(p.name for p in args.new.iterdir())}")
        return 1
    same = True
    for table in tables:
        old, new = read_table(args.old / table, ignore), read_table(args.new / table, ignore)
        verdict = [
            name for name, a, b in zip(("rows", "schema", "partitions"), old, new, strict=True) if a != b
        ]
        print(
            f"{table}: {sum(old[0].values()):,} / {sum(new[0].values()):,} rows; differ in: {verdict or 'nothing'}"
        )
        same = same and not verdict
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
