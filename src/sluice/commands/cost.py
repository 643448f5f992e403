"""`sluice cost`: the AWS cost of one execution, from the template's settings (model in sluice.cost)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sluice.contracts_folder import CONTRACTS_OPTION, ENV_VAR, ContractsUsageError, load_contracts
from sluice.paths import repo_root


def _money(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"


def register(app: typer.Typer) -> None:
    @app.command()
    def cost(
        size: Annotated[str, typer.Option("--bytes", "-b", help="File size: 1048576, 1MB, 100MB, 10GB.")],
        rows: Annotated[
            int | None, typer.Option("--rows", "-n", min=1, help="Rows (default: size / 124 B, offers rows).")
        ] = None,
        files_per_day: Annotated[
            float | None, typer.Option("--files-per-day", "-f", min=0, help="Also show a 30-day month.")
        ] = None,
        bad_rate: Annotated[
            float, typer.Option("--bad-rate", min=0.0, max=1.0, help="Share of bad rows.")
        ] = 0.0,
        dataset: Annotated[
            str,
            typer.Option("--dataset", "-d", help="Contract deciding the engine (and serving, unless given)."),
        ] = "offers",
        serving: Annotated[
            bool | None,
            typer.Option(
                "--serving/--no-serving",
                help="The dataset loads a serving table (default: as its contract says; offers does).",
            ),
        ] = None,
        template: Annotated[
            Path | None, typer.Option("--template", help="SAM template (default: the repository's).")
        ] = None,
        contracts: Annotated[Path | None, CONTRACTS_OPTION] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        markdown: Annotated[
            bool, typer.Option("--markdown", help="Print Markdown tables (docs/cost.md).")
        ] = False,
    ) -> None:
        """Cost of one execution on AWS (us-east-1 list prices) for sluice and the alternatives."""
        # imported on use: `sluice --help` and the light commands do not load moto, numpy or Spark's helpers
        from sluice.cost import PRICES_TAKEN, THROUGHPUT, estimate, load_deployment, parse_size, scenarios
        from sluice_lib.transform_engine import lambda_blockers

        err = Console(stderr=True, highlight=False)
        try:
            size_bytes = parse_size(size)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        path = template or repo_root() / "template.sam.yaml"
        deployment = load_deployment(path)
        if contracts is None and template is not None and not os.environ.get(ENV_VAR):
            contracts = template.parent / "contracts"  # the contracts deployed with that template
        try:
            contract = load_contracts(contracts, [dataset]).get(dataset)
        except ContractsUsageError as exc:
            err.print("[red]error:[/red] ", end="")
            err.print(str(exc), markup=False)
            raise typer.Exit(2) from None
        assert contract is not None
        serves = contract.pipeline.serving is not None if serving is None else serving
        blockers = lambda_blockers(contract)
        results = [
            estimate(
                deployment, size_bytes, rows, scenario=s, bad_rate=bad_rate, serving=serves, blockers=blockers
            )
            for s in scenarios(deployment)
        ]
        month = 30 * files_per_day if files_per_day is not None else None
        if json_out:
            payload: dict[str, Any] = {
                "bytes": size_bytes,
                "rows": results[0].rows,
                "dataset": dataset,
                "small_file_max_bytes": deployment.small_file_max_bytes,
                "prices_taken": PRICES_TAKEN,
                "throughput": THROUGHPUT.__dict__,
                "scenarios": [
                    {
                        "scenario": r.scenario,
                        "engine": r.engine,
                        "usd_per_execution": r.total,
                        "usd_per_month": r.total * month if month is not None else None,
                        "transitions": r.transitions,
                        "by_service": r.by_service(),
                        "lines": [line.__dict__ for line in r.lines],
                        "warnings": r.warnings,
                    }
                    for r in results
                ],
            }
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return
        if markdown:
            sys.stdout.write(_markdown(results, month) + "\n")
            return
        console = Console(highlight=False)
        head = results[0]
        console.print(
            f"one execution of {dataset}, {size_bytes / 1e6:,.1f} MB, {head.rows:,} rows, us-east-1 list prices "
            f"of {PRICES_TAKEN}, settings from {path.name}"
        )
        summary = Table(title="per execution")
        for col in (
            "scenario",
            "transitions",
            "USD",
            *(("USD / 30 days",) if month is not None else ()),
            "largest",
        ):
            summary.add_column(col)
        for r in results:
            top = r.dominant()
            summary.add_row(
                r.scenario,
                str(r.transitions),
                _money(r.total),
                *((_money(r.total * month),) if month is not None else ()),
                f"{top.service} ({top.usd / r.total:.0%})",
            )
        console.print(summary)
        detail = Table(title=head.scenario)
        for col in ("service", "what", "quantity", "USD"):
            detail.add_column(col)
        for line in head.lines:
            detail.add_row(line.service, line.what, f"{line.quantity:,.2f} {line.unit}", f"${line.usd:.6f}")
        console.print(detail)
        for r in results:
            for warning in r.warnings:
                err.print(f"[yellow]warning:[/yellow] {r.scenario}: {warning}")


def _markdown(results: list[Any], month: float | None) -> str:
    head = results[0]
    cols = [
        "scenario",
        "transitions",
        "USD per execution",
        *(["USD per 30 days"] if month is not None else []),
        "largest",
    ]
    lines = [f"One execution: {head.bytes / 1e6:,.1f} MB, {head.rows:,} rows.", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        top = r.dominant()
        cells = [r.scenario, str(r.transitions), _money(r.total)]
        cells += [_money(r.total * month)] if month is not None else []
        cells.append(f"{top.service} ({top.usd / r.total:.0%})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Breakdown, {head.scenario}:",
        "",
        "| service | what | quantity | USD |",
        "|---|---|---|---|",
    ]
    for line in head.lines:
        lines.append(f"| {line.service} | {line.what} | {line.quantity:,.2f} {line.unit} | ${line.usd:.6f} |")
    notes = [f"- {r.scenario}: {w}" for r in results for w in r.warnings]
    if notes:
        lines += ["", "Warnings:", "", *notes]
    return "\n".join(lines)
