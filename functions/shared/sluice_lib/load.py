"""Load: publishes a run's transform output to curated/, the Glue catalog and the serving table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from sluice_lib.contracts import Serving, parse_contract
from sluice_lib.errors import (
    CatalogUpdateError,
    CuratedPublishError,
    TransformOutputInvalidError,
    TransformOutputMissingError,
)
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import LoadInput, LoadOutput
from sluice_lib.raw import parse_s3_uri
from sluice_lib.serving import items_by_key, write_items
from sluice_lib.settings import curated_prefix

MANIFEST_NAME = "_manifest.json"
DATA_FOLDER = "data/"
COPY_WORKERS = 8
PARTITIONS_PER_REQUEST = 100  # BatchCreatePartition's limit
DELETES_PER_REQUEST = 1000  # DeleteObjects' limit
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
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
    """`<output_uri>_manifest.json`, written by the Glue job after its data files."""

    run_id: str
    dataset: str
    rows_read: int = 0
    rows_deduped: int = 0
    rows_written: int
    partitions: list[str] = []
    files: list[str]
    columns: list[Column]
    partition_keys: list[Column] = []


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _folder(uri: str) -> str:
    return uri.rstrip("/") + "/"


def read_manifest(s3: Any, output_uri: str) -> Manifest:
    output_uri = _folder(output_uri)
    bucket, prefix = parse_s3_uri(output_uri)
    uri = f"{output_uri}{MANIFEST_NAME}"
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_NAME}")["Body"].read()
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "404"):
            raise TransformOutputMissingError(f"{uri} does not exist: the transform wrote no output") from exc
        raise
    try:
        return Manifest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise TransformOutputInvalidError(f"{uri} is not a valid manifest: {exc}") from exc


def _partition_of(relative_path: str) -> str:
    return relative_path.rsplit("/", 1)[0] if "/" in relative_path else ""


def publish_plan(manifest: Manifest, dataset: str, ingest_id: str) -> dict[str, str]:
    """Output file (relative to `data/`) -> curated key `<partition>/part-<ingest_id>-<nnnnn>.snappy.parquet`.

    Names depend only on the upload's identity and the file's rank in its partition, so a rerun
    overwrites the files of the previous one instead of adding to them.
    """
    by_partition: dict[str, list[str]] = {}
    for path in sorted(manifest.files):
        by_partition.setdefault(_partition_of(path), []).append(path)
    plan: dict[str, str] = {}
    for partition, paths in by_partition.items():
        folder = f"{curated_prefix(dataset)}{partition}/" if partition else curated_prefix(dataset)
        for rank, path in enumerate(paths):
            plan[path] = f"{folder}part-{ingest_id}-{rank:05d}.snappy.parquet"
    return plan


def publish_files(s3: Any, output_uri: str, lake_bucket: str, plan: dict[str, str]) -> None:
    source_bucket, prefix = parse_s3_uri(_folder(output_uri))

    def copy(item: tuple[str, str]) -> None:
        path, key = item
        source_key = f"{prefix}{DATA_FOLDER}{path}"
        try:
            s3.copy_object(
                Bucket=lake_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key}
            )
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise TransformOutputMissingError(
                    f"s3://{source_bucket}/{source_key} is listed in the manifest but does not exist"
                ) from exc
            raise CuratedPublishError(
                f"cannot copy s3://{source_bucket}/{source_key} to {key}: {exc}"
            ) from exc

    with ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="publish") as pool:
        list(pool.map(copy, plan.items()))


def remove_stale_files(s3: Any, lake_bucket: str, dataset: str, ingest_id: str, keep: set[str]) -> list[str]:
    """Deletes this upload's curated files that the new output no longer has (e.g. fewer files per partition).

    Lists the dataset's whole curated prefix: a changed transform may drop whole partitions.
    """
    marker = f"part-{ingest_id}-"
    stale: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=lake_bucket, Prefix=curated_prefix(dataset)
    ):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.rsplit("/", 1)[-1].startswith(marker) and key not in keep:
                stale.append(key)
    for start in range(0, len(stale), DELETES_PER_REQUEST):
        batch = stale[start : start + DELETES_PER_REQUEST]
        response = s3.delete_objects(
            Bucket=lake_bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if response.get("Errors"):
            raise CuratedPublishError(f"cannot delete stale curated files: {response['Errors'][:5]}")
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
        if _code(exc) != "EntityNotFoundException":
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
        if _code(exc) == "AlreadyExistsException":  # a concurrent Load created it first
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
        response = glue.batch_create_partition(
            DatabaseName=database,
            TableName=table,
            PartitionInputList=inputs[start : start + PARTITIONS_PER_REQUEST],
        )
        errors = [
            e
            for e in response.get("Errors", [])
            if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"
        ]
        if errors:
            raise CatalogUpdateError(f"{database}.{table}: cannot add partitions: {errors[:5]}")


def _typed_partition_value(value: str, glue_type: str) -> Any:
    if value == HIVE_NULL_PARTITION:
        return None
    if glue_type in ("tinyint", "smallint", "int", "bigint"):
        return int(value)
    if glue_type in ("float", "double"):
        return float(value)
    if glue_type == "boolean":
        return value.lower() == "true"
    return value


def read_rows(s3: Any, bucket: str, keys: list[str], manifest: Manifest) -> Iterator[dict[str, Any]]:
    """Rows of published Parquet files, with their partition values (not stored in the files) added."""
    types = {c.name: c.type for c in manifest.partition_keys}
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        folder = key.rsplit("/", 1)[0]
        from_path = {
            name: _typed_partition_value(unquote(value), types[name])
            for name, _, value in (part.partition("=") for part in folder.split("/"))
            if name in types
        }
        for batch in pq.ParquetFile(pa.BufferReader(body)).iter_batches():
            for row in batch.to_pylist():
                yield {**from_path, **row}


def load_serving(
    s3: Any,
    dynamodb: Any,
    *,
    lake_bucket: str,
    keys: list[str],
    manifest: Manifest,
    serving: Serving,
    table: str,
) -> int:
    """Upserts one item per serving key; returns the number of items written."""
    items = items_by_key(manifest.dataset, read_rows(s3, lake_bucket, keys, manifest), serving)
    write_items(dynamodb, table, list(items.values()))
    return len(items)


def load_run(
    request: LoadInput,
    *,
    s3: Any,
    glue: Any,
    dynamodb: Any,
    ledger: Ledger,
    lake_bucket: str,
    glue_database: str,
    serving_table: str,
) -> LoadOutput:
    """Publishes the run's output: curated files, catalog table and partitions, serving items.

    Every part is idempotent, so a retried or rerun Load leaves the same result as one Load.
    """
    run = request.run
    manifest = read_manifest(s3, run.output_uri)
    if manifest.run_id != run.run_id or manifest.dataset != run.dataset:
        raise TransformOutputInvalidError(
            f"{run.output_uri}{MANIFEST_NAME} describes run {manifest.run_id} of {manifest.dataset}, "
            f"not run {run.run_id} of {run.dataset}"
        )
    plan = publish_plan(manifest, run.dataset, run.ingest_id)
    publish_files(s3, run.output_uri, lake_bucket, plan)
    remove_stale_files(s3, lake_bucket, run.dataset, run.ingest_id, keep=set(plan.values()))

    location = f"s3://{lake_bucket}/{curated_prefix(run.dataset)}"
    partitions = sorted({*manifest.partitions, *(_partition_of(p) for p in manifest.files)} - {""})
    ensure_table(glue, glue_database, run.dataset, manifest, location)
    if manifest.partition_keys:
        register_partitions(glue, glue_database, run.dataset, manifest, location, partitions)

    serving = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}").pipeline.serving
    serving_items = 0
    if serving is not None:
        serving_items = load_serving(
            s3, dynamodb, lake_bucket=lake_bucket, keys=sorted(plan.values()), manifest=manifest,
            serving=serving, table=serving_table,
        )  # fmt: skip

    curated_uri = location
    ledger.update(
        run.source,
        "RUNNING",
        rows_loaded=manifest.rows_written,
        curated_uri=curated_uri,
        serving_items=serving_items,
        loaded_at=now_iso(),
    )
    return LoadOutput(
        curated_uri=curated_uri,
        files=len(plan),
        rows_loaded=manifest.rows_written,
        partitions=partitions,
        serving_items=serving_items,
    )
