"""What IAM enforcement costs a local run: `sluice run` of an offers file with and without it.

Each run is a fresh process (`worker --rows N [--no-iam]`) doing what `run_files` does (Emulator, Runner.run);
with IAM on, `Enforcer.authorize` is timed, so the cost of judging each request shows apart from the run's
noise. Runs with and without IAM alternate, so drifting machine load hits both alike.

    python -m bench.iam_bench worker --rows 1000 [--no-iam]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Options, emit, load_average, median, run_worker, spread, table, write_result


def worker(rows: int, iam: bool) -> None:
    # imported on use: each worker process loads only the libraries of what it measures
    from bench.validate_bench import offers_file
    from sluice.local.emulator import Emulator
    from sluice.local.iam.enforce import Enforcer
    from sluice.local.runner import RunInput, Runner

    spent = {"seconds": 0.0, "requests": 0}
    original = Enforcer.authorize

    def authorize(self: Enforcer, response: Any, is_s3: bool, resource: str) -> None:
        started = time.perf_counter()
        try:
            original(self, response, is_s3, resource)
        finally:
            spent["seconds"] += time.perf_counter() - started
            spent["requests"] += 1

    Enforcer.authorize = authorize  # type: ignore[method-assign]
    path = offers_file(rows)
    with tempfile.TemporaryDirectory(prefix="sluice-bench-iam-") as tmp:
        provisioned = time.perf_counter()
        with Emulator(time_scale=0.001, log_file=Path(tmp) / "lambda.log", iam=iam) as emu:
            started = time.perf_counter()
            (result,) = Runner(emu, lambda _: None).run([RunInput("offers", path)])
            seconds = time.perf_counter() - started
            checked = sum(emu.iam.uses.values()) if emu.iam is not None else 0
    emit(
        {
            "status": result.status,
            "provision_s": started - provisioned,
            "execution_s": seconds,
            "authorize_s": spent["seconds"],
            "requests": spent["requests"],
            "role_calls_judged": checked,
        }
    )


def run(opts: Options) -> Path:
    sizes = (1_000,) if opts.quick else (1_000, 10_000)
    loads = [load_average()]
    rows_out = []
    for rows in sizes:
        measured: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for _ in range(opts.runs):
            for iam in (True, False):
                args = ["bench.iam_bench", "worker", "--rows", str(rows), *([] if iam else ["--no-iam"])]
                got = run_worker(args).result
                if got["status"] != "SUCCEEDED":
                    raise RuntimeError(f"{rows} rows, iam={iam}: the run ended {got['status']}")
                measured[iam].append(got)
        on, off = measured[True], measured[False]
        on_s = [m["execution_s"] for m in on]
        off_s = [m["execution_s"] for m in off]
        per_request_us = median(m["authorize_s"] / max(1, m["requests"]) * 1e6 for m in on)
        rows_out.append(
            (
                f"{rows:,}",
                f"{median(off_s):.2f} ({spread(off_s)})",
                f"{median(on_s):.2f} ({spread(on_s)})",
                f"{median(m['requests'] for m in on):,.0f}",
                f"{median(m['role_calls_judged'] for m in on):,.0f}",
                f"{median(m['authorize_s'] for m in on):.3f}",
                f"{per_request_us:.0f}",
            )
        )
    loads.append(load_average())
    body = f"""
## What is measured

Each run is a fresh `python -m bench.iam_bench worker --rows N [--no-iam]` process: `Emulator(time_scale=0.001,
iam=...)` provisions `template.sam.yaml`, `Runner.run` uploads `bench/data/offers-N.csv` (`sluice generate` rows,
seed 7, 1% bad rows) and follows the execution to its end (the DuckDB engine: the file is under
`SmallFileMaxBytes`). Execution seconds: upload to end, medians of {opts.runs} runs (min-max). With IAM on,
`Enforcer.authorize` is timed: it runs on every request moto receives (the emulator's and the test's own pass
after reading the signature), and judges those signed by a role session (an (action, resource) pair each, more
for a Glue table or a copy).

## Results

{table(("rows", "execution s, --no-iam", "execution s, IAM on", "requests seen", "role calls judged", "authorize s", "µs per request"), rows_out)}

The difference between the two execution columns is within their spread at these sizes; the authorize column
is the enforcement's own cost.
"""
    return write_result(opts, "iam", "IAM enforcement's cost on a local run", body, loads)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.iam_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--rows", type=int, required=True)
    w.add_argument("--no-iam", action="store_true")
    args = parser.parse_args()
    worker(args.rows, not args.no_iam)


if __name__ == "__main__":
    main()
