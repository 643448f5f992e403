"""End-to-end benchmark: `sluice run` of offers files, per state, with the emulation's own overhead apart.

Each run is a fresh process (`worker --rows N`) doing what `run_files` does (Emulator, Runner.upload,
Runner.follow, export), with timers around the local Glue's staging transfers and Spark start. The
overhead of an execution is its wall time (moto's startDate..stopDate) minus the time spent in our
handlers (`emu.lambdas.invocations`), the Glue job runs (`emu.glue.job_runs`) and crawls
(`emu.glue.crawls`): what the state machine interpreter, the .sync polling, EventBridge delivery and
moto's service calls between the steps cost.

    python -m bench.e2e_bench all [--quick]
    python -m bench.e2e_bench worker --rows 1000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import Counter
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
    tree_rss_kb,
)

BIG_RUN_TIMEOUT_S = 45 * 60  # a run of 1,000,000 rows or more is given up (and said so) after this
EXPORT_BELOW_ROWS = 100_000  # exporting 100,000 serving items from moto takes minutes; not per execution


def _timed(store: Counter[str], name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[name] += time.perf_counter() - started

    return wrapper


def worker(rows: int) -> None:
    # imported on use: each worker process loads only the libraries of what it measures
    from bench.validate_bench import offers_file
    from sluice.local import glue
    from sluice.local.emulator import Emulator
    from sluice.local.export import export_outputs
    from sluice.local.runner import RunInput, Runner

    path = offers_file(rows)
    samples = _MemorySampler()
    inside: Counter[str] = Counter()
    glue.download_prefix = _timed(inside, "glue staging download", glue.download_prefix)
    glue.upload_tree = _timed(inside, "glue output upload", glue.upload_tree)
    glue.LocalGlue._start_spark = _timed(inside, "spark session start", glue.LocalGlue._start_spark)
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        with Emulator(time_scale=0.001, log_file=out / "logs" / "lambda.log") as emu:
            provision = time.perf_counter() - started
            runner = Runner(emu, progress=lambda line: None)
            started = time.perf_counter()
            key, arn = runner.upload(RunInput("offers", path))
            upload = time.perf_counter() - started
            started = time.perf_counter()
            result = runner.follow(arn, "offers", key)
            follow = time.perf_counter() - started
            described = runner.sfn.describe_execution(executionArn=arn)
            execution = (described["stopDate"] - described["startDate"]).total_seconds()
            export = None
            if rows < EXPORT_BELOW_ROWS:  # the export is outside the execution
                started = time.perf_counter()
                export_outputs(emu, out / "export")
                export = time.perf_counter() - started
            lambdas: Counter[str] = Counter()
            for call in emu.lambdas.invocations:
                lambdas[call.function] += call.seconds
            jobs = sum(r.seconds for r in emu.glue.job_runs)
            crawls = sum(emu.glue.crawls)
    samples.stop()
    handler_total = sum(lambdas.values())
    per_state = _state_overheads(result.states, emu.lambdas.invocations, emu.glue.job_runs)
    emit(
        {
            "rows": rows,
            "mb": path.stat().st_size / 1e6,
            "status": result.status,
            "error": result.error,
            "rows_out": result.rows(),
            "provision": provision,
            "upload": upload,
            "follow": follow,
            "execution": execution,
            "states": [s.to_json() for s in result.states],
            "lambdas": dict(lambdas),
            "lambda_calls": len(emu.lambdas.invocations),
            "job_runs": jobs,
            "crawls": crawls,
            "inside_job": dict(inside),
            "overhead": execution - handler_total - jobs - crawls,
            "state_overheads": per_state,
            "state_peaks_mb": samples.peaks(result.states),
            "peak_mb": samples.peak_mb(),
            "export": export,
        }
    )


class _MemorySampler:
    """The worker's process tree's resident memory (its JVM included) every half second, by wall clock."""

    def __init__(self, every: float = 0.5) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss_kb(me) / 1024))
            self._stop.wait(every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def peaks(self, visits: list[Any]) -> dict[str, float]:
        """Per state name: the highest sample while it ran (the nearest sample for a state shorter than one)."""
        out: dict[str, float] = {}
        for visit in visits:
            if visit.entered is None or not self.samples:
                continue
            start = visit.entered.timestamp()
            end = start + visit.seconds
            inside = [mb for at, mb in self.samples if start <= at <= end]
            if not inside:
                inside = [min(self.samples, key=lambda s: abs(s[0] - start))[1]]
            out[visit.name] = max(out.get(visit.name, 0.0), *inside)
        return out


def _state_overheads(visits: list[Any], invocations: list[Any], job_runs: list[Any]) -> dict[str, float]:
    """Per state name: its seconds minus the handler call or job run it made (in order), summed over visits."""
    # imported on use: each worker process loads only the libraries of what it measures
    import json

    # imported on use: each worker process loads only the libraries of what it measures
    from sluice.paths import repo_root

    asl = json.loads((repo_root() / "statemachine" / "pipeline.asl.json").read_text(encoding="utf-8"))
    resources = {name: state.get("Resource", "") for name, state in asl["States"].items()}
    calls, runs = list(invocations), list(job_runs)
    out: Counter[str] = Counter()
    for visit in visits:
        resource = resources.get(visit.name, "")
        inside = 0.0
        if resource.endswith("lambda:invoke"):
            for _ in range(max(visit.attempts, 1)):
                inside += calls.pop(0).seconds if calls else 0.0
        elif "glue:startJobRun" in resource:
            inside = runs.pop(0).seconds if runs else 0.0
        out[visit.name] += visit.seconds - inside
    return dict(out)


def _state_seconds(runs: list[Measured]) -> dict[str, float]:
    """Median seconds per state name (a state visited twice adds up within a run)."""
    names: list[str] = []
    per_run = []
    for r in runs:
        sums: Counter[str] = Counter()
        for s in r.result["states"]:
            sums[s["name"]] += s["seconds"]
            if s["name"] not in names:
                names.append(s["name"])
        per_run.append(sums)
    return {n: median(s[n] for s in per_run) for n in names}


def run(opts: Options) -> Path:
    # imported on use: each worker process loads only the libraries of what it measures
    from bench.common import write_result

    loads = [load_average()]
    sizes = (
        [(1_000, opts.runs), (10_000, opts.runs)]
        if opts.quick
        else [(1_000, opts.runs), (100_000, opts.runs), (1_000_000, 1)]  # 1M: minutes per run
    )
    sizes += [(rows, 1) for rows in opts.e2e_rows if rows not in dict(sizes)]  # on demand: --e2e-rows

    def measure(rows: int, n: int) -> list[Measured]:
        command = ["bench.e2e_bench", "worker", "--rows", str(rows)]
        timeout = BIG_RUN_TIMEOUT_S if rows >= 1_000_000 else None
        return [run_worker(command, sample=0.5, timeout=timeout) for _ in range(n)]

    # One size after another: each run has the machine's two cores to itself (but for other users).
    measured: dict[int, list[Measured]] = {}
    missing: dict[int, str] = {}
    for rows, n in sizes:
        try:
            measured[rows] = measure(rows, n)
        except RuntimeError as exc:
            missing[rows] = str(exc).splitlines()[0]
    loads.append(load_average())

    def med(runs: list[Measured], key: str) -> float:
        return median(r.result[key] for r in runs)

    summary_rows = []
    overhead_rows = []
    for rows, runs in measured.items():
        overhead = [r.result["overhead"] for r in runs]
        handler = [sum(r.result["lambdas"].values()) for r in runs]
        summary_rows.append(
            [
                f"{rows:,} ({runs[0].result['mb']:.1f} MB)",
                str(len(runs)),
                runs[0].result["status"]
                + (f" ({runs[0].result['error']['type']})" if runs[0].result.get("error") else ""),
                f"{med(runs, 'provision'):.2f}",
                f"{med(runs, 'upload'):.2f}",
                f"{med(runs, 'execution'):.2f} ({spread([r.result['execution'] for r in runs])})",
                f"{med(runs, 'follow') - med(runs, 'execution'):.2f}",
                f"{med(runs, 'export'):.2f}" if runs[0].result["export"] is not None else "not run",
                f"{median(r.peak_tree_mb for r in runs):.0f}",
            ]
        )
        inside = runs[0].result["inside_job"]
        overhead_rows.append(
            [
                f"{rows:,}",
                f"{med(runs, 'execution'):.2f}",
                f"{median(handler):.2f} ({runs[0].result['lambda_calls']} calls)",
                f"{med(runs, 'job_runs'):.2f}",
                ", ".join(
                    f"{k} {median(r.result['inside_job'].get(k, 0) for r in runs):.2f}" for k in inside
                ),
                f"{med(runs, 'crawls'):.2f}",
                f"**{median(overhead):.2f}** ({spread(overhead)})",
                "yes" if median(overhead) <= 1.0 else "no",
            ]
        )
    state_names: list[str] = []
    per_size = {rows: _state_seconds(runs) for rows, runs in measured.items()}
    for states in per_size.values():
        state_names += [n for n in states if n not in state_names]
    state_rows = [
        [
            name,
            *(f"{per_size[rows].get(name, 0):.2f}" if name in per_size[rows] else "-" for rows in measured),
        ]
        for name in state_names
    ]
    lambda_names: list[str] = []
    for runs in measured.values():
        lambda_names += [n for n in runs[0].result["lambdas"] if n not in lambda_names]
    lambda_rows = [
        [
            name,
            *(f"{median(r.result['lambdas'].get(name, 0) for r in runs):.2f}" for runs in measured.values()),
        ]
        for name in lambda_names
    ]
    sizes_header = [f"{rows:,} rows" for rows in measured]
    overhead_state_rows = [
        [
            name,
            *(
                f"{median(r.result['state_overheads'].get(name, 0.0) for r in runs):.3f}"
                if name in runs[0].result["state_overheads"]
                else "-"
                for runs in measured.values()
            ),
        ]
        for name in state_names
    ]
    peak_rows = [
        [
            name,
            *(
                f"{median(r.result['state_peaks_mb'].get(name, 0.0) for r in runs):.0f}"
                if name in runs[0].result["state_peaks_mb"]
                else "-"
                for runs in measured.values()
            ),
        ]
        for name in state_names
        if any(name in runs[0].result["state_peaks_mb"] for runs in measured.values())
    ]
    body = f"""
## What is measured

Each run is a fresh `python -m bench.e2e_bench worker --rows N` process: `Emulator(time_scale=0.001)`
provisions `template.sam.yaml`, `Runner.upload` puts `bench/data/offers-N.csv` (`sluice generate` rows,
seed 7, 1% bad rows) into `incoming/offers/`, the template's EventBridge rule starts the state machine,
`Runner.follow` polls it to the end, `export_outputs` writes the export folder (1,000-row runs only: it
is outside the execution and takes minutes for 100,000 serving items); what `sluice run FILE --dataset
offers` does. Every process is new, so the Glue job always runs on a cold
JVM and the staging table does not exist yet (the schema counts as changed: the crawler path runs).
The sizes run one after another; a size given with `--e2e-rows` (10,000,000) runs once.

## Runs
{"".join(f"{chr(10)}Not measured: {rows:,} rows: {why}." for rows, why in missing.items())}

{table(("rows", "runs", "status", "provision s", "upload s", "execution s, median (min-max)", "runner's detection lag s", "export s", "peak memory MB (process tree)"), summary_rows)}

*execution* is moto's startDate..stopDate of the execution; *runner's detection lag* is how much later
`Runner.follow` saw the end (its polling); *provision* (once per `sluice run`, not per execution) and
*export* are outside the execution.

## Emulation and orchestration overhead per execution (median seconds)

overhead = execution - our handlers - Glue job runs - crawls. The Glue job run includes what the local
Glue does around the script (shown inside it): copying the staging Parquet out of moto S3 and the output
back in, and starting the process's Spark session.

{table(("rows", "execution", "our handlers", "Glue job runs", "inside the job runs", "crawls", "overhead", "<= 1 s"), overhead_rows)}

## Where the overhead sits (median seconds per state: state time minus our handler or job run in it)

A Lambda state's share is the interpreter's Task bookkeeping and moto's Invoke path around the handler;
`Transform`'s is the `.sync` polling lag after the job run ended; Choice, Wait, Pass, the crawler's SDK
calls and the SNS publish are overhead entirely (the crawl itself runs beside the Wait loop).

{table(("state", *sizes_header), overhead_state_rows)}

## Seconds per state (median; from the execution history, as `sluice run --json` reports `states[]`)

{table(("state", *sizes_header), state_rows)}

## Peak memory per state (median MB of the process tree, the JVM included, sampled every 0.5 s)

{table(("state", *sizes_header), peak_rows)}

## Seconds per handler (median, summed over its invocations)

{table(("function", *sizes_header), lambda_rows)}
"""
    return write_result(opts, "e2e", "End-to-end benchmark (`sluice run`)", body, loads)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e_bench")
    sub = parser.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--rows", type=int, required=True)
    sub.add_parser("all").add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.cmd == "worker":
        worker(args.rows)
    else:
        quick = bool(getattr(args, "quick", False))
        print(run(Options(quick=quick, command="python -m bench.e2e_bench all" + (" --quick" * quick))))


if __name__ == "__main__":
    main()
