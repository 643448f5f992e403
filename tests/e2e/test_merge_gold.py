"""Gold tables of a keyed dataset after merges: three orders uploads that share keys (a corrected quantity, orders
moved to another month or day, new orders) leave the curated table with one row per key and the gold table
daily_sales_summary, after each merge, equal row for row to the same aggregate recomputed with DuckDB from the
curated files the catalog names, and to the figures worked out by hand: a gold partition whose every order moved
away (an emptied curated month) is gone from the lake and the catalog, and a day whose only order moved is gone
from a month that keeps others."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from catalog_view import catalog_files, catalog_rows
from dataset_runs import DatasetRun, dataset_run
from gold_view import duckdb_recompute

from sluice.local.emulator import Emulator
from sluice.local.runner import ExecutionResult

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

GOLD = "daily_sales_summary"
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
# April's two orders moved to May (curated April emptied), ORD-4, 2 March's only order, moved to 1 March.
THIRD = f"""{HEADER}
ORD-3,Ben Smith,Keyboard,3,49.00,2025-05-02
ORD-4,Chloe Martin,USB cable,4,4.50,2025-03-01
ORD-5,Dev Patel,Monitor,1,189.90,2025-05-10
"""
# Worked out by hand from the first two files: 1 March ORD-1 (1 x 1000.00) and ORD-2 (3 x 19.50); 2 March ORD-4
# (4 x 4.50); 2 April ORD-3 (3 x 49.00); 10 April ORD-5 (1 x 189.90).
AFTER_SECOND = [
    {"orders": 2, "total_quantity": 4, "avg_unit_price": 509.75, "total_revenue": 1058.5,
     "order_date": date(2025, 3, 1), "year": 2025, "month": 3},
    {"orders": 1, "total_quantity": 4, "avg_unit_price": 4.5, "total_revenue": 18.0,
     "order_date": date(2025, 3, 2), "year": 2025, "month": 3},
    {"orders": 1, "total_quantity": 3, "avg_unit_price": 49.0, "total_revenue": 147.0,
     "order_date": date(2025, 4, 2), "year": 2025, "month": 4},
    {"orders": 1, "total_quantity": 1, "avg_unit_price": 189.9, "total_revenue": 189.9,
     "order_date": date(2025, 4, 10), "year": 2025, "month": 4},
]  # fmt: skip
# After the third: 1 March ORD-1, ORD-2 and ORD-4 (1 + 3 + 4 items; (1000.00 + 19.50 + 4.50) / 3 = 341.33;
# 1000.00 + 58.50 + 18.00); no 2 March; no April at all; 2 May ORD-3, 10 May ORD-5.
AFTER_THIRD = [
    {"orders": 3, "total_quantity": 8, "avg_unit_price": 341.33, "total_revenue": 1076.5,
     "order_date": date(2025, 3, 1), "year": 2025, "month": 3},
    {"orders": 1, "total_quantity": 3, "avg_unit_price": 49.0, "total_revenue": 147.0,
     "order_date": date(2025, 5, 2), "year": 2025, "month": 5},
    {"orders": 1, "total_quantity": 1, "avg_unit_price": 189.9, "total_revenue": 189.9,
     "order_date": date(2025, 5, 10), "year": 2025, "month": 5},
]  # fmt: skip


@dataclass
class GoldState:
    """The gold table and its recompute as they stood when one execution ended."""

    partitions: list[str]  # the gold table's catalog partitions
    lake_partitions: list[str]  # the partition directories holding gold files in the lake
    rows: list[dict[str, Any]]  # the gold table as the catalog presents it
    recompute: list[dict[str, Any]]  # DuckDB's recompute from the curated files the catalog names


@dataclass
class OrdersRuns:
    run: DatasetRun
    states: list[GoldState]


def gold_state(emu: Emulator, folder: Path) -> GoldState:
    listed = emu.client("s3").list_objects_v2(Bucket=emu.stack.lake_bucket, Prefix=f"curated/{GOLD}/")
    keys = [o["Key"][len(f"curated/{GOLD}/") :] for o in listed.get("Contents", [])]
    rows = [{**r, "year": int(r["year"]), "month": int(r["month"])} for r in catalog_rows(emu, GOLD)]
    return GoldState(
        partitions=list(catalog_files(emu, GOLD)),
        lake_partitions=sorted({k.rsplit("/", 1)[0] for k in keys}),
        rows=sorted(rows, key=lambda r: r["order_date"]),
        recompute=duckdb_recompute(emu, folder),
    )


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrdersRuns]:
    tmp = tmp_path_factory.mktemp("orders-merge")
    files = [("orders", f"orders-{i}.csv", text) for i, text in enumerate((FIRST, SECOND, THIRD), 1)]
    states: list[GoldState] = []

    def look(emu: Emulator, result: ExecutionResult) -> None:
        states.append(gold_state(emu, tmp / "recompute" / str(len(states))))

    with dataset_run(tmp, files, on_result=look) as run:
        yield OrdersRuns(run, states)


def test_merged_orders_hold_one_row_per_order_with_the_corrections_and_the_moves(orders: OrdersRuns) -> None:
    run = orders.run
    assert [run.execution(i)["status"] for i in range(3)] == ["SUCCEEDED"] * 3
    rows = {r["order_id"]: r for r in catalog_rows(run.emu, "orders")}
    assert len(catalog_rows(run.emu, "orders")) == len(rows) == 5
    assert rows["ORD-2"]["quantity"] == 3
    assert (rows["ORD-3"]["order_date"], rows["ORD-3"]["month"]) == (date(2025, 5, 2), "5")
    assert (rows["ORD-4"]["order_date"], rows["ORD-4"]["month"]) == (date(2025, 3, 1), "3")
    assert list(catalog_files(run.emu, "orders")) == ["year=2025/month=3", "year=2025/month=5"]
    assert run.execution(1)["merge"] == {"inserted": 1, "updated": 2, "unchanged": 0}
    assert run.execution(2)["merge"] == {"inserted": 0, "updated": 3, "unchanged": 0}


def test_gold_after_each_merge_equals_the_hand_worked_figures_and_a_duckdb_recompute(
    orders: OrdersRuns,
) -> None:
    second, third = orders.states[1], orders.states[2]

    assert second.rows == second.recompute == AFTER_SECOND
    assert third.rows == third.recompute == AFTER_THIRD


def test_gold_month_whose_orders_all_moved_away_is_gone_from_the_catalog_and_the_lake(
    orders: OrdersRuns,
) -> None:
    second, third = orders.states[1], orders.states[2]

    assert second.partitions == second.lake_partitions == ["year=2025/month=3", "year=2025/month=4"]
    assert third.partitions == third.lake_partitions == ["year=2025/month=3", "year=2025/month=5"]


def test_exported_gold_after_the_merges_equals_the_hand_worked_figures(orders: OrdersRuns) -> None:
    gold = sorted(orders.run.curated(GOLD), key=lambda r: r["order_date"])

    assert gold == AFTER_THIRD
    assert {f.rsplit("/", 1)[0] for f in orders.run.curated_files(GOLD)} == {
        "year=2025/month=3",
        "year=2025/month=5",
    }
