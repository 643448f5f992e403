"""`sluice quality DATASET`: the dataset's quality results, run by run, from the lake's `quality` table.

Reads the folder a local run exported (`sluice run --out`, default .sluice/out: `quality/dataset=<name>/`), or
with `--endpoint-url` / `--stack` the lake bucket of a running `sluice up` or a deployed stack.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sluice.commands.status import (
    EndpointOption,
    RegionOption,
    StackOption,
    err,
    table_console,
    target_or_exit,
)

COLUMNS = ("checked at", "run", "file", "rule", "severity", "passed", "value", "threshold", "detail")


def _tables_from_folder(folder: Path) -> list[Any]:
    import pyarrow.parquet as pq

    return [pq.read_table(path) for path in sorted(folder.glob("*.parquet"))]


def _tables_from_lake(s3: Any, bucket: str, prefix: str) -> list[Any]:
    import pyarrow.parquet as pq

    tables = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                tables.append(pq.read_table(io.BytesIO(body)))
    return tables


def history_rows(tables: list[Any], limit: int) -> list[dict[str, Any]]:
    """One row per rule per run, oldest run first, from the last `limit` runs."""
    rows = [row for table in tables for row in table.to_pylist()]
    runs = sorted({(r["checked_at"], r["run_id"]) for r in rows})[-limit:]
    keep = {run for _, run in runs}
    rows = [r for r in rows if r["run_id"] in keep]
    return sorted(rows, key=lambda r: (r["checked_at"], r["run_id"]))


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def register(app: typer.Typer) -> None:
    @app.command()
    def quality(
        dataset: Annotated[str, typer.Argument(help="The dataset whose quality results to show.")],
        out: Annotated[Path, typer.Option("--out", help="The folder `sluice run --out` exported to.")] = Path(
            ".sluice/out"
        ),
        endpoint_url: EndpointOption = None,
        stack: StackOption = None,
        region: RegionOption = None,
        runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="How many of the latest runs.")] = 20,
        json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
    ) -> None:
        """A dataset's quality results: one line per rule per run, oldest first."""
        from rich.table import Table

        if endpoint_url or stack:
            target = target_or_exit(endpoint_url, stack, region)
            where = f"s3://{target.output('LakeBucketName')}/quality/dataset={dataset}/"
            tables = _tables_from_lake(
                target.client("s3"), target.output("LakeBucketName"), where.split("/", 3)[3]
            )
        else:
            folder = out / "quality" / f"dataset={dataset}"
            where = str(folder)
            tables = _tables_from_folder(folder)
        rows = history_rows(tables, runs)
        if json_out:
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return
        if not rows:
            err.print(f"no quality results for {dataset} in {where}", markup=False)
            return
        table = Table(title=f"quality of {dataset} ({where})", title_justify="left")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                r["checked_at"].strftime("%Y-%m-%d %H:%M:%S"),
                r["run_id"],
                r["source_key"].rsplit("/", 1)[-1],
                r["rule"],
                r["severity"],
                "yes" if r["passed"] else "NO",
                _value(r["value"]),
                r["threshold"],
                r["detail"],
            )
        table_console().print(table)
