"""The transform's Lambda engine on 1, 10 and 100 MB offers files: time, CPU and peak memory, to size the
TransformInLambda function (memory, timeout) and the SmallFileMaxBytes default.

Input: staging Parquet as Validate writes it from `sluice generate --dataset offers` files of about 1, 10 and
100 MB (124 bytes a row). Each run is a fresh `python -m bench.lambda_engine_bench worker` process that
imports DuckDB (timed apart: the function's cold start does it) and runs `transform_folder` with the memory
limit the handler gives DuckDB (75% of the function's memory) and a spill folder, on one core (taskset, as a
Lambda of 1769 MB has one vCPU) or two (a Lambda of 3538 MB or more). S3 transfers are left out: a Lambda reads
and writes S3 at 50-100 MB/s, a few tenths of a second for these staging and output sizes.

    python -m bench.run --only lambda-engine [--quick]
    python -m bench.lambda_engine_bench worker --source DIR --threads 1 --memory-mb 2256
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    Measured,
    Options,
    emit,
    load_average,
    median,
    run_worker,
    spread,
    table,
)

CSV_BYTES_PER_ROW = 124  # `sluice generate --dataset offers`: 1,000,000 rows = 124.2 MB
SIZES_MB = (1, 10, 100)
FUNCTION_MEMORY_MB = 1769  # template.sam.yaml TransformInLambdaFunction MemorySize
DUCKDB_MEMORY_SHARE = 0.75  # functions/transform_in_lambda/app.py


def rows_for(mb: int) -> int:
    return round(mb * 1_000_000 / CSV_BYTES_PER_ROW)


def work(opts: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    # imported on use: each worker process loads only the libraries of what it measures
    import duckdb  # noqa: F401  (the function's module scope pays this at its cold start)

    imported = time.perf_counter() - started
    # imported on use: each worker process loads only the libraries of what it measures
    from bench.transform_bench import INGEST_ID, INGESTED_AT, SOURCE_KEY, contract
    from sluice_lib.contracts import parse_contract
    from sluice_lib.curated import Lineage
    from sluice_lib.transform_lambda.engine import transform_folder

    offers = parse_contract(contract(), "offers")
    lineage = Lineage(INGEST_ID, SOURCE_KEY, datetime.fromisoformat(INGESTED_AT))
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        started, cpu = time.perf_counter(), time.process_time()
        manifest = transform_folder(
            Path(opts.source),
            Path(tmp) / "out",
            offers,
            run_id="bench",
            lineage=lineage,
            threads=opts.threads,
            memory_limit_mb=opts.memory_mb,
            temp_dir=Path(tmp) / "spill",
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        written = sum(p.stat().st_size for p in (Path(tmp) / "out" / "data").rglob("*.parquet"))
    return {
        "import_s": imported,
        "seconds": seconds,
        "cpu": cpu,
        "rows": manifest["rows_written"],
        "files": len(manifest["files"]),
        "output_mb": written / 1e6,
    }


def run(opts: Options) -> Path:
    # imported on use: each worker process loads only the libraries of what it measures
    from bench.common import write_result
    from bench.transform_bench import staging_dir
    from bench.validate_bench import offers_file

    loads = [load_average()]
    sizes = SIZES_MB[:2] if opts.quick else SIZES_MB
    memory = int(FUNCTION_MEMORY_MB * DUCKDB_MEMORY_SHARE)
    sources = {mb: staging_dir(rows_for(mb)) for mb in sizes}
    plan = [(mb, threads) for mb in sizes for threads in (1, 2)]
    measured: dict[tuple[int, int], list[Measured]] = {key: [] for key in plan}
    for _ in range(opts.runs):  # round robin, so a drifting load on this shared machine hits every cell alike
        for mb, threads in plan:
            args = ["bench.lambda_engine_bench", "worker", "--source", str(sources[mb])]
            args += ["--threads", str(threads), "--memory-mb", str(memory)]
            measured[(mb, threads)].append(run_worker(args, pin=threads == 1, sample=0.02))
    loads.append(load_average())

    rows_out = []
    for mb, threads in plan:
        runs = measured[(mb, threads)]
        seconds = [r.result["seconds"] for r in runs]
        cpu = [r.result["cpu"] for r in runs]
        first = runs[0].result
        csv_mb = offers_file(rows_for(mb)).stat().st_size / 1e6
        staging_mb = sum(p.stat().st_size for p in sources[mb].glob("*.parquet")) / 1e6
        rows_out.append(
            [
                f"{csv_mb:,.1f} MB ({rows_for(mb):,} rows)",
                f"{staging_mb:,.1f}",
                str(threads),
                str(len(runs)),
                f"{median(seconds):.2f} ({spread(seconds)})",
                f"{median(cpu):.2f}",
                f"{median(r.result['import_s'] for r in runs):.2f}",
                f"{median(r.peak_rss_mb for r in runs):.0f}",
                f"{first['rows']:,}",
                str(first["files"]),
                f"{first['output_mb']:,.1f}",
            ]
        )
    header = (
        "CSV",
        "staging MB",
        "threads",
        "runs",
        "transform s, median (min-max)",
        "CPU s",
        "import duckdb s",
        "peak RSS MB",
        "rows out",
        "files",
        "curated MB",
    )
    body = f"""
## What is measured

Staging Parquet as Validate writes it from `sluice generate --dataset offers` files of about 1, 10 and 100 MB
(seed 7, 1% bad rows dropped). Each run is a fresh `python -m bench.lambda_engine_bench worker ...` process,
taken round robin; it imports DuckDB (timed apart: the function's cold start pays it) and runs
`sluice_lib.transform_lambda.engine.transform_folder` with a spill folder, pinned to one core (taskset, as a
Lambda of 1769 MB has one vCPU) for 1 thread, unpinned for 2 (a Lambda of 3538 MB or more). S3 transfers are
left out: a Lambda moves 50-100 MB/s to and from S3, tenths of a second at these staging and output sizes.
DuckDB's memory limit: {memory} MB ({DUCKDB_MEMORY_SHARE:.0%} of the function's {FUNCTION_MEMORY_MB} MB).
*transform s* is `transform_folder` (read staging, conform, dedupe, hash, write the partitions and the manifest);
*CPU s* the process's user + system seconds over it (all threads); *peak RSS* the worker's maximum resident set
(wait4), which includes the interpreter, DuckDB and its buffers.

## Results

{table(header, rows_out)}
"""
    return write_result(opts, "lambda-engine", "Transform Lambda engine benchmark", body, loads)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lambda_engine_bench")
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--source", required=True)
    w.add_argument("--threads", type=int, default=1)
    w.add_argument("--memory-mb", type=int, default=None)
    sub.add_parser("all").add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.cmd == "worker":
        emit(work(args))
    else:
        quick = bool(getattr(args, "quick", False))
        command = "python -m bench.lambda_engine_bench all" + (" --quick" * quick)
        print(run(Options(quick=quick, command=command)))


if __name__ == "__main__":
    main()
