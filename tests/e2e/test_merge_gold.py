"""Gold tables of a keyed dataset after merges: two orders uploads that share keys (a corrected quantity, an
order moved to another month, new orders) leave the curated table with one row per key and the gold table
daily_sales_summary equal, row for row, to the same aggregate recomputed with DuckDB from the curated files the
catalog names, and to the figures worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from catalog_view import catalog_rows
from dataset_runs import DatasetRun, dataset_run
from gold_view import duckdb_recompute

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

HEADER = "Order ID,Customer Name,Product,Quantity,Unit Price,Order Date"
FIRST = f"""{HEADER}
ORD-1,Ada Okafor,Laptop,1,1000.00,2025-03-01
ORD-2,,Mouse,2,19.50,2025-03-01
ORD-3,Ben Smith,Keyboard,3,49.00,2025-03-02
ORD-4,Chloe Martin,USB cable,4,4.50,2025-03-02
"""
# ORD-2 corrected (3 mice), ORD-3 moved to April, ORD-5 new; ORD-1 and ORD-4 not sent again.
SECOND = f"""{HEADER}
ORD-2,,Mouse,3,19.50,2025-03-01
ORD-3,Ben Smith,Keyboard,3,49.00,2025-04-02
ORD-5,Dev Patel,Monitor,1,189.90,2025-04-10
"""
# Worked out by hand from the two files: 1 March ORD-1 (1 x 1000.00) and ORD-2 (3 x 19.50); 2 March ORD-4
# (4 x 4.50); 2 April ORD-3 (3 x 49.00); 10 April ORD-5 (1 x 189.90).
EXPECTED = [
    {"orders": 2, "total_quantity": 4, "avg_unit_price": 509.75, "total_revenue": 1058.5,
     "order_date": date(2025, 3, 1), "year": 2025, "month": 3},
    {"orders": 1, "total_quantity": 4, "avg_unit_price": 4.5, "total_revenue": 18.0,
     "order_date": date(2025, 3, 2), "year": 2025, "month": 3},
    {"orders": 1, "total_quantity": 3, "avg_unit_price": 49.0, "total_revenue": 147.0,
     "order_date": date(2025, 4, 2), "year": 2025, "month": 4},
    {"orders": 1, "total_quantity": 1, "avg_unit_price": 189.9, "total_revenue": 189.9,
     "order_date": date(2025, 4, 10), "year": 2025, "month": 4},
]  # fmt: skip


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    files = [("orders", "orders-1.csv", FIRST), ("orders", "orders-2.csv", SECOND)]
    with dataset_run(tmp_path_factory.mktemp("orders-merge"), files) as run:
        yield run


def test_merged_orders_hold_one_row_per_order_with_the_correction_and_the_move(orders: DatasetRun) -> None:
    assert [r["status"] for r in (orders.execution(0), orders.execution(1))] == ["SUCCEEDED", "SUCCEEDED"]
    rows = {r["order_id"]: r for r in catalog_rows(orders.emu, "orders")}
    assert len(catalog_rows(orders.emu, "orders")) == len(rows) == 5
    assert rows["ORD-2"]["quantity"] == 3
    assert (rows["ORD-3"]["order_date"], rows["ORD-3"]["month"]) == (date(2025, 4, 2), "4")
    assert orders.execution(1)["merge"] == {"inserted": 1, "updated": 2, "unchanged": 0}


def test_gold_after_merges_equals_a_duckdb_recompute_from_the_catalogs_curated_files(
    orders: DatasetRun, tmp_path: Path
) -> None:
    gold = sorted(orders.curated("daily_sales_summary"), key=lambda r: r["order_date"])

    assert gold == EXPECTED
    assert gold == duckdb_recompute(orders.emu, tmp_path)
