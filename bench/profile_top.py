"""The top frames of a py-spy profile (`py-spy record --format raw`), as Markdown tables.

    py-spy record --rate 25 --duration 300 --format raw -o profile.txt -- \\
        python -m bench.e2e_bench worker --rows 1000000
    python -m bench.profile_top profile.txt [--within _write_batch] [--top 15]

Self: the frame was running (the innermost frame of a sample). Inclusive: the frame was on the stack
(frames every request passes through, botocore's and moto's dispatch, are left out of that table).
`--within NAME` keeps only samples with a frame whose name starts with NAME (one code path).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# Frames every request passes through; left out of the inclusive table, which then shows where time goes.
PLUMBING = (
    "(botocore/",
    "(threading.py",
    "(concurrent/",
    "(<frozen runpy>",
    "(aws_lambda_powertools/",
    "(moto/stepfunctions/parser/",
    "(moto/core/botocore_stubber",
    "(moto/core/responses.py",
    "(moto/utilities/aws_headers",
    "(moto/awslambda/",
    "(sluice/local/environ.py",
    "(sluice/local/lambdas.py",
)


def top(path: Path, within: str | None, n: int) -> str:
    own: Counter[str] = Counter()
    on_stack: Counter[str] = Counter()
    total = kept = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = stack.split(";")
        total += samples
        if within and not any(f.startswith(within) for f in frames):
            continue
        kept += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            on_stack[frame] += samples
    if not kept:
        return f"no samples{f' within {within}' if within else ''} in {path}"
    scope = (
        f"the {kept:,} samples within `{within}` ({kept / total:.0%} of {total:,})"
        if within
        else f"{total:,} samples"
    )
    lines = [f"Of {scope}:", "", "| self | frame |", "|---|---|"]
    lines += [f"| {v / kept:.1%} | `{k}` |" for k, v in own.most_common(n)]
    lines += ["", "| inclusive | frame |", "|---|---|"]
    lines += [
        f"| {v / kept:.1%} | `{k}` |"
        for k, v in on_stack.most_common()
        if v < kept and not any(part in k for part in PLUMBING)
    ][:n]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_top", description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--within", help="only samples with a frame starting with this name")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(top(args.profile, args.within, args.top))


if __name__ == "__main__":
    main()
