"""RegisterPartition: adds a run's staging partition to the staging table when no crawl is needed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.curated import STAGING_PARTITION_KEY, staging_partition
from sluice_lib.errors import CatalogUpdateError, StagingTableMissingError, error_code
from sluice_lib.models import RegisterPartitionInput, RegisterPartitionOutput


def register_staging_partition(
    request: RegisterPartitionInput, *, glue: Any, glue_database: str
) -> RegisterPartitionOutput:
    """Adds `ingest_id=<id>` at the run's staging URI with the table's storage descriptor.

    An existing partition is fine (a retry or rerun): `registered` is then False.
    """
    run = request.run
    partition = staging_partition(run.ingest_id)
    try:
        table = glue.get_table(DatabaseName=glue_database, Name=run.staging_table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "EntityNotFoundException":
            raise StagingTableMissingError(
                f"{glue_database}.{run.staging_table} is not in the catalog; crawl {run.staging_uri} instead"
            ) from exc
        raise
    keys = [key["Name"] for key in table.get("PartitionKeys", [])]
    if keys != [STAGING_PARTITION_KEY]:
        raise CatalogUpdateError(
            f"{glue_database}.{run.staging_table} is partitioned by {keys}, not [{STAGING_PARTITION_KEY}]"
        )
    partition_input = {
        "Values": [run.ingest_id],
        "StorageDescriptor": {**table["StorageDescriptor"], "Location": run.staging_uri},
        "Parameters": {k: v for k, v in table.get("Parameters", {}).items() if k == "classification"},
    }
    try:
        glue.create_partition(
            DatabaseName=glue_database, TableName=run.staging_table, PartitionInput=partition_input
        )
    except ClientError as exc:
        if error_code(exc) == "AlreadyExistsException":
            return RegisterPartitionOutput(registered=False, partition=partition)
        raise CatalogUpdateError(
            f"{glue_database}.{run.staging_table}: cannot add partition {partition}: {exc}"
        ) from exc
    return RegisterPartitionOutput(registered=True, partition=partition)
