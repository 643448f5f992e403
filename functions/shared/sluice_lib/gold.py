"""Gold tables: Load publishes the aggregates a run's transform computed to curated/<name>/, registers them
in the catalog and serves them when the aggregate declares serving keys.

The transform recomputes every gold partition its run touches (the whole table for an unpartitioned
aggregate) from all curated rows, so publishing *replaces* those partitions: the new files are copied
first, then every other file in them is deleted, and a recomputed partition left without rows (a merge moved
or emptied its curated rows) loses its files and its catalog partition. Names depend only on the upload's identity, so a retried
or rerun Load leaves the same result as one Load.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from sluice_lib.contracts import Aggregate, parse_contract
from sluice_lib.curated import GOLD_FOLDER, MANIFEST_NAME
from sluice_lib.errors import TransformOutputInvalidError
from sluice_lib.lake import (
    Column,
    Manifest,
    copy_files,
    delete_files,
    drop_partitions,
    ensure_table,
    folder,
    list_keys,
    plan_files,
    read_manifest_json,
    register_partitions,
)
from sluice_lib.models import ValidateOutput
from sluice_lib.raw import parse_s3_uri
from sluice_lib.serving import serve_files
from sluice_lib.settings import curated_prefix


class GoldTable(BaseModel):
    """One entry of the manifest's `gold` section, written by the Glue job."""

    name: str
    rows_written: int
    replace: Literal["partitions", "table"]
    partitions: list[str] = []
    # Every gold partition the transform recomputed, including those left without rows (their curated rows
    # moved away or were emptied by a merge); absent in manifests from before it existed: `partitions`.
    recomputed: list[str] | None = None
    files: list[str]
    columns: list[Column]
    partition_keys: list[Column] = []

    @property
    def replaced(self) -> list[str]:
        """The partitions this output replaces: those it writes and those it empties."""
        return sorted({*self.partitions, *(self.recomputed or [])})

    @property
    def emptied(self) -> list[str]:
        """The recomputed partitions without rows: their files are deleted and their catalog partitions dropped."""
        return sorted(set(self.recomputed or []) - set(self.partitions))


class GoldPublished(BaseModel):
    name: str
    location: str
    rows: int
    files: int
    partitions: list[str]
    emptied: list[str] = []
    removed: int
    serving_items: int = 0


def read_gold_section(s3: Any, output_uri: str) -> list[GoldTable]:
    """The manifest's `gold` entries (none when the manifest has no such section)."""
    manifest = read_manifest_json(s3, output_uri)
    try:
        return [GoldTable.model_validate(entry) for entry in manifest.get("gold") or []]
    except (ValidationError, TypeError) as exc:
        raise TransformOutputInvalidError(
            f"{folder(output_uri)}{MANIFEST_NAME}: invalid gold section: {exc}"
        ) from exc


def gold_plan(table: GoldTable, ingest_id: str) -> dict[str, str]:
    """Output file (relative to `gold/<name>/`) -> `curated/<name>/<partition>/part-<ingest_id>-<nnnnn>.snappy.parquet`."""
    return plan_files(table.files, table.name, ingest_id)


def remove_replaced(s3: Any, lake_bucket: str, table: GoldTable, keep: set[str]) -> list[str]:
    """Deletes the files the new output replaces: all others in the partitions it recomputed (emptied ones
    included), or in the whole table."""
    root = curated_prefix(table.name)
    prefixes = [root] if table.replace == "table" else [f"{root}{p}/" for p in table.replaced]
    stale = [key for prefix in prefixes for key in list_keys(s3, lake_bucket, prefix) if key not in keep]
    delete_files(s3, lake_bucket, stale, what="replaced gold files")
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
    output_bucket, output_prefix = parse_s3_uri(folder(run.output_uri))
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
    if table.partition_keys and table.emptied:
        drop_partitions(glue, glue_database, table.name, table.partition_keys, table.emptied)
    items = 0
    if aggregate.serving is not None:
        items = serve_files(
            s3, dynamodb, lake_bucket=lake_bucket, keys=sorted(plan.values()), manifest=manifest,
            serving=aggregate.serving, table=serving_table,
        )  # fmt: skip
    return GoldPublished(
        name=table.name,
        location=location,
        rows=table.rows_written,
        files=len(plan),
        partitions=table.partitions,
        emptied=table.emptied,
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
