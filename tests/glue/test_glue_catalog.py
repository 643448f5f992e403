"""The job reads a run's staging through the crawler's catalog table: partition location from the Glue API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from glue_offers import (
    STAGING_ROWS,
    catalog_staging_table,
    job_args,
    offers_staging,
    read_output,
    write_staging,
)
from moto import mock_aws
from pyspark.sql import SparkSession

from sluice.local.glue import stage_inputs
from sluice_lib.errors import JobArgumentError, StagingNotFoundError, StagingSchemaError

pytestmark = pytest.mark.spark

CATALOG = ("--staging_table", "staging_offers", "--staging_database", "sluice")
S3_SOURCE = "s3://lake/staging/offers/ingest_id=ing42/"


@pytest.fixture
def glue() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("glue", region_name="us-east-1")


def test_main_with_staging_table_reads_the_s3_partition_the_catalog_names(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path, glue: Any
):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    local = tmp_path / "part.parquet"
    pq.write_table(offers_staging(STAGING_ROWS), local)
    s3.upload_file(str(local), "lake", "staging/offers/ingest_id=ing42/part-00000.parquet")
    catalog_staging_table(glue, {"ing42": S3_SOURCE})
    staged: list[str] = []

    def stage(uri: str) -> str:
        staged.append(uri)
        return stage_inputs(s3, uri, tmp_path / "staged")

    output = tmp_path / "out"
    manifest = transform.main(
        [*job_args(Path("unused"), output, offers_contract_json), *CATALOG, "--source", S3_SOURCE],
        s3_client=s3,
        glue_client=glue,
        stage=stage,
    )

    assert staged == [S3_SOURCE]
    assert (manifest["rows_read"], manifest["rows_written"]) == (4, 3)
    assert sorted((r["account"], r["offer_id"]) for r in read_output(output / "data")) == [
        ("00000001", "000000000001"),
        ("00000002", "000000000001"),
        ("00000002", "000000000002"),
    ]


def test_main_staging_table_missing_from_catalog_raises_staging_not_found(
    transform: ModuleType, offers_contract_json: str, tmp_path: Path, glue: Any
):
    glue.create_database(DatabaseInput={"Name": "sluice"})
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))

    with pytest.raises(StagingNotFoundError, match=r"catalog table sluice\.staging_offers does not exist"):
        transform.main(
            [*job_args(source, tmp_path / "out", offers_contract_json), *CATALOG], glue_client=glue
        )


def test_main_run_partition_missing_from_catalog_raises_staging_not_found_naming_the_partition(
    transform: ModuleType, offers_contract_json: str, tmp_path: Path, glue: Any
):
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))
    catalog_staging_table(glue, {"other": str(source)})

    with pytest.raises(
        StagingNotFoundError,
        match=r"sluice\.staging_offers has no partition ingest_id=ing42: neither the crawler nor RegisterPartition",
    ):
        transform.main(
            [*job_args(source, tmp_path / "out", offers_contract_json), *CATALOG], glue_client=glue
        )


def test_main_catalog_partition_elsewhere_than_source_raises_staging_not_found_with_both_locations(
    transform: ModuleType, offers_contract_json: str, tmp_path: Path, glue: Any
):
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))
    catalog_staging_table(glue, {"ing42": "s3://lake/staging/offers/ingest_id=old/"})

    with pytest.raises(
        StagingNotFoundError,
        match=rf"is at s3://lake/staging/offers/ingest_id=old/, not at --source {source}",
    ):
        transform.main(
            [*job_args(source, tmp_path / "out", offers_contract_json), *CATALOG], glue_client=glue
        )


def test_main_staging_table_with_other_partition_keys_raises_staging_schema_error(
    transform: ModuleType, offers_contract_json: str, tmp_path: Path, glue: Any
):
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))
    catalog_staging_table(glue, {}, keys=("dt",))

    with pytest.raises(StagingSchemaError, match=r"partitioned by \['dt'\], not \[ingest_id\]"):
        transform.main(
            [*job_args(source, tmp_path / "out", offers_contract_json), *CATALOG], glue_client=glue
        )


def test_main_staging_table_without_database_raises_job_argument_error(
    transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))

    with pytest.raises(JobArgumentError, match="--staging_table staging_offers needs --staging_database"):
        transform.main(
            [*job_args(source, tmp_path / "out", offers_contract_json), "--staging_table", "staging_offers"]
        )
