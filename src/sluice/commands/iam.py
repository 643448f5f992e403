"""`sluice iam report [FOLDER ...]`: per template role, the actions its calls used and the grants none used."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

iam_app = typer.Typer(
    no_args_is_help=True, help="The template's IAM roles as the offline runs exercised them."
)


def register(app: typer.Typer) -> None:
    app.add_typer(iam_app, name="iam")


@iam_app.command()
def report(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Output folders of `sluice run` (--out) or the logs folder of `sluice up`."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the merged report as JSON.")] = False,
    fail_on_unused: Annotated[
        bool, typer.Option("--fail-on-unused", help="Exit 1 when a grant was used by none of the runs.")
    ] = False,
) -> None:
    """Per role: each granted action with the calls that used it, across the runs of FOLDERS (default
    .sluice/out). `✗ unused`: no call needed it (remove it, or say in the template why it stays); `· not
    emulated`: only AWS itself uses it (log delivery, tracing, Glue's script fetch); `DENIED`: a call it lacks."""
    from sluice.local.iam.report import load, merge, render  # imported on use: it loads moto

    try:
        merged = merge([load(folder) for folder in folders or [Path(".sluice/out")]])
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        sys.stdout.write(json.dumps(merged, indent=1) + "\n")
    else:
        typer.echo(render(merged))
    unused = any(g["status"] == "unused" for r in merged["roles"] for g in r["grants"])
    denied = any(r["denied"] for r in merged["roles"])
    raise typer.Exit(1 if denied or (fail_on_unused and unused) else 0)
