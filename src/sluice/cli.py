"""The `sluice` command: run the pipeline offline, generate samples, check contracts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sluice.commands import register_all
from sluice.contracts_folder import CONTRACTS_OPTION
from sluice.paths import repo_root
from sluice.text import counted

if TYPE_CHECKING:
    from sluice_lib.contracts import ContractStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="sluice: serverless CSV ETL on AWS that also runs offline on an embedded AWS emulation.",
)
contracts_app = typer.Typer(no_args_is_help=True, help="Dataset contracts.")
app.add_typer(contracts_app, name="contracts")

err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_SUFFIXES = (".csv", ".csv.gz")
SUMMARY_COLUMNS = (
    "dataset",
    "file",
    "status",
    "engine",
    "in",
    "valid",
    "rejected",
    "curated",
    "dlq rows",
    "seconds",
)


def _usage_error(message: str) -> typer.Exit:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False)
    return typer.Exit(EXIT_USAGE)


def _contracts(option: Path | None, datasets: list[str] | None = None) -> ContractStore:
    """The contracts folder, checked before anything is provisioned (a usage error otherwise)."""
    from sluice.contracts_folder import ContractsUsageError, load_contracts

    try:
        return load_contracts(option, datasets)
    except ContractsUsageError as exc:
        raise _usage_error(str(exc)) from None


def _parse_inputs(args: list[str], dataset: str | None) -> list[tuple[str, Path]]:
    """FILE arguments need --dataset; DATASET=FILE arguments name their own."""
    inputs = []
    for arg in args:
        name, sep, path_text = arg.partition("=")
        if sep and name and not Path(arg).exists():
            ds, path = name, Path(path_text)
        elif dataset:
            ds, path = dataset, Path(arg)
        else:
            raise _usage_error(f"{arg}: give --dataset NAME, or write the argument as DATASET=FILE")
        if not path.is_file():
            raise _usage_error(f"{path}: no such file")
        if not path.name.endswith(_SUFFIXES):
            raise _usage_error(f"{path}: only .csv and .csv.gz uploads start the pipeline")
        inputs.append((ds, path))
    return inputs


@app.command()
def run(
    files: Annotated[list[str], typer.Argument(help="CSV files (FILE with --dataset, or DATASET=FILE).")],
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset of FILE arguments.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for everything the run produced.")] = Path(
        ".sluice/out"
    ),
    reruns: Annotated[
        int, typer.Option("--reruns", min=0, help="After each execution, start K more with the same input.")
    ] = 0,
    fail: Annotated[
        list[str] | None,
        typer.Option(
            "--fail",
            metavar="STATE=ERROR[:TIMES]",
            help="Make a Task state's service call fail with ERROR, TIMES times (default: every time); "
            "repeatable. E.g. Transform=Glue.ConcurrentRunsExceededException:2, Load=States.Timeout.",
        ),
    ] = None,
    redrive: Annotated[
        bool,
        typer.Option(
            "--redrive", help="Redrive each failed execution from the state that failed (faults lifted)."
        ),
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="KEY=VALUE",
            help="Override a template parameter, as `sam deploy --parameter-overrides`; repeatable. "
            "E.g. SmallFileMaxBytes=0 (every file through the Glue job).",
        ),
    ] = None,
    contracts: Annotated[Path | None, CONTRACTS_OPTION] = None,
    no_iam: Annotated[
        bool,
        typer.Option(
            "--no-iam",
            help="Do not run each step as its template role: no IAM evaluation, no iam.json report.",
        ),
    ] = False,
) -> None:
    """Run files through the whole workflow on the embedded AWS emulation."""
    # imported on use: `sluice --help` and the light commands do not load moto, numpy or Spark's helpers
    from sluice.local.faults import FaultSpecError, parse_fault
    from sluice.local.parameters import ParameterError, parse_parameters
    from sluice.local.runner import RunInput, run_files
    from sluice.local.template import SamApp

    inputs = [RunInput(ds, path) for ds, path in _parse_inputs(files, dataset)]
    store = _contracts(contracts, [item.dataset for item in inputs])
    try:
        faults = [parse_fault(text) for text in fail or []]
    except FaultSpecError as exc:
        raise _usage_error(str(exc)) from None
    try:
        template = SamApp.load(repo_root() / "template.sam.yaml") if param else None
        parameters = parse_parameters(param or [], template) if template is not None else None
    except ParameterError as exc:
        raise _usage_error(str(exc)) from None
    started = time.perf_counter()
    try:
        summary = run_files(
            inputs,
            out,
            progress=lambda line: err.print(line, markup=False),
            reruns=reruns,
            faults=faults,
            redrive=redrive,
            parameters=parameters,
            contracts=store.root,
            iam=not no_iam,
        )
    except FaultSpecError as exc:  # a state the state machine does not have, an error it cannot get
        raise _usage_error(str(exc)) from None
    except Exception as exc:  # a defect of the runtime itself: say what and where to look, no traceback
        err.print(f"[red]error:[/red] the local runtime failed: {type(exc).__name__}: {exc}", markup=True)
        err.print(f"logs: {out / 'logs'}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if json_out:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        _print_summary(summary)
    raise typer.Exit(EXIT_OK if summary["status"] == "SUCCEEDED" else EXIT_FAILED)


def _print_summary(summary: dict[str, object]) -> None:
    console = Console(highlight=False, width=max(Console().width, 120))
    table = Table(title=f"sluice run: {summary['status']}")
    for col in SUMMARY_COLUMNS:
        table.add_column(col)
    executions = summary["executions"]
    assert isinstance(executions, list)
    for ex in executions:
        rows = ex["rows"]
        table.add_row(
            ex["dataset"],
            ex["source_key"].rsplit("/", 1)[-1],
            ex["status"],
            ex.get("engine") or "-",
            *(
                str(rows.get(k, "")) if rows.get(k) is not None else "-"
                for k in ("in", "valid", "rejected", "curated")
            ),
            str(ex["dlq"]["rows"]),
            f"{ex['seconds']:.2f}",
        )
    console.print(table)
    for ex in executions:
        if ex.get("extra_columns"):
            extra = ex["extra_columns"]
            console.print(
                f"{ex['source_key']}: {counted(len(extra), 'column')} not in the {ex['dataset']} contract, "
                f"dropped: {', '.join(extra)}",
                markup=False,
            )
        if ex["error"]:
            console.print(f"[red]{escape(ex['source_key'])}[/red]: ", end="")
            console.print(f"{ex['status']}: {ex['error']['type']}: {ex['error']['cause']}", markup=False)
        if ex.get("merge"):
            merge = ex["merge"]
            console.print(
                f"{ex['source_key']}: merged into {ex['dataset']} by primary key: {merge['inserted']} inserted, "
                f"{merge['updated']} updated, {merge['unchanged']} unchanged",
                markup=False,
            )
        for rule in ex.get("quality", []):
            if not rule["passed"]:
                console.print(
                    f"{ex['source_key']}: quality rule {rule['rule']} ({rule['severity']}) failed: {rule['value']}",
                    markup=False,
                )
        for redrive in ex.get("redrives", []):
            console.print(
                f"{ex['source_key']}: redrive {redrive['redrive_count']} from {redrive['from_state']}: "
                f"{redrive['status']}",
                markup=False,
            )
    outputs = summary["outputs"]
    assert isinstance(outputs, dict)
    console.print(f"outputs in {Path(outputs['curated']).parent}")


@app.command()
def generate(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset whose sample to generate.")],
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="Number of data rows.")] = 1000,
    bad_rate: Annotated[float, typer.Option("--bad-rate", min=0.0, max=1.0, help="Share of bad rows.")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same file).")] = 42,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write (.csv or .csv.gz).")] = Path(
        "sample.csv"
    ),
) -> None:
    """Generate a sample file for a dataset, with a share of deliberately bad rows."""
    # imported on use: `sluice --help` and the light commands do not load moto, numpy or Spark's helpers
    from sluice.generate import GENERATORS

    if dataset not in GENERATORS:
        raise _usage_error(f"no generator for dataset {dataset!r}; known: {', '.join(sorted(GENERATORS))}")
    output.parent.mkdir(parents=True, exist_ok=True)
    step = max(rows // 20, 1)

    def progress(done: int) -> None:
        if rows >= 100_000 and done % step == 0:
            err.print(f"  {done:,}/{rows:,} rows", markup=False)

    started = time.perf_counter()
    bad = GENERATORS[dataset](output, rows, bad_rate, seed, progress)
    err.print(
        f"wrote {output} ({rows:,} rows, {bad:,} bad, {output.stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f}s",
        markup=False,
    )


@contracts_app.command("check")
def contracts_check(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Contracts folder (default: --contracts, $SLUICE_CONTRACTS, else contracts/)."),
    ] = None,
    contracts: Annotated[Path | None, CONTRACTS_OPTION] = None,
) -> None:
    """Check every contract; print each problem with file, field and what is wrong."""
    # imported on use: `sluice --help` and the light commands do not load moto, numpy or Spark's helpers
    from sluice.contracts_folder import contracts_folder
    from sluice_lib.contracts import ContractStore
    from sluice_lib.transform_engine import lambda_blockers

    root = folder or contracts_folder(contracts)
    if not root.is_dir():
        raise _usage_error(f"{root}: no such folder")
    store = ContractStore(root)
    problems = store.check_all()
    for problem in problems:
        err.print(problem, markup=False)
    if problems:
        raise typer.Exit(EXIT_FAILED)
    err.print(f"{counted(len(store.datasets()), 'contract')} OK: {', '.join(store.datasets())}", markup=False)
    err.print("transform engines (the Lambda one takes files up to SmallFileMaxBytes):", markup=False)
    for name in store.datasets():
        contract = store.get(name)
        assert contract is not None
        blockers = lambda_blockers(contract)
        engines = f"glue (needs Spark: {', '.join(blockers)})" if blockers else "lambda, glue"
        err.print(f"  {name}: {engines}", markup=False, soft_wrap=True)


register_all(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
