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
from sluice_lib.curated import DATA_FOLDER, HIVE_NULL_PARTITION, MANIFEST_NAME
from sluice_lib.errors import (
    CatalogUpdateError,
    CuratedPublishError,
    TransformOutputInvalidError,
    TransformOutputMissingError,
)
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import (
    LoadInput,
    LoadOutput,
    S3Location,
    ServingBatch,
    ServingBatchInput,
    ServingBatchOutput,
)
from sluice_lib.raw import parse_s3_uri
from sluice_lib.serving import items_by_key, write_items
from sluice_lib.settings import curated_prefix

SERVING_PLAN_NAME = "_serving_batches.json"
COPY_WORKERS = 8
PARTITIONS_PER_REQUEST = 100  # BatchCreatePartition's limit
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
    return plan_files(manifest.files, dataset, ingest_id)


def plan_files(files: list[str], table: str, ingest_id: str) -> dict[str, str]:
    """Output file (relative, `<partition>/<file>`) -> `curated/<table>/<partition>/part-<ingest_id>-<nnnnn>.snappy.parquet`.

    Names derive from the source object's identity, so a rerun overwrites and never adds.
    """
    by_partition: dict[str, list[str]] = {}
    for path in sorted(files):
        by_partition.setdefault(_partition_of(path), []).append(path)
    plan: dict[str, str] = {}
    for partition, paths in by_partition.items():
        folder = f"{curated_prefix(table)}{partition}/" if partition else curated_prefix(table)
        for rank, path in enumerate(paths):
            plan[path] = f"{folder}part-{ingest_id}-{rank:05d}.snappy.parquet"
    return plan


def publish_files(s3: Any, output_uri: str, lake_bucket: str, plan: dict[str, str]) -> None:
    source_bucket, prefix = parse_s3_uri(_folder(output_uri))
    copy_files(s3, source_bucket, f"{prefix}{DATA_FOLDER}/", lake_bucket, plan)


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
            if _code(exc) in ("NoSuchKey", "404"):
                raise TransformOutputMissingError(
                    f"s3://{source_bucket}/{source_key} is listed in the manifest but does not exist"
                ) from exc
            raise CuratedPublishError(
                f"cannot copy s3://{source_bucket}/{source_key} to {key}: {exc}"
            ) from exc

    with ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="publish") as pool:
        list(pool.map(copy, plan.items()))


def own_files(s3: Any, lake_bucket: str, dataset: str, ingest_id: str) -> list[str]:
    """This upload's curated files (`part-<ingest_id>-*`), wherever they are in the dataset's prefix.

    Lists the dataset's whole curated prefix: a changed transform may drop whole partitions.
    """
    marker = f"part-{ingest_id}-"
    return [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=lake_bucket, Prefix=curated_prefix(dataset)
        )
        for obj in page.get("Contents", [])
        if obj["Key"].rsplit("/", 1)[-1].startswith(marker)
    ]


def delete_files(s3: Any, lake_bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), DELETES_PER_REQUEST):
        batch = keys[start : start + DELETES_PER_REQUEST]
        response = s3.delete_objects(
            Bucket=lake_bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if response.get("Errors"):
            raise CuratedPublishError(f"cannot delete curated files: {response['Errors'][:5]}")


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
        try:
            response = glue.batch_create_partition(
                DatabaseName=database,
                TableName=table,
                PartitionInputList=inputs[start : start + PARTITIONS_PER_REQUEST],
            )
        except ClientError as exc:
            raise CatalogUpdateError(f"{database}.{table}: cannot add partitions: {exc}") from exc
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


def publish_curated(
    s3: Any,
    glue: Any,
    *,
    request: LoadInput,
    manifest: Manifest,
    plan: dict[str, str],
    lake_bucket: str,
    glue_database: str,
) -> list[str]:
    """Write-audit-publish of the curated zone; returns the partitions.

    Files are copied under names of their own first; the catalog learns of new partitions only after
    every file is in place. When a copy or a catalog change fails, the files this attempt added are
    deleted again (files an earlier run of the same upload published stay), so a failed Load leaves no
    half output behind; a retry, redrive or rerun then publishes the whole output. Last, the upload's
    files that the new output no longer has are removed.
    """
    run = request.run
    location = f"s3://{lake_bucket}/{curated_prefix(run.dataset)}"
    partitions = sorted({*manifest.partitions, *(_partition_of(p) for p in manifest.files)} - {""})
    before = set(own_files(s3, lake_bucket, run.dataset, run.ingest_id))
    try:
        publish_files(s3, run.output_uri, lake_bucket, plan)
        ensure_table(glue, glue_database, run.dataset, manifest, location)
        if manifest.partition_keys:
            register_partitions(glue, glue_database, run.dataset, manifest, location, partitions)
    except BaseException as exc:
        added = sorted(set(plan.values()) - before)
        try:
            delete_files(s3, lake_bucket, added)
        except Exception as cleanup:  # keep the original error; say what is left behind
            exc.add_note(f"could not remove the {len(added)} curated files this Load added: {cleanup}")
        raise
    remove_stale_files(s3, lake_bucket, run.dataset, run.ingest_id, keep=set(plan.values()))
    return partitions


def serving_batches(keys: list[str], files_per_batch: int) -> list[ServingBatch]:
    ordered = sorted(keys)
    return [
        ServingBatch(index=i, keys=ordered[start : start + files_per_batch])
        for i, start in enumerate(range(0, len(ordered), files_per_batch))
    ]


def write_serving_plan(s3: Any, output_uri: str, batches: list[ServingBatch]) -> S3Location:
    """The Distributed Map's items: a JSON list in S3 (ItemReader s3:getObject, InputType JSON)."""
    bucket, prefix = parse_s3_uri(_folder(output_uri))
    key = f"{prefix}{SERVING_PLAN_NAME}"
    body = json.dumps([b.model_dump(mode="json") for b in batches], separators=(",", ":"))
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return S3Location(bucket=bucket, key=key)


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
    """Publishes the run's output: curated files, catalog table and partitions, then serving items.

    Acts only while the run's execution owns the ledger item (DuplicateExecutionError otherwise).
    Serving items are written after the curated publish; when the output has more files than
    `request.fan_out_files`, they are left to the Distributed Map, `fan_out_files` files per item,
    and the returned `serving_plan` names the items. Serving writes are upserts and cannot be taken
    back: a failure among them leaves the curated output published and the items written so far, which
    hold the values a retry, redrive or rerun writes again. Every part is idempotent, so a retried or
    rerun Load leaves the same result as one Load.
    """
    run = request.run
    ledger.advance(run.source, run.execution_arn, "Load")
    manifest = read_manifest(s3, run.output_uri)
    if manifest.run_id != run.run_id or manifest.dataset != run.dataset:
        raise TransformOutputInvalidError(
            f"{run.output_uri}{MANIFEST_NAME} describes run {manifest.run_id} of {manifest.dataset}, "
            f"not run {run.run_id} of {run.dataset}"
        )
    plan = publish_plan(manifest, run.dataset, run.ingest_id)
    partitions = publish_curated(
        s3, glue, request=request, manifest=manifest, plan=plan, lake_bucket=lake_bucket,
        glue_database=glue_database,
    )  # fmt: skip
    curated_uri = f"s3://{lake_bucket}/{curated_prefix(run.dataset)}"

    serving = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}").pipeline.serving
    serving_items = 0
    serving_plan = None
    keys = sorted(plan.values())
    if serving is not None and request.fan_out_files is not None and len(keys) > request.fan_out_files:
        serving_plan = write_serving_plan(s3, run.output_uri, serving_batches(keys, request.fan_out_files))
    elif serving is not None:
        serving_items = load_serving(
            s3, dynamodb, lake_bucket=lake_bucket, keys=keys, manifest=manifest, serving=serving,
            table=serving_table,
        )  # fmt: skip
    from sluice_lib.gold import publish_gold  # gold builds on this module: imported here, not at the top

    publish_gold(run, s3=s3, glue=glue, dynamodb=dynamodb, lake_bucket=lake_bucket, glue_database=glue_database, serving_table=serving_table)  # fmt: skip

    ledger.advance(
        run.source,
        run.execution_arn,
        "Load",
        rows_loaded=manifest.rows_written,
        curated_uri=curated_uri,
        serving_items=serving_items,
        serving_fanned_out=serving_plan is not None,
        loaded_at=now_iso(),
    )
    return LoadOutput(
        curated_uri=curated_uri,
        files=len(plan),
        rows_loaded=manifest.rows_written,
        partitions=partitions,
        serving_items=serving_items,
        serving_plan=serving_plan,
        fanned_out=serving_plan is not None,
    )


def load_serving_batch(
    request: ServingBatchInput,
    *,
    s3: Any,
    dynamodb: Any,
    ledger: Ledger,
    lake_bucket: str,
    serving_table: str,
) -> ServingBatchOutput:
    """One Distributed Map item: the serving items of a few published curated files (idempotent upserts).

    Items run concurrently: a serving key found in rows of two items' files gets whichever item writes
    last (one Load settles it by file order). Serving keys that cover the primary key, deduplicated by
    the transform, occur in one file only.
    """
    run, batch = request.run, request.batch
    ledger.advance(run.source, run.execution_arn, "LoadServing")
    manifest = read_manifest(s3, run.output_uri)
    serving = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}").pipeline.serving
    if serving is None:
        raise TransformOutputInvalidError(f"{run.dataset} declares no serving keys: nothing to load")
    items = load_serving(
        s3, dynamodb, lake_bucket=lake_bucket, keys=batch.keys, manifest=manifest, serving=serving,
        table=serving_table,
    )  # fmt: skip
    return ServingBatchOutput(index=batch.index, files=len(batch.keys), serving_items=items)
