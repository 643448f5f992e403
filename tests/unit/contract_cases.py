"""Row-level cases for the shipped contracts: files built from one good row and rows that each break one rule."""

from __future__ import annotations

import csv
import io
from typing import Any

from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

# (values changed from the good row, the one reason Validate must give)
Case = tuple[dict[str, str], str]


def csv_file(header: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row[name] for name in header] for row in rows])
    return out.getvalue().encode("utf-8")


def register_curated_table(world: ValidateWorld, dataset: str) -> str:
    """A catalog table for `dataset`'s curated zone, as Load registers it; returns its location."""
    location = f"s3://{world.settings.lake_bucket}/curated/{dataset}/"
    world.aws.glue.create_table(
        DatabaseName=world.settings.glue_database,
        TableInput={"Name": dataset, "StorageDescriptor": {"Columns": [], "Location": location}},
    )
    return location


def staged_good_row(
    world: ValidateWorld, dataset: str, header: list[str], good: dict[str, str]
) -> dict[str, Any]:
    """Validates a file holding the good row only; returns its one staged (typed) row."""
    out = world.validate(world.put(f"{dataset}.csv", csv_file(header, [good]), dataset))
    assert out.counts.rows_rejected == 0, world.quarantine(out)
    (row,) = world.staging_rows(out)
    return row


def reasons_of_broken_rows(
    world: ValidateWorld,
    lenient: ContractStore,
    dataset: str,
    header: list[str],
    good: dict[str, str],
    cases: list[Case],
) -> list[tuple[int, str]]:
    """Validates the good row then one row per case; returns (line, reasons) of every rejected row."""
    rows = [good, *({**good, **changes} for changes, _ in cases)]
    out = world.validate(world.put(f"{dataset}.csv", csv_file(header, rows), dataset), lenient)
    assert out.counts.rows_valid == 1
    return [(int(r["line"]), r["reasons"]) for r in world.quarantine(out)]


def expected(cases: list[Case], first_line: int = 3) -> list[tuple[int, str]]:
    """Line of each case's row (header line 1, good row line 2) and its reason, as written in the case."""
    return [(line, reason) for line, (_, reason) in enumerate(cases, start=first_line)]
