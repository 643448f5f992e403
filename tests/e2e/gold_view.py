"""The orders gold table `daily_sales_summary` as the catalog presents it, and the same aggregate recomputed with
DuckDB from the curated files the catalog names: the tests' check of a gold table against its curated table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from catalog_view import catalog_files, catalog_rows

from sluice.local.emulator import Emulator

GOLD_COLUMNS = ["orders", "total_quantity", "avg_unit_price", "total_revenue", "order_date", "year", "month"]


def gold_rows(emu: Emulator) -> list[dict[str, Any]]:
    """daily_sales_summary's rows by order date, partition values as integers (as the recompute gives them)."""
    rows = [
        {name: int(row[name]) if name in ("year", "month") else row[name] for name in GOLD_COLUMNS}
        for row in catalog_rows(emu, "daily_sales_summary")
    ]
    return sorted(rows, key=lambda r: r["order_date"])


def duckdb_recompute(emu: Emulator, folder: Path) -> list[dict[str, Any]]:
    """daily_sales_summary's SQL, run by DuckDB over the curated orders files the catalog names (downloaded to
    `folder`; partition columns from each file's partition directory), by order date."""
    con = duckdb.connect()
    selects = []
    folder.mkdir(parents=True, exist_ok=True)
    for partition, keys in catalog_files(emu, "orders").items():
        values = dict(part.split("=", 1) for part in partition.split("/"))
        for key in keys:
            path = folder / key.replace("/", "_")
            emu.client("s3").download_file(emu.stack.lake_bucket, key, str(path))
            selects.append(
                f"SELECT *, {int(values['year'])} AS year, {int(values['month'])} AS month FROM read_parquet('{path}')"
            )
    if not selects:
        return []
    con.execute(f"CREATE VIEW orders AS {' UNION ALL BY NAME '.join(selects)}")
    rows = con.execute(
        "SELECT count(*) AS orders, sum(quantity) AS total_quantity, round(avg(unit_price), 2) AS avg_unit_price, "
        "round(sum(line_total), 2) AS total_revenue, order_date, year, month FROM orders "
        "GROUP BY year, month, order_date ORDER BY order_date"
    ).fetchall()
    return [dict(zip(GOLD_COLUMNS, row, strict=True)) for row in rows]
