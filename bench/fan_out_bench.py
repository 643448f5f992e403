"""Fan-out benchmark: the fanned-out Validate (scan ranges, plan chunks, check chunks, join the bad rows) on a local
file with N worker processes, against the single path (`_scan`) on one core; both outputs compared row for row.

Each phase runs the same functions the ScanRange, PlanChunks and ValidateChunk Lambdas run, on byte ranges of
the local file instead of ranged S3 GETs, in a process pool of N workers (N Map children at a time). The
single path is validate_bench's `sluice` worker (pinned to one core). This machine has two cores shared with
other work, so N above 2 shows the overhead of more, smaller children, not more speed.

    python -m bench.run --only fan-out
    python -m bench.fan_out_bench worker --file bench/data/offers-300000.csv --chunk-bytes 4000000 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import Options, emit, load_average, mb, median, run_worker, spread, table
from bench.validate_bench import offers_file

ROWS = 300_000  # ~42 MB of offers CSV
QUICK_ROWS = 20_000
CHUNK_BYTES = 4_000_000
WORKERS = (1, 2, 4)
SCAN_BLOCK = 8 << 20


def _source(path: Path) -> Any:
    from sluice_lib.models import SourceObject

    return SourceObject(bucket="bench", key=f"incoming/offers/{path.name}")


def _scan_one(args: tuple[str, int, int, int, int]) -> Any:
    from sluice_lib.validate.ranges import scan_range

    path, index, start, end, size = args
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = min(end + 1, size) - start

        def blocks() -> Any:
            nonlocal remaining
            while remaining > 0:
                block = fh.read(min(SCAN_BLOCK, remaining))
                remaining -= len(block)
                yield block

        return scan_range(index, start, end, blocks())


def _check_one(args: tuple[str, Any, list[str], str]) -> tuple[int, int, int]:
    import io

    from bench.validate_bench import _offers_contract
    from sluice_lib.validate.fan_out import check_chunk
    from sluice_lib.validate.reader import Header

    path, chunk, names, out = args
    folder = Path(out) / f"{chunk.index:06d}"
    folder.mkdir()
    with open(path, "rb") as fh:
        fh.seek(chunk.start)
        body = io.BufferedReader(io.BytesIO(fh.read(chunk.end - chunk.start)))  # a ranged GET's body
    _, rows, bad, _ = check_chunk(
        body, chunk, Header(names, 0), _source(Path(path)), _offers_contract(), folder
    )
    return chunk.index, rows, bad


def work_fan_out(path: Path, out: Path, chunk_bytes: int, workers: int) -> dict[str, Any]:
    from sluice_lib.validate.fan_out import BAD_ROWS_HEADER
    from sluice_lib.validate.ranges import byte_ranges, plan_chunks
    from sluice_lib.validate.reader import read_header
    from sluice_lib.validate.stream import open_checked

    size = path.stat().st_size
    started, cpu = time.perf_counter(), time.process_time()
    with open(path, "rb") as fh:
        header, _ = read_header(open_checked(fh, path.name, str(path)), str(path))
    ranges = byte_ranges(size, chunk_bytes)
    with ProcessPoolExecutor(workers) as pool:
        t0 = time.perf_counter()
        scans = list(pool.map(_scan_one, [(str(path), r.index, r.start, r.end, size) for r in ranges]))
        t1 = time.perf_counter()
        chunks = plan_chunks(scans, size)
        t2 = time.perf_counter()
        checked = list(pool.map(_check_one, [(str(path), c, header.names, str(out)) for c in chunks]))
        t3 = time.perf_counter()
    with open(out / "bad_rows.csv", "wb") as joined:  # MergeChunks' join of the bad-row parts
        joined.write(BAD_ROWS_HEADER.encode())
        for index, _, _ in checked:
            with open(out / f"{index:06d}" / "bad_rows.csv", "rb") as part:
                part.read(len(BAD_ROWS_HEADER))
                shutil.copyfileobj(part, joined)
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,  # this process only; the pool's CPU is in the worker's rusage
        "scan_seconds": t1 - t0,
        "plan_seconds": t2 - t1,
        "check_seconds": t3 - t2,
        "chunks": len(chunks),
        "rows": sum(rows for _, rows, _ in checked),
        "bad": sum(bad for _, _, bad in checked),
    }


def _same_as_single(path: Path, chunk_bytes: int) -> str:
    """Runs both paths once in this process and compares staging rows and the quarantine CSV exactly."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.validate_bench import work_sluice
    from sluice_lib.validate.fan_out import staging_part

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
        single = work_sluice(path, Path(one))
        fanned = work_fan_out(path, Path(many), chunk_bytes, 2)
        staged = pa.concat_tables(
            pq.read_table(Path(many) / f"{i:06d}" / staging_part(i)) for i in range(fanned["chunks"])
        )
        same = (
            (single["rows"], single["bad"]) == (fanned["rows"], fanned["bad"])
            and staged.equals(pq.read_table(Path(one) / "part-00000.parquet"))
            and (Path(one) / "bad_rows.csv").read_bytes() == (Path(many) / "bad_rows.csv").read_bytes()
        )
    return (
        f"{'identical' if same else 'DIFFERENT'}: {single['rows']:,} rows, {single['bad']:,} bad rows, "
        f"{fanned['chunks']} chunks (staging rows and quarantine CSV compared byte for byte)"
    )


def worker(path: Path, chunk_bytes: int, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-fan-out-") as tmp:
        emit(work_fan_out(path, Path(tmp), chunk_bytes, workers))


def run(opts: Options) -> Path:
    from bench.common import write_result

    loads = [load_average()]
    path = offers_file(QUICK_ROWS if opts.quick else ROWS)
    chunk_bytes = CHUNK_BYTES // (10 if opts.quick else 1)
    size = mb(path)
    rows = []
    single = [
        run_worker(["bench.validate_bench", "worker", "--impl", "sluice", "--file", str(path)], pin=True)
    ]
    single += [
        run_worker(["bench.validate_bench", "worker", "--impl", "sluice", "--file", str(path)], pin=True)
        for _ in range(opts.runs - 1)
    ]
    secs = [m.result["seconds"] for m in single]
    rows.append(
        ("single path (one Lambda), 1 core", 1, f"{size / median(secs):.0f}", spread(secs), "-", "-", "-")
    )
    for n in WORKERS:
        runs = [
            run_worker(
                [
                    "bench.fan_out_bench",
                    "worker",
                    "--file",
                    str(path),
                    "--chunk-bytes",
                    str(chunk_bytes),
                    "--workers",
                    str(n),
                ]
            )
            for _ in range(opts.runs)
        ]
        secs = [m.result["seconds"] for m in runs]
        chunks = runs[0].result["chunks"]
        scan = median(m.result["scan_seconds"] for m in runs)
        check = median(m.result["check_seconds"] for m in runs)
        plan = median(m.result["plan_seconds"] for m in runs)
        rows.append(
            (
                f"fan-out, {n} workers",
                chunks,
                f"{size / median(secs):.0f}",
                spread(secs),
                f"{size / scan:.0f}",
                f"{plan * 1000:.1f}",
                f"{size / check:.0f}",
            )
        )
    verdict = _same_as_single(path, chunk_bytes)
    loads.append(load_average())
    body = f"""## What is measured

{__doc__.split(chr(10) + chr(10))[1]}

File: `sluice generate`'s offers rows (seed 7, 1% bad rows), {size:.1f} MB; ValidateChunkBytes {chunk_bytes:,}.
Median of {opts.runs} runs; MB/s is file MB over the median wall seconds of the timed section (scan, plan,
check, join of the bad rows), the scan and check columns over their phase alone.

{table(("path", "chunks", "MB/s", "seconds (min-max)", "scan MB/s", "plan ms", "check MB/s"), rows)}

Outputs: {verdict}.

## Reading it

- One ValidateChunk does what the single path does on its bytes: the check phase's MB/s with one worker is
  the single path's rate less the per-chunk start (a process here, a Lambda invocation on AWS).
- The scan is numpy over 8 MiB blocks: several times faster than the check, so it adds a fraction of one chunk's
  time; on AWS each ScanRange's S3 read (~100 MB/s) bounds it.
- PlanChunks is milliseconds: it only reads the scans.
- On AWS the children run in parallel up to MapMaxConcurrency, each on its own vCPU, so the check phase's wall
  time divides by the concurrency (`sluice cost --plan --bytes N` models it); on this shared two-core machine
  more than two workers only add overhead.
"""
    return write_result(opts, "fan-out", "Fan-out Validate benchmark", body, loads)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fan_out_bench")
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker")
    w.add_argument("--file", type=Path, required=True)
    w.add_argument("--chunk-bytes", type=int, default=CHUNK_BYTES)
    w.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.command == "worker":
        worker(args.file, args.chunk_bytes, args.workers)
    else:
        from bench.run import main as run_main

        raise SystemExit(run_main(["--only", "fan-out"]))


if __name__ == "__main__":
    main()
