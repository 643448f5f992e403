"""The lake's publishing helpers: a transform output's manifest, the plan of its curated file names, listing,
copying and deleting in the lake bucket, the Glue catalog's tables and partitions.

Load (sluice_lib.steps.load) and the gold tables (sluice_lib.gold) publish through these. No pyarrow here:
TransformInLambda, whose function has DuckDB but no pyarrow, lists and deletes through this module too.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from sluice_lib.curated import MANIFEST_NAME
from sluice_lib.errors import (
    CatalogUpdateError,
    CuratedPublishError,
    TransformOutputInvalidError,
    TransformOutputMissingError,
    error_code,
)
from sluice_lib.raw import parse_s3_uri
from sluice_lib.settings import curated_prefix

COPY_WORKERS = 8
PARTITIONS_PER_REQUEST = 100  # BatchCreatePartition's limit
DELETES_PER_PARTITION_REQUEST = 25  # BatchDeletePartition's limit
DELETES_PER_REQUEST = 1000  # DeleteObjects' limit
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
# The parts of a GetTable answer that UpdateTable accepts back.
_TABLE_INPUT_KEYS = frozenset(
    [
        "Name",
        "Description",
        "Owner",
        "Retention",
        "StorageDescriptor",
        "PartitionKeys",
        "TableType",
        "Parameters",
    ]
)


class Column(BaseModel):
    name: str
    type: str


class Manifest(BaseModel):
    """`<output_uri>_manifest.json`, written by the transform (Glue job or TransformInLambda) after its data files."""

    run_id: str
    dataset: str
    rows_read: int = 0
    rows_deduped: int = 0
    rows_written: int
    partitions: list[str] = []
    files: list[str]
    columns: list[Column]
    partition_keys: list[Column] = []
    # A keyed table's merge (sluice_lib.merge.merge_section): counts and the partitions replaced, emptied, added.
    merge: dict[str, Any] | None = None


def folder(uri: str) -> str:
    """`s3://bucket/prefix` with exactly one trailing slash."""
    return uri.rstrip("/") + "/"


def partition_of(relative_path: str) -> str:
    """`year=2025/month=3/part-0.parquet` -> `year=2025/month=3` (`""` for a file of an unpartitioned table)."""
    return relative_path.rsplit("/", 1)[0] if "/" in relative_path else ""


def read_manifest_json(s3: Any, output_uri: str) -> dict[str, Any]:
    """The transform output's manifest as JSON; TransformOutputMissingError when the transform wrote none."""
    bucket, prefix = parse_s3_uri(folder(output_uri))
    uri = f"{folder(output_uri)}{MANIFEST_NAME}"
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_NAME}")["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            raise TransformOutputMissingError(f"{uri} does not exist: the transform wrote no output") from exc
        raise
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise TransformOutputInvalidError(f"{uri} is not a valid manifest: {exc}") from exc
    if not isinstance(parsed, dict):
        raise TransformOutputInvalidError(f"{uri} is not a valid manifest: not a JSON object")
    return parsed


def read_manifest(s3: Any, output_uri: str) -> Manifest:
    try:
        return Manifest.model_validate(read_manifest_json(s3, output_uri))
    except ValidationError as exc:
        raise TransformOutputInvalidError(
            f"{folder(output_uri)}{MANIFEST_NAME} is not a valid manifest: {exc}"
        ) from exc


def plan_files(files: list[str], table: str, ingest_id: str) -> dict[str, str]:
    """Output file (relative, `<partition>/<file>`) -> `curated/<table>/<partition>/part-<ingest_id>-<nnnnn>.snappy.parquet`.

    Names depend only on the upload's identity and the file's rank in its partition, so a rerun
    overwrites the files of the previous one instead of adding to them.
    """
    by_partition: dict[str, list[str]] = {}
    for path in sorted(files):
        by_partition.setdefault(partition_of(path), []).append(path)
    plan: dict[str, str] = {}
    for partition, paths in by_partition.items():
        prefix = f"{curated_prefix(table)}{partition}/" if partition else curated_prefix(table)
        for rank, path in enumerate(paths):
            plan[path] = f"{prefix}part-{ingest_id}-{rank:05d}.snappy.parquet"
    return plan


def copy_files(
    s3: Any, source_bucket: str, source_prefix: str, lake_bucket: str, plan: dict[str, str]
) -> None:
    """Copies each planned file (`source_prefix` + relative path -> its curated key), in parallel."""

    def copy(item: tuple[str, str]) -> None:
        path, key = item
        source_key = f"{source_prefix}{path}"
        try:
            s3.copy_object(
                Bucket=lake_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key}
            )
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                raise TransformOutputMissingError(
                    f"s3://{source_bucket}/{source_key} is listed in the manifest but does not exist"
                ) from exc
            raise CuratedPublishError(
                f"cannot copy s3://{source_bucket}/{source_key} to {key}: {exc}"
            ) from exc

    with ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="publish") as pool:
        list(pool.map(copy, plan.items()))


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]


def own_files(s3: Any, lake_bucket: str, dataset: str, ingest_id: str) -> list[str]:
    """This upload's curated files (`part-<ingest_id>-*`), wherever they are in the dataset's prefix.

    Lists the dataset's whole curated prefix: a changed transform may drop whole partitions.
    """
    marker = f"part-{ingest_id}-"
    return [
        key
        for key in list_keys(s3, lake_bucket, curated_prefix(dataset))
        if key.rsplit("/", 1)[-1].startswith(marker)
    ]


def delete_files(s3: Any, lake_bucket: str, keys: list[str], what: str = "curated files") -> None:
    """Deletes the keys, a DeleteObjects request per thousand; CuratedPublishError names `what` on a failure."""
    for start in range(0, len(keys), DELETES_PER_REQUEST):
        batch = keys[start : start + DELETES_PER_REQUEST]
        response = s3.delete_objects(
            Bucket=lake_bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if response.get("Errors"):
            raise CuratedPublishError(f"cannot delete {what}: {response['Errors'][:5]}")


def remove_stale_files(s3: Any, lake_bucket: str, dataset: str, ingest_id: str, keep: set[str]) -> list[str]:
    """Deletes this upload's curated files that the new output no longer has (e.g. fewer files per partition)."""
    stale = [key for key in own_files(s3, lake_bucket, dataset, ingest_id) if key not in keep]
    delete_files(s3, lake_bucket, stale)
    return stale


def _storage_descriptor(columns: list[Column], location: str) -> dict[str, Any]:
    return {
        "Columns": [{"Name": c.name, "Type": c.type} for c in columns],
        "Location": location,
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": True,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    }


def ensure_table(glue: Any, database: str, table: str, manifest: Manifest, location: str) -> str:
    """Creates the curated table, or appends columns the output has and the table lacks.

    Returns "created", "extended" or "unchanged". Columns are never dropped or retyped here.
    """
    try:
        current = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except ClientError as exc:
        if error_code(exc) != "EntityNotFoundException":
            raise CatalogUpdateError(f"{database}.{table}: {exc}") from exc
        current = None
    try:
        if current is None:
            glue.create_table(
                DatabaseName=database,
                TableInput={
                    "Name": table,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {
                        "classification": "parquet",
                        "EXTERNAL": "TRUE",
                        "parquet.compression": "SNAPPY",
                    },
                    "PartitionKeys": [{"Name": c.name, "Type": c.type} for c in manifest.partition_keys],
                    "StorageDescriptor": _storage_descriptor(manifest.columns, location),
                },
            )
            return "created"
        known = {c["Name"] for c in current["StorageDescriptor"].get("Columns", [])}
        added = [{"Name": c.name, "Type": c.type} for c in manifest.columns if c.name not in known]
        if not added:
            return "unchanged"
        table_input = {k: current[k] for k in _TABLE_INPUT_KEYS if k in current}
        descriptor = table_input["StorageDescriptor"]
        table_input["StorageDescriptor"] = {**descriptor, "Columns": [*descriptor.get("Columns", []), *added]}
        glue.update_table(DatabaseName=database, TableInput=table_input)
        return "extended"
    except ClientError as exc:
        if error_code(exc) == "AlreadyExistsException":  # a concurrent Load created it first
            return "unchanged"
        raise CatalogUpdateError(f"{database}.{table}: cannot create or update the table: {exc}") from exc


def partition_values(partition: str, keys: list[Column]) -> list[str]:
    """`year=2025/month=3` -> `["2025", "3"]`, in the order of the table's partition keys."""
    pairs = dict(part.split("=", 1) for part in partition.split("/") if part)
    try:
        return [unquote(pairs[key.name]) for key in keys]
    except KeyError as exc:
        raise TransformOutputInvalidError(f"partition {partition!r} lacks partition key {exc}") from None


def register_partitions(
    glue: Any, database: str, table: str, manifest: Manifest, location: str, partitions: list[str]
) -> None:
    """Adds the partitions to the table; ones that already exist are fine."""
    inputs = [
        {
            "Values": partition_values(partition, manifest.partition_keys),
            "StorageDescriptor": _storage_descriptor(manifest.columns, f"{location}{partition}/"),
        }
        for partition in partitions
    ]
    for start in range(0, len(inputs), PARTITIONS_PER_REQUEST):
        try:
            response = glue.batch_create_partition(
                DatabaseName=database,
                TableName=table,
                PartitionInputList=inputs[start : start + PARTITIONS_PER_REQUEST],
            )
        except ClientError as exc:
            raise CatalogUpdateError(f"{database}.{table}: cannot add partitions: {exc}") from exc
        # BatchCreatePartition reports per-partition errors in its answer, not as a ClientError.
        errors = [
            e
            for e in response.get("Errors", [])
            if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"
        ]
        if errors:
            raise CatalogUpdateError(f"{database}.{table}: cannot add partitions: {errors[:5]}")


def drop_partitions(glue: Any, database: str, table: str, keys: list[Column], partitions: list[str]) -> None:
    """Drops the partitions from the table's catalog entry; ones already gone are fine (a retried Load)."""
    for start in range(0, len(partitions), DELETES_PER_PARTITION_REQUEST):
        gone = [
            {"Values": partition_values(p, keys)}
            for p in partitions[start : start + DELETES_PER_PARTITION_REQUEST]
        ]
        try:
            response = glue.batch_delete_partition(
                DatabaseName=database, TableName=table, PartitionsToDelete=gone
            )
        except ClientError as exc:
            raise CatalogUpdateError(f"{database}.{table}: cannot drop partitions: {exc}") from exc
        # BatchDeletePartition reports per-partition errors in its answer, not as a ClientError.
        errors = [
            e
            for e in response.get("Errors", [])
            if e.get("ErrorDetail", {}).get("ErrorCode") != "EntityNotFoundException"
        ]
        if errors:
            raise CatalogUpdateError(f"{database}.{table}: cannot drop partitions: {errors[:5]}")
