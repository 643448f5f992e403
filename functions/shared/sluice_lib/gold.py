"""Gold tables: Load publishes the aggregates a run's transform computed to curated/<name>/, registers them
in the catalog and serves them when the aggregate declares serving keys.

The transform recomputes every gold partition its run touches (the whole table for an unpartitioned
aggregate) from all curated rows, so publishing *replaces* those partitions: the new files are copied
first, then every other file in them is deleted. Names depend only on the upload's identity, so a retried
or rerun Load leaves the same result as one Load.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from sluice_lib.contracts import Aggregate, parse_contract
from sluice_lib.curated import GOLD_FOLDER, MANIFEST_NAME
from sluice_lib.errors import CuratedPublishError, TransformOutputInvalidError, TransformOutputMissingError
from sluice_lib.load import (
    DELETES_PER_REQUEST,
    Column,
    Manifest,
    copy_files,
    ensure_table,
    plan_files,
    read_rows,
    register_partitions,
)
from sluice_lib.models import ValidateOutput
from sluice_lib.raw import parse_s3_uri
from sluice_lib.serving import items_by_key, write_items
from sluice_lib.settings import curated_prefix


class GoldTable(BaseModel):
    """One entry of the manifest's `gold` section, written by the Glue job."""

    name: str
    rows_written: int
    replace: Literal["partitions", "table"]
    partitions: list[str] = []
    files: list[str]
    columns: list[Column]
    partition_keys: list[Column] = []


class GoldPublished(BaseModel):
    name: str
    location: str
    rows: int
    files: int
    partitions: list[str]
    removed: int
    serving_items: int = 0


def read_gold_section(s3: Any, output_uri: str) -> list[GoldTable]:
    """The manifest's `gold` entries (none when the manifest has no such section)."""
    folder = output_uri.rstrip("/") + "/"
    bucket, prefix = parse_s3_uri(folder)
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_NAME}")["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise TransformOutputMissingError(f"{folder}{MANIFEST_NAME} does not exist") from exc
        raise
    try:
        return [GoldTable.model_validate(entry) for entry in json.loads(body).get("gold") or []]
    except (ValueError, ValidationError, AttributeError) as exc:
        raise TransformOutputInvalidError(f"{folder}{MANIFEST_NAME}: invalid gold section: {exc}") from exc


def gold_plan(table: GoldTable, ingest_id: str) -> dict[str, str]:
    """Output file (relative to `gold/<name>/`) -> `curated/<name>/<partition>/part-<ingest_id>-<nnnnn>.snappy.parquet`."""
    return plan_files(table.files, table.name, ingest_id)


def remove_replaced(s3: Any, lake_bucket: str, table: GoldTable, keep: set[str]) -> list[str]:
    """Deletes the files the new output replaces: all others in its partitions, or in the whole table."""
    root = curated_prefix(table.name)
    prefixes = [root] if table.replace == "table" else [f"{root}{p}/" for p in table.partitions]
    stale: list[str] = []
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=lake_bucket, Prefix=prefix):
            stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in keep]
    for start in range(0, len(stale), DELETES_PER_REQUEST):
        batch = stale[start : start + DELETES_PER_REQUEST]
        response = s3.delete_objects(
            Bucket=lake_bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if response.get("Errors"):
            raise CuratedPublishError(f"cannot delete replaced gold files: {response['Errors'][:5]}")
    return stale


def publish_table(
    run: ValidateOutput,
    table: GoldTable,
    aggregate: Aggregate,
    *,
    s3: Any,
    glue: Any,
    dynamodb: Any,
    lake_bucket: str,
    glue_database: str,
    serving_table: str,
) -> GoldPublished:
    output_bucket, output_prefix = parse_s3_uri(run.output_uri.rstrip("/") + "/")
    plan = gold_plan(table, run.ingest_id)
    copy_files(s3, output_bucket, f"{output_prefix}{GOLD_FOLDER}/{table.name}/", lake_bucket, plan)
    removed = remove_replaced(s3, lake_bucket, table, keep=set(plan.values()))
    location = f"s3://{lake_bucket}/{curated_prefix(table.name)}"
    manifest = Manifest(
        run_id=run.run_id,
        dataset=table.name,
        rows_written=table.rows_written,
        partitions=table.partitions,
        files=table.files,
        columns=table.columns,
        partition_keys=table.partition_keys,
    )
    ensure_table(glue, glue_database, table.name, manifest, location)
    if table.partition_keys and table.partitions:
        register_partitions(glue, glue_database, table.name, manifest, location, table.partitions)
    items = 0
    if aggregate.serving is not None:
        rows = read_rows(s3, lake_bucket, sorted(plan.values()), manifest)
        served = items_by_key(table.name, rows, aggregate.serving)
        write_items(dynamodb, serving_table, list(served.values()))
        items = len(served)
    return GoldPublished(
        name=table.name,
        location=location,
        rows=table.rows_written,
        files=len(plan),
        partitions=table.partitions,
        removed=len(removed),
        serving_items=items,
    )


def publish_gold(
    run: ValidateOutput,
    *,
    s3: Any,
    glue: Any,
    dynamodb: Any,
    lake_bucket: str,
    glue_database: str,
    serving_table: str,
) -> list[GoldPublished]:
    """Publishes every gold table of the run's manifest (nothing when the contract has no aggregates)."""
    contract = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}")
    aggregates = {a.name: a for a in contract.pipeline.aggregates}
    if not aggregates:
        return []
    published = []
    for table in read_gold_section(s3, run.output_uri):
        if table.name not in aggregates:
            raise TransformOutputInvalidError(
                f"{run.output_uri}{MANIFEST_NAME}: gold table {table.name!r} is not an aggregate of {run.dataset}"
            )
        published.append(
            publish_table(
                run,
                table,
                aggregates[table.name],
                s3=s3,
                glue=glue,
                dynamodb=dynamodb,
                lake_bucket=lake_bucket,
                glue_database=glue_database,
                serving_table=serving_table,
            )
        )
    return published
