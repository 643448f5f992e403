"""The job reads a joined dataset as the catalog presents it: each partition's current version, never the
superseded versions a keyed table keeps under its root (docs/merge.md), with the partition columns typed by
the catalog."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from pyspark.sql import SparkSession

from sluice.local.glue import stage_inputs
from sluice_lib.errors import ReferenceNotFoundError
from sluice_transform.arguments import parse_job_args
from sluice_transform.io import read_references

pytestmark = pytest.mark.spark

ROOT = "s3://lake/curated/accounts"
CONTRACT = json.dumps(
    {
        "dataset": "offers",
        "schema": {"fields": [{"name": "account", "type": "string"}]},
        "pipeline": {"transform": {"join": [{"dataset": "accounts", "on": ["account"]}]}},
    }
)


def put_parquet(s3: Any, key: str, accounts: list[str], tier: str) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"account": accounts, "tier": [tier] * len(accounts)}), buffer)
    s3.put_object(Bucket="lake", Key=key, Body=buffer.getvalue())


def catalog_table(glue: Any, partitions: dict[tuple[str | None, str], str]) -> None:
    """accounts, partitioned by (region string, year int); `partitions` maps values to locations."""
    glue.create_database(DatabaseInput={"Name": "sluice"})
    glue.create_table(
        DatabaseName="sluice",
        TableInput={
            "Name": "accounts",
            "StorageDescriptor": {"Location": f"{ROOT}/", "Columns": [{"Name": "account", "Type": "string"}]},
            "PartitionKeys": [{"Name": "region", "Type": "string"}, {"Name": "year", "Type": "int"}],
        },
    )
    for (region, year), location in partitions.items():
        glue.create_partition(
            DatabaseName="sluice",
            TableName="accounts",
            PartitionInput={
                "Values": [region or "__HIVE_DEFAULT_PARTITION__", year],
                "StorageDescriptor": {"Location": location},
            },
        )


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        yield s3, boto3.client("glue", region_name="us-east-1")


def args_for(references: str) -> Any:
    return parse_job_args(
        {
            "run_id": "r1", "dataset": "offers", "source": "/unused", "output": "/unused", "contract": CONTRACT,
            "ingest_id": "ing1",
            "staging_table": "staging_offers", "staging_database": "sluice", "references": references,
        },
        local=False,
    )  # fmt: skip


def test_a_joined_keyed_table_is_read_from_the_versions_the_catalog_names_only(
    spark: SparkSession, transform: ModuleType, aws: tuple[Any, Any], tmp_path: Path
):
    s3, glue = aws
    # region=eu/year=2025: a direct file (the first append), a superseded version v1, the current version v2.
    put_parquet(s3, "curated/accounts/region=eu/year=2025/part-a.parquet", ["A1", "A2"], "old")
    put_parquet(s3, "curated/accounts/region=eu/year=2025/v1/part-b.parquet", ["A1", "A2"], "older")
    put_parquet(s3, "curated/accounts/region=eu/year=2025/v2/part-c.parquet", ["A1", "A2", "A3"], "current")
    # A null region, never merged: its direct files are its current version.
    put_parquet(
        s3, "curated/accounts/region=__HIVE_DEFAULT_PARTITION__/year=2024/part-d.parquet", ["B1"], "plain"
    )
    catalog_table(
        glue,
        {
            ("eu", "2025"): f"{ROOT}/region=eu/year=2025/v2/",
            (None, "2024"): f"{ROOT}/region=__HIVE_DEFAULT_PARTITION__/year=2024/",
        },
    )
    args = args_for(f'{{"accounts": "{ROOT}/"}}')

    catalog = transform.catalog_references(
        args, s3, glue, stage=lambda uri: stage_inputs(s3, uri, tmp_path / uri.replace("/", "_").strip(":_"))
    )
    frames = read_references(spark, args.contract, args.references, None, catalog)

    accounts = frames["accounts"]
    assert dict(accounts.dtypes)["year"] == "int"
    assert sorted(tuple(r) for r in accounts.select("account", "tier", "region", "year").collect()) == [
        ("A1", "current", "eu", 2025),
        ("A2", "current", "eu", 2025),
        ("A3", "current", "eu", 2025),
        ("B1", "plain", None, 2024),
    ]


def test_a_joined_table_whose_catalog_names_no_file_is_a_clear_error(
    spark: SparkSession, transform: ModuleType, aws: tuple[Any, Any], tmp_path: Path
):
    s3, glue = aws
    put_parquet(s3, "curated/accounts/region=eu/year=2025/v1/part-b.parquet", ["A1"], "superseded")
    catalog_table(glue, {("eu", "2025"): f"{ROOT}/region=eu/year=2025/v9/"})  # a version with no file
    args = args_for(f'{{"accounts": "{ROOT}/"}}')

    catalog = transform.catalog_references(args, s3, glue, stage=lambda uri: str(tmp_path))

    with pytest.raises(
        ReferenceNotFoundError, match=r"the catalog.s partitions of accounts .* load accounts first"
    ):
        read_references(spark, args.contract, args.references, None, catalog)


def test_without_a_catalog_the_references_locations_are_read(transform: ModuleType):
    args = args_for('{"accounts": "/tmp/accounts"}')

    assert transform.catalog_references(args, None, None) is None
