"""RegisterPartition: the staging partition of a run whose schema is unchanged, without a crawl."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from steps_aws import SETTINGS, Aws, emulated_aws, import_handler, lambda_context

from events import load_event
from sluice_lib.errors import StagingTableMissingError
from sluice_lib.models import RegisterPartitionInput
from sluice_lib.steps.register_partition import register_staging_partition

INGEST_ID = "83a9d547662480a81ff4"  # the ingest_id in events/register_partition.json
STAGING_URI = f"s3://sluice-lake-local/staging/offers/ingest_id={INGEST_ID}/"
COLUMNS = [
    {"Name": "account", "Type": "string"},
    {"Name": "offer_id", "Type": "string"},
    {"Name": "created", "Type": "timestamp"},
    {"Name": "_line", "Type": "bigint"},
]
SERDE = {
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    "Parameters": {"serialization.format": "1"},
}


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def crawled_staging_table(aws: Aws) -> None:
    """The table as the staging crawler leaves it: partitioned by ingest_id, Parquet."""
    aws.glue.create_table(
        DatabaseName=SETTINGS.glue_database,
        TableInput={
            "Name": "staging_offers",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet"},
            "PartitionKeys": [{"Name": "ingest_id", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": COLUMNS,
                "Location": "s3://sluice-lake-local/staging/offers/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": SERDE,
            },
        },
    )


def partitions(aws: Aws) -> list[dict]:
    return aws.glue.get_partitions(DatabaseName=SETTINGS.glue_database, TableName="staging_offers")[
        "Partitions"
    ]


def test_register_staging_partition_unchanged_schema_adds_partition_with_table_storage(aws: Aws):
    crawled_staging_table(aws)
    request = RegisterPartitionInput.model_validate(load_event("register_partition"))

    result = register_staging_partition(request, glue=aws.glue, glue_database=SETTINGS.glue_database)

    assert result.model_dump() == {"registered": True, "partition": f"ingest_id={INGEST_ID}"}
    (partition,) = partitions(aws)
    assert partition["Values"] == [INGEST_ID]
    assert partition["StorageDescriptor"]["Location"] == STAGING_URI
    assert partition["StorageDescriptor"]["Columns"] == COLUMNS
    assert partition["StorageDescriptor"]["SerdeInfo"] == SERDE


def test_register_staging_partition_rerun_reports_existing_partition_and_adds_none(aws: Aws):
    crawled_staging_table(aws)
    request = RegisterPartitionInput.model_validate(load_event("register_partition"))
    register_staging_partition(request, glue=aws.glue, glue_database=SETTINGS.glue_database)

    again = register_staging_partition(request, glue=aws.glue, glue_database=SETTINGS.glue_database)

    assert again.model_dump() == {"registered": False, "partition": f"ingest_id={INGEST_ID}"}
    assert [p["Values"] for p in partitions(aws)] == [[INGEST_ID]]


def test_register_staging_partition_without_staging_table_raises_staging_table_missing(aws: Aws):
    request = RegisterPartitionInput.model_validate(load_event("register_partition"))

    with pytest.raises(StagingTableMissingError, match=r"sluice_local\.staging_offers"):
        register_staging_partition(request, glue=aws.glue, glue_database=SETTINGS.glue_database)


def test_register_partition_handler_with_sample_event_returns_registered_partition(aws: Aws):
    crawled_staging_table(aws)
    handler = import_handler("register_partition")

    result = handler.lambda_handler(load_event("register_partition"), lambda_context("register-partition"))

    assert result == {"registered": True, "partition": f"ingest_id={INGEST_ID}"}
