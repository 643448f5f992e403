"""`sluice rollback --dataset D --to-run R`: a keyed curated table back to its state right after run R
(sluice_lib.rollback), against `sluice up` (`--endpoint-url`) or a deployed stack (`--stack`, your credentials).

`sluice run` provisions a fresh emulated stack each time and keeps nothing to roll back; a local rollback runs
against the stack `sluice up` serves, after uploads to it.
"""

from __future__ import annotations

import getpass
import json
import socket
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sluice.commands.status import (
    EndpointOption,
    RegionOption,
    StackOption,
    TargetError,
    err,
    target_or_exit,
)
from sluice.contracts_folder import CONTRACTS_OPTION

if TYPE_CHECKING:
    from sluice_lib.rollback import Change, RollbackResult

EXIT_REFUSED, EXIT_USAGE = 1, 2
VERBS = {"switch": "switched", "create": "re-created", "drop": "dropped"}


def describe(change: Change) -> str:
    """One partition's line of the plan: `<partition>: <from> -> <to>` (`(none)`: no such partition)."""
    name = change.partition or "(table location)"
    line = f"{name}: {change.before or '(none)'} -> {change.after or '(none)'}"
    if change.action == "drop":
        return f"{line}  (dropped: it did not exist after the run)"
    if change.action == "create":
        return f"{line}  (re-created: emptied since the run)"
    return line


def summary(result: RollbackResult) -> str:
    counts = {a: sum(1 for c in result.changes if c.action == a) for a in VERBS}
    done = ", ".join(f"{n} {VERBS[a]}" for a, n in counts.items() if n)
    where = f"{result.dataset} to the state after run {result.to_run} (loaded {result.run_loaded_at})"
    if not result.changes:
        return f"nothing to roll back: the catalog already presents {where}"
    if result.dry_run:
        return f"dry run: rolling back {where} would change {len(result.changes)} partitions ({done}); nothing was changed"
    return (
        f"rolled back {where}: {len(result.changes)} partitions ({done}); publish generation {result.generation}; "
        f"recorded as rollback {result.rollback_id}; serving items: {result.serving_written:,} written, "
        f"{result.serving_deleted:,} deleted"
    )


def _holder() -> str:
    """The lease holder's id: who is rolling back, so a merge waiting on the lease can be traced to them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"sluice-rollback:{user}@{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


def register(app: typer.Typer) -> None:
    @app.command()
    def rollback(
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="The keyed dataset to roll back.")],
        to_run: Annotated[
            str, typer.Option("--to-run", help="The run whose resulting table to restore (its run id).")
        ],
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the plan (partition: from -> to); change nothing.")
        ] = False,
        endpoint_url: EndpointOption = None,
        stack: StackOption = None,
        region: RegionOption = None,
        contracts: Annotated[Path | None, CONTRACTS_OPTION] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    ) -> None:
        """Roll a keyed dataset's curated table back to its state right after a run.

        Every partition a later run changed is switched back, in the Glue catalog, to the version it had then
        (kept for CuratedVersionRetentionDays after being superseded), under the dataset's merge lease.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        from sluice.contracts_folder import ContractsUsageError, load_contracts
        from sluice_lib.errors import SluiceError
        from sluice_lib.rollback import rollback as roll_back

        try:
            store = load_contracts(contracts)
        except ContractsUsageError as exc:
            err.print("[red]error:[/red] ", end="")
            err.print(str(exc), markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        target = target_or_exit(endpoint_url, stack, region)
        try:
            runs_table, database = target.output("RunsTableName"), target.output("GlueDatabaseName")
            serving_table = target.output("ServingTableName")
        except TargetError as exc:
            err.print("[red]error:[/red] ", end="")
            err.print(str(exc), markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        try:
            result = roll_back(
                s3=target.client("s3"),
                glue=target.client("glue"),
                dynamodb=target.client("dynamodb"),
                contracts=store,
                runs_table=runs_table,
                database=database,
                dataset=dataset,
                to_run=to_run,
                dry_run=dry_run,
                holder=_holder(),
                serving_table=serving_table,
            )
        except SluiceError as exc:
            err.print(f"[red]error:[/red] {type(exc).__name__}: ", end="")
            err.print(str(exc), markup=False)
            for note in getattr(exc, "__notes__", []):
                err.print(note, markup=False)
            raise typer.Exit(EXIT_REFUSED) from None
        except (ClientError, BotoCoreError) as exc:  # a permission the caller lacks, a throttled call, ...
            err.print("[red]error:[/red] ", end="")
            err.print(str(exc), markup=False)
            raise typer.Exit(EXIT_REFUSED) from None
        if json_out:
            sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        else:
            out = sys.stdout
            for change in result.changes:
                out.write(describe(change) + "\n")
            out.write(summary(result) + "\n")
        for warning in result.warnings:
            err.print(f"warning: {warning}", markup=False)
