"""`make bench`: runs every benchmark (or the ones named) and rewrites bench/results/<name>.md.

python -m bench.run                         # all, full size: minutes each
python -m bench.run --only validate         # one benchmark (repeat --only for more)
python -m bench.run --quick                 # smoke-test sizes; results go to bench/data/results-quick/
python -m bench.run --only e2e --e2e-rows 10000000   # e2e with one 10,000,000-row run too (~20 min; not in CI)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    e2e_bench,
    fan_out_bench,
    iam_bench,
    lambda_engine_bench,
    merge_bench,
    quality_bench,
    transform_bench,
    validate_bench,
)
from bench.common import QUICK_RESULTS, RESULTS, Options

BENCHMARKS: dict[str, Callable[[Options], Path]] = {
    "validate": validate_bench.run,
    "transform": transform_bench.run,
    "lambda-engine": lambda_engine_bench.run,
    "e2e": e2e_bench.run,
    "fan-out": fan_out_bench.run,
    "merge": merge_bench.run,
    "quality": quality_bench.run,
    "iam": iam_bench.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="small inputs, for smoke testing")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (medians need >= 3)")
    parser.add_argument(
        "--e2e-rows", type=int, action="append", default=[], help="e2e: one more run of this many rows"
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results, quick: bench/data/)")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", "bench.run", *given])
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    opts = Options(quick=args.quick, runs=args.runs, out=out, command=command, e2e_rows=tuple(args.e2e_rows))
    for name in args.only or list(BENCHMARKS):
        started = time.perf_counter()
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        path = BENCHMARKS[name](opts)
        print(f"bench {name}: {path} in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
