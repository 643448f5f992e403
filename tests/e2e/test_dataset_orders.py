"""Seed 5, sales orders as a medallion: bronze is the raw upload kept in the archive, silver the curated table
(clean column names, nulls handled, deduplicated, typed, _processed_at, _row_hash), gold the daily summary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from dataset_runs import DatasetRun, dataset_run

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

ORDERS = """Order ID,Customer Name,Product,Quantity,Unit Price,Order Date
ORD-1,Ada Okafor,Laptop,1,1000.00,2025-03-01
ORD-2,,Mouse,2,19.50,2025-03-01
ORD-3,Ben Smith,Keyboard,3,49.00,2025-03-02
ORD-2,,Mouse,2,19.50,2025-03-01
ORD-4,Chloe Martin,USB cable,4,4.50,2025-03-02
ORD-5,Dev Patel,Monitor,1,189.90,2025-04-10
"""


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    with dataset_run(tmp_path_factory.mktemp("orders"), [("orders", "sales_2025.csv", ORDERS)]) as run:
        yield run


def test_dataset_orders_bronze_is_the_raw_upload_byte_for_byte_in_the_archive(orders: DatasetRun) -> None:
    assert orders.execution()["status"] == "SUCCEEDED"
    (archived,) = Path(orders.outputs["archive"]).rglob("sales_2025.csv")
    assert archived.read_text(encoding="utf-8") == ORDERS
    assert archived.relative_to(orders.outputs["archive"]).parts[0] == "orders"


def test_dataset_orders_silver_is_clean_typed_deduplicated_with_nulls_handled(orders: DatasetRun) -> None:
    assert orders.execution()["rows"]["deduped"] == 1
    rows = sorted(orders.curated("orders"), key=lambda r: r["order_id"])

    got = [
        (r["order_id"], r["customer_name"], r["product"], r["quantity"], r["unit_price"], r["order_date"],
         r["line_total"], r["year"], r["month"])
        for r in rows
    ]  # fmt: skip
    assert got == [
        ("ORD-1", "Ada Okafor", "Laptop", 1, 1000.0, date(2025, 3, 1), 1000.0, 2025, 3),
        ("ORD-2", "unknown", "Mouse", 2, 19.5, date(2025, 3, 1), 39.0, 2025, 3),
        ("ORD-3", "Ben Smith", "Keyboard", 3, 49.0, date(2025, 3, 2), 147.0, 2025, 3),
        ("ORD-4", "Chloe Martin", "USB cable", 4, 4.5, date(2025, 3, 2), 18.0, 2025, 3),
        ("ORD-5", "Dev Patel", "Monitor", 1, 189.9, date(2025, 4, 10), 189.9, 2025, 4),
    ]
    assert list(rows[0]) == [
        "order_id", "customer_name", "product", "quantity", "unit_price", "order_date", "line_total",
        "_processed_at", "_ingest_id", "_source_key", "_ingested_at", "_row_hash", "year", "month",
    ]  # fmt: skip
    assert all(isinstance(r["_processed_at"], datetime) for r in rows)
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["_row_hash"]) for r in rows)
    assert len({r["_row_hash"] for r in rows}) == 5


def test_dataset_orders_gold_daily_sales_summary_per_order_date(orders: DatasetRun) -> None:
    rows = sorted(orders.curated("daily_sales_summary"), key=lambda r: r["order_date"])

    assert rows == [
        {"orders": 2, "total_quantity": 3, "avg_unit_price": 509.75, "total_revenue": 1039.0,
         "order_date": date(2025, 3, 1), "year": 2025, "month": 3},
        {"orders": 2, "total_quantity": 7, "avg_unit_price": 26.75, "total_revenue": 165.0,
         "order_date": date(2025, 3, 2), "year": 2025, "month": 3},
        {"orders": 1, "total_quantity": 1, "avg_unit_price": 189.9, "total_revenue": 189.9,
         "order_date": date(2025, 4, 10), "year": 2025, "month": 4},
    ]  # fmt: skip
    partitions = [f.rsplit("/", 1)[0] for f in orders.curated_files("daily_sales_summary")]
    assert partitions == ["year=2025/month=3", "year=2025/month=4"]
