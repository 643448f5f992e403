"""Seed 4, signups: validated (the seed's preprocess), crawled, transformed with renamed columns and only
active signups kept, and a gold table of signups per day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from dataset_runs import DatasetRun, dataset_run

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

SIGNUPS = """id,name,email,signup_date,status
1,John Doe,john@example.com,2024-11-01,active
2,Jane Smith,jane@example.com,2024-11-02,inactive
3,Alice Brown,alice@example.com,2024-11-02,active
4,Bob Stone,bob@example.com,2024-11-02,active
5,Eve Moss,eve@example.com,2024-12-01,active
6,Dan Lee,dan@example.com,2024-11-02,active
3,Alice Brown,alice@example.com,2024-11-03,inactive
"""


@pytest.fixture(scope="module")
def signups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    with dataset_run(tmp_path_factory.mktemp("signups"), [("signups", "signups.csv", SIGNUPS)]) as run:
        yield run


def test_dataset_signups_first_upload_is_crawled_then_transformed(signups: DatasetRun) -> None:
    execution = signups.execution()
    assert execution["status"] == "SUCCEEDED"
    names = [s["name"] for s in execution["states"]]
    assert names.index("StartCrawler") < names.index("Transform") < names.index("Load")
    # 7 rows; id 3 twice (its later row, inactive, wins); inactive ids 2 and 3 filtered out.
    assert execution["rows"] == {
        "in": 7,
        "blank": 0,
        "valid": 7,
        "rejected": 0,
        "curated": 4,
        "deduped": 1,
        "loaded": 4,
    }


def test_dataset_signups_curated_rows_have_renamed_columns_and_are_active_only(signups: DatasetRun) -> None:
    rows = sorted(signups.curated("signups"), key=lambda r: r["signup_id"])

    assert [(r["signup_id"], r["full_name"], r["email"], r["signup_date"], r["status"]) for r in rows] == [
        (1, "John Doe", "john@example.com", date(2024, 11, 1), "active"),
        (4, "Bob Stone", "bob@example.com", date(2024, 11, 2), "active"),
        (5, "Eve Moss", "eve@example.com", date(2024, 12, 1), "active"),
        (6, "Dan Lee", "dan@example.com", date(2024, 11, 2), "active"),
    ]
    assert "id" not in rows[0] and "name" not in rows[0]


def test_dataset_signups_gold_table_counts_active_signups_per_day(signups: DatasetRun) -> None:
    rows = sorted(signups.curated("daily_signups"), key=lambda r: r["signup_date"])

    assert rows == [
        {"signup_date": date(2024, 11, 1), "signups": 1},
        {"signup_date": date(2024, 11, 2), "signups": 2},
        {"signup_date": date(2024, 12, 1), "signups": 1},
    ]
    table = signups.catalog_table("daily_signups")
    assert table["PartitionKeys"] == []
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("signup_date", "date"),
        ("signups", "bigint"),
    ]
