"""Serving items built a column at a time (`read_items`, what Load writes) are exactly `to_item` of the rows
`read_rows` reads, for every column type, null, partition value and key; a row without a key value fails
with the same error."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from steps_aws import SETTINGS, emulated_aws

from sluice_lib.contracts import Serving
from sluice_lib.curated import HIVE_NULL_PARTITION
from sluice_lib.errors import ServingKeyMissingError
from sluice_lib.lake import Manifest
from sluice_lib.models import ServingSlice
from sluice_lib.serving import read_items, read_rows, to_item

PARIS = timezone(timedelta(hours=1))
ROWS = 7


def _table(*, account_nulls: bool = False) -> pa.Table:
    at = [datetime(2026, 1, 2, 3, 4, 5, i * 1000 if i % 2 else 0, tzinfo=UTC) for i in range(ROWS)]
    return pa.table(
        {
            "account": [None if account_nulls and i == 4 else f"a{i}" for i in range(ROWS)],
            "at": pa.array(at, pa.timestamp("us", tz="UTC")),
            "at_paris": pa.array([a.astimezone(PARIS) for a in at], pa.timestamp("ms", tz="Europe/Paris")),
            "local": pa.array([a.replace(tzinfo=None) for a in at], pa.timestamp("us")),
            "local_ns": pa.array([a.replace(tzinfo=None) for a in at], pa.timestamp("ns")),
            "title": ["Zoë", "", None, "x#y", "7", "true", "ünïcode"],
            "qty": pa.array([0, -3, None, 2**40, 7, 1, 2], pa.int64()),
            "small": pa.array([1, 2, 3, -4, 5, 6, 7], pa.int8()),
            "active": [True, False, None, True, False, True, None],
            "price": [1.5, float("nan"), None, float("inf"), -0.0, 1e-7, 3.0],
            "amount": pa.array(
                [
                    Decimal("1.10"),
                    None,
                    Decimal("-0.01"),
                    Decimal("0"),
                    Decimal("12345.67"),
                    Decimal("1.00"),
                    Decimal("2.50"),
                ],
                pa.decimal128(9, 2),
            ),
            "day": pa.array([date(2026, 1, i + 1) for i in range(ROWS)], pa.date32()),
            "tags": [["a", "b"], [], None, ["c"], ["d", None], ["e"], ["f"]],
            "dims": [
                {"w": 1, "unit": "cm"},
                None,
                {"w": None, "unit": "m"},
                {"w": 2, "unit": None},
                {"w": 3, "unit": "mm"},
                {"w": 4, "unit": "cm"},
                {"w": 5, "unit": "cm"},
            ],
            "_ingest_id": ["i1", "i2", "i1", "i1", "i2", "i1", "i1"],
        }
    )


def _manifest(key: str) -> Manifest:
    return Manifest(
        run_id="r",
        dataset="offers",
        rows_written=ROWS,
        files=[key],
        columns=[],
        partition_keys=[{"name": "year", "type": "int"}, {"name": "region", "type": "string"}],  # type: ignore[list-item]
    )


def _both(table: pa.Table, key: str, serving: Serving, **options: Any) -> tuple[list[Any], list[Any]]:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=3)
    manifest = _manifest(key)
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=buffer.getvalue())
        slices = [ServingSlice(key=key, start=1, end=6)]
        items = list(read_items(aws.s3, SETTINGS.lake_bucket, slices, manifest, serving, **options))
        rows = read_rows(aws.s3, SETTINGS.lake_bucket, slices, manifest, **options)
        expected = [to_item("offers", row, serving) for row in rows]
    return items, expected


@pytest.mark.parametrize(
    "key",
    [
        "curated/offers/year=2026/region=eu%2Fwest/v1/part-0.parquet",
        f"curated/offers/year={HIVE_NULL_PARTITION}/region={HIVE_NULL_PARTITION}/part-0.parquet",
    ],
    ids=["partition values", "null partitions"],
)
@pytest.mark.parametrize(
    "serving",
    [
        Serving(pk=["account"], sk=["at"]),
        Serving(pk=["account", "year", "region"], sk=["at_paris", "local", "day", "small"]),
        Serving(pk=["title"]),
    ],
    ids=["timestamp sort key", "partition and mixed keys", "string key"],
)
def test_items_built_by_column_are_to_item_of_each_row(key: str, serving: Serving) -> None:
    table = _table()
    if serving.pk == ["title"]:  # a key column without nulls
        table = table.set_column(
            table.schema.get_field_index("title"), "title", [[f"t{i}" for i in range(ROWS)]]
        )
    if HIVE_NULL_PARTITION in key and "year" in serving.pk:
        with pytest.raises(ServingKeyMissingError, match=r"\['year', 'region'\]"):
            _both(table, key, serving)
        return

    items, expected = _both(table, key, serving)

    assert len(items) == 5
    assert items == expected


def test_items_of_one_ingest_are_those_rows_only() -> None:
    items, expected = _both(
        _table(),
        "curated/offers/year=2026/region=eu/part-0.parquet",
        Serving(pk=["account"]),
        only_ingest="i2",
    )

    assert [item["account"] for item in items] == [{"S": "a1"}, {"S": "a4"}]
    assert items == expected


def test_row_without_a_key_value_fails_as_to_item_fails() -> None:
    key = "curated/offers/year=2026/region=eu/part-0.parquet"
    serving = Serving(pk=["account"])
    buffer = io.BytesIO()
    pq.write_table(_table(account_nulls=True), buffer)
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=buffer.getvalue())
        slices = [ServingSlice(key=key)]
        with pytest.raises(ServingKeyMissingError) as by_column:
            list(read_items(aws.s3, SETTINGS.lake_bucket, slices, _manifest(key), serving))
        with pytest.raises(ServingKeyMissingError) as by_row:
            for row in read_rows(aws.s3, SETTINGS.lake_bucket, slices, _manifest(key)):
                to_item("offers", row, serving)

    assert str(by_column.value) == str(by_row.value)
    assert "['account']" in str(by_column.value)


def test_timestamps_of_every_unit_and_era_are_written_as_isoformat() -> None:
    wall = [
        datetime(1, 1, 1),
        datetime(999, 12, 31, 23, 59, 59),
        datetime(1969, 12, 31, 23, 59, 59, 999000),
        datetime(2026, 1, 2, 3, 4, 5, 10),
        datetime(9999, 12, 31, 23, 59, 59, 1),
        None,
    ]
    table = pa.table(
        {
            "account": [f"a{i}" for i in range(len(wall))],
            "s": pa.array([w and w.replace(microsecond=0) for w in wall], pa.timestamp("s")),
            "ms": pa.array(
                [w and w.replace(microsecond=w.microsecond // 1000 * 1000) for w in wall], pa.timestamp("ms")
            ),
            "us_utc": pa.array([w and w.replace(tzinfo=UTC) for w in wall], pa.timestamp("us", tz="UTC")),
            "us_paris": pa.array(
                [w and w.replace(tzinfo=UTC) for w in wall[1:5]] + [None, None],
                pa.timestamp("us", tz="Europe/Paris"),
            ),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = "curated/offers/year=2026/region=eu/part-0.parquet"
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=buffer.getvalue())
        slices = [ServingSlice(key=key)]
        items = list(
            read_items(aws.s3, SETTINGS.lake_bucket, slices, _manifest(key), Serving(pk=["account"]))
        )

    def column(name: str) -> list[str | None]:
        return [item[name]["S"] if name in item else None for item in items]

    assert column("s") == [
        "0001-01-01T00:00:00",
        "0999-12-31T23:59:59",
        "1969-12-31T23:59:59",
        "2026-01-02T03:04:05",
        "9999-12-31T23:59:59",
        None,
    ]
    assert column("ms") == [
        "0001-01-01T00:00:00",
        "0999-12-31T23:59:59",
        "1969-12-31T23:59:59.999000",
        "2026-01-02T03:04:05",
        "9999-12-31T23:59:59",
        None,
    ]
    assert column("us_utc") == [
        "0001-01-01T00:00:00Z",
        "0999-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999000Z",
        "2026-01-02T03:04:05.000010Z",
        "9999-12-31T23:59:59.000001Z",
        None,
    ]
    # A zoned column is written as its UTC wall time, whatever its zone.
    assert column("us_paris") == [
        "0999-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999000Z",
        "2026-01-02T03:04:05.000010Z",
        "9999-12-31T23:59:59.000001Z",
        None,
        None,
    ]
