"""Seed 3, support tickets to Parquet: CSV -> Glue -> partitioned Parquet under the curated (processed) prefix,
registered in the catalog; free-text bodies survive quoting and line breaks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dataset_runs import DatasetRun, dataset_run

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

BODY = 'Hi,\nthe app says "error 42", then closes.\n\nThanks, Ada'
TICKETS = (
    "ticket_id,created_at,customer_email,priority,status,subject,body\n"
    "TKT-000001,2025-03-01T10:00:00Z,Ada@Example.COM,high,open,Cannot log in,first try\n"
    'TKT-000002,2025-03-15T08:30:00+01:00,ben@example.com,low,pending,Refund request,"Please refund #12, thanks."\n'
    "TKT-000003,2025-04-02T23:59:59Z,chloe@example.com,urgent,resolved,App crashes,\n"
    'TKT-000001,2025-03-02T09:00:00Z,Ada@Example.COM,high,closed,Cannot log in,"'
    + BODY.replace('"', '""')
    + '"\n'
)


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    with dataset_run(
        tmp_path_factory.mktemp("tickets"), [("tickets", "support_ticket_data.csv", TICKETS)]
    ) as run:
        yield run


def test_dataset_tickets_run_writes_one_row_per_ticket_latest_version_wins(tickets: DatasetRun) -> None:
    execution = tickets.execution()
    assert execution["status"] == "SUCCEEDED"
    assert execution["rows"] == {
        "in": 4,
        "blank": 0,
        "valid": 4,
        "rejected": 0,
        "curated": 3,
        "deduped": 1,
        "loaded": 3,
    }
    rows = sorted(tickets.curated("tickets"), key=lambda r: r["ticket_id"])
    got = [
        (r["ticket_id"], r["created_at"], r["customer_email"], r["priority"], r["status"], r["subject"], r["body"],
         r["year"], r["month"])
        for r in rows
    ]  # fmt: skip
    assert got == [
        ("TKT-000001", datetime(2025, 3, 2, 9, tzinfo=UTC), "ada@example.com", "high", "closed", "Cannot log in",
         BODY, 2025, 3),
        ("TKT-000002", datetime(2025, 3, 15, 7, 30, tzinfo=UTC), "ben@example.com", "low", "pending",
         "Refund request", "Please refund #12, thanks.", 2025, 3),
        ("TKT-000003", datetime(2025, 4, 2, 23, 59, 59, tzinfo=UTC), "chloe@example.com", "urgent", "resolved",
         "App crashes", None, 2025, 4),
    ]  # fmt: skip


def test_dataset_tickets_parquet_lies_under_the_processed_prefix_by_month(tickets: DatasetRun) -> None:
    files = tickets.curated_files("tickets")
    assert [f.rsplit("/", 1)[0] for f in files] == ["year=2025/month=3", "year=2025/month=4"]
    assert all(f.endswith(".snappy.parquet") for f in files)


def test_dataset_tickets_table_is_in_the_catalog_for_athena(tickets: DatasetRun) -> None:
    table = tickets.catalog_table("tickets")

    assert table["StorageDescriptor"]["Location"] == f"s3://{tickets.emu.stack.lake_bucket}/curated/tickets/"
    assert table["Parameters"]["classification"] == "parquet"
    assert [c["Name"] for c in table["PartitionKeys"]] == ["year", "month"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"][:3]] == [
        ("ticket_id", "string"),
        ("created_at", "timestamp"),
        ("customer_email", "string"),
    ]
