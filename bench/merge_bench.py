"""Merging a 10,000-row file whose rows fall in one partition into a keyed curated table of 1,000,000 (or
10,000,000) rows, against the plain append of the same file: time and bytes written, on both engines.

The table: 100 daily partitions (`day`), or as many as `--partition-rows` rows each make (a daily table grows by
adding days: its partitions keep their size as the table grows), one Parquet file each, the curated columns plus
lineage, written by DuckDB. The file: 5,000 corrections of keys in the first day (a higher `version`, a changed `name`) and 5,000 new
keys in the same day, as typed staging Parquet. Append = the engine without `existing` (today's publish); merge =
the engine given the table's files per partition (sluice_lib.merge: key columns of every file read, the one
touched partition read whole and rewritten). Both in one process per engine, append and merge taken alternately;
Spark after one warm-up merge (the first job of a session pays JIT and planning), local[2].

    python -m bench.run --only merge                      # 1,000,000 rows
    python -m bench.merge_bench --rows 10000000 --runs 3  # on demand: 10,000,000 rows (about 2 GB of temp)
    python -m bench.merge_bench --rows 1000000 --rows 10000000 --partition-rows 10000  # partitions of 10,000 rows
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS, Options, load_average, machine_section, median, spread, table

PARTITIONS = 100
FILE_ROWS = 10_000
INGESTED_AT = "2025-06-01T00:00:00+00:00"
CONTRACT = """
dataset: ledger_bench
schema:
  fields:
    - {name: id, type: integer, constraints: {required: true}}
    - {name: name, type: string}
    - {name: amount, type: number}
    - {name: day, type: date}
    - {name: version, type: integer}
  primaryKey: [id]
pipeline:
  dedupe: {order_by: version}
  partition_by: {columns: [day]}
"""


def build_table(folder: Path, rows: int, partitions: int) -> dict[str, list[str]]:
    """The existing curated table; returns its files per partition (the engines' `existing`)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""COPY (SELECT i AS id, 'name-' || (i % 1000) AS name, CAST((i % 9973) * 1.5 AS DOUBLE) AS amount,
               DATE '2025-01-01' + CAST(i % {partitions} AS INTEGER) AS day, CAST(1 AS BIGINT) AS version,
               'seed' AS _ingest_id, 'incoming/ledger_bench/seed.csv' AS _source_key,
               TIMESTAMPTZ '2025-01-01 00:00:00+00' AS _ingested_at, sha256(CAST(i AS VARCHAR)) AS _row_hash
             FROM range({rows}) t(i))
           TO '{folder}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (day))"""
    )
    con.close()
    return {
        p.name: sorted(str(f) for f in p.glob("*.parquet")) for p in sorted(folder.iterdir()) if p.is_dir()
    }


def build_file(folder: Path, rows: int, partitions: int) -> Path:
    """Typed staging of the incoming file: half corrections, half new keys, all in the first day."""
    import duckdb

    staging = folder / "ingest_id=bench"
    staging.mkdir(parents=True)
    half = FILE_ROWS // 2
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT CAST(CASE WHEN j < {half} THEN j * {partitions} ELSE {rows} + j END AS BIGINT) AS id,
               'corrected-' || j AS name, CAST(j * 0.5 AS DOUBLE) AS amount, DATE '2025-01-01' AS day, CAST(2 AS BIGINT) AS version
             FROM range({FILE_ROWS}) t(j))
           TO '{staging / "part-00000.parquet"}' (FORMAT parquet)"""
    )
    con.close()
    return staging


def _output_bytes(out: Path) -> tuple[int, int]:
    files = [p for p in (out / "data").rglob("*.parquet")]
    return sum(p.stat().st_size for p in files), len(files)


def run_duckdb(staging: Path, existing: dict[str, list[str]] | None, out: Path) -> dict[str, Any]:
    from sluice_lib.contracts import load_contract_text, parse_contract
    from sluice_lib.curated import Lineage
    from sluice_lib.transform_lambda.engine import transform_folder

    contract = parse_contract(load_contract_text(CONTRACT), "ledger_bench")
    lineage = Lineage("bench", "incoming/ledger_bench/f.csv", datetime.fromisoformat(INGESTED_AT))
    started = time.perf_counter()
    manifest = transform_folder(staging, out, contract, run_id="bench", lineage=lineage, existing=existing)
    return {"seconds": time.perf_counter() - started, "manifest": manifest}


def _spark_transform() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "glue"))
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "glue" / "transform.py"
    spec = importlib.util.spec_from_file_location("sluice_glue_transform", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_spark(
    transform: Any, staging: Path, existing: dict[str, list[str]] | None, out: Path
) -> dict[str, Any]:
    from sluice_lib.contracts import load_contract_text, parse_contract

    contract = parse_contract(load_contract_text(CONTRACT), "ledger_bench")
    argv = ["--run_id", "bench", "--dataset", "ledger_bench", "--source", str(staging), "--output", str(out),
            "--contract", contract.to_json(), "--source_key", "incoming/ledger_bench/f.csv",
            "--ingested_at", INGESTED_AT]  # fmt: skip
    if existing is not None:
        argv += ["--merge_with", json.dumps(existing)]
    started = time.perf_counter()
    manifest = transform.main(argv)
    return {"seconds": time.perf_counter() - started, "manifest": manifest}


def measure(
    rows: int, partitions: int, runs: int, engines: list[str], tmp: Path
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    started = time.perf_counter()
    existing = build_table(tmp / "table", rows, partitions)
    staging = build_file(tmp / "staging", rows, partitions)
    table_bytes = sum(Path(f).stat().st_size for fs in existing.values() for f in fs)
    print(
        f"table of {rows:,} rows ({table_bytes / 1e6:.0f} MB) in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    transform = None
    for engine in engines:
        found[engine] = {"append": [], "merge": []}
        if engine == "spark":
            os.environ.setdefault("SLUICE_SPARK_MASTER", "local[2]")
            transform = _spark_transform()
            transform.get_or_create_spark().sparkContext.setLogLevel("ERROR")
            run_spark(
                transform, staging, existing, tmp / "warmup"
            )  # JIT, planning: the first job of a session
        for i in range(runs):
            for mode in ("append", "merge"):
                out = tmp / f"{engine}-{mode}-{i}"
                given = existing if mode == "merge" else None
                result = (
                    run_spark(transform, staging, given, out)
                    if engine == "spark"
                    else run_duckdb(staging, given, out)
                )
                result["bytes"], result["files"] = _output_bytes(out)
                found[engine][mode].append(result)
                shutil.rmtree(out)
                print(f"{engine} {mode} {i}: {result['seconds']:.2f}s", file=sys.stderr)
    found["_table"] = {"bytes": [{"bytes": table_bytes}], "partitions": [{"count": partitions}]}
    return found


def report(rows: int, found: dict[str, Any], loads: list[str], command: str) -> str:
    lines = []
    for engine in (e for e in found if not e.startswith("_")):
        append, merge = found[engine]["append"], found[engine]["merge"]
        a, m = [r["seconds"] for r in append], [r["seconds"] for r in merge]
        mm = merge[0]["manifest"]
        lines.append(
            [
                engine,
                f"{median(a):.2f} ({spread(a)})",
                f"{median(m):.2f} ({spread(m)})",
                f"{median(m) / median(a):.1f}x",
                f"{append[0]['bytes'] / 1e6:.2f} MB, {append[0]['files']} file(s)",
                f"{merge[0]['bytes'] / 1e6:.2f} MB, {merge[0]['files']} file(s)",
                f"{mm['rows_written']:,}",
                f"{mm['merge']['inserted']:,} / {mm['merge']['updated']:,} / {mm['merge']['unchanged']:,}",
                ", ".join(mm["merge"]["replaced"]),
            ]
        )
    header = ("engine", "append s, median (min-max)", "merge s, median (min-max)", "merge / append",
              "append wrote", "merge wrote", "merge rows written", "inserted / updated / unchanged",
              "partitions rewritten")  # fmt: skip
    table_mb = found["_table"]["bytes"][0]["bytes"] / 1e6
    return (
        f"## {rows:,} rows, {found['_table']['partitions'][0]['count']:,} partitions\n\n"
        f"Table: {rows:,} rows in {found['_table']['partitions'][0]['count']:,} partitions of "
        f"{rows // found['_table']['partitions'][0]['count']:,} rows, {table_mb:.0f} MB of Parquet; runs per figure: "
        f"{len(found[next(e for e in found if not e.startswith('_'))]['append'])}; load average before, after: "
        f"{' → '.join(loads)}. Command: `{command}`\n\n" + table(header, lines) + "\n"
    )


def write(sections: list[str], machine: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = [
        "# Merge benchmark\n",
        "A 10,000-row file (5,000 corrections, 5,000 new keys, one partition) merged into a keyed curated table, "
        "against the plain append of the same file (`bench/merge_bench.py` says how the table and the file are "
        "made). Bytes written are the Parquet the run writes to its output; Load copies the same bytes to the "
        "partitions' new versions. Reading cost: the merge reads the key column of every file and the touched "
        "partition whole.\n",
        machine + "\n",
        *sections,
    ]
    path.write_text("\n".join(doc), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.merge_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="table rows (repeat; default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--partition-rows",
        type=int,
        help=f"rows per partition (default: {PARTITIONS} partitions whatever the rows)",
    )
    parser.add_argument("--engine", action="append", choices=["duckdb", "spark"])
    parser.add_argument("--out", type=Path, default=RESULTS / "merge.md")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "bench.merge_bench", *(sys.argv[1:] if argv is None else argv)])
    sections = []
    for rows in args.rows or [1_000_000]:
        loads = [load_average()]
        with tempfile.TemporaryDirectory(prefix="sluice-merge-bench-") as tmp:
            partitions = PARTITIONS if args.partition_rows is None else max(1, rows // args.partition_rows)
            if rows // partitions < FILE_ROWS // 2:
                parser.error(
                    f"--rows {rows:,} in {partitions:,} partitions leaves fewer rows a partition than the file corrects"
                )
            found = measure(rows, partitions, args.runs, args.engine or ["duckdb", "spark"], Path(tmp))
        loads.append(load_average())
        sections.append(report(rows, found, loads, command))
    print(write(sections, machine_section(["per section below"]), args.out), file=sys.stderr)
    return 0


def run(opts: Options) -> Path:
    """`python -m bench.run --only merge`: 1,000,000 rows (100,000 with --quick)."""
    rows = 100_000 if opts.quick else 1_000_000
    main(["--rows", str(rows), "--runs", str(opts.runs), "--out", str(opts.out / "merge.md")])
    return opts.out / "merge.md"


if __name__ == "__main__":
    raise SystemExit(main())
