"""Publishing a merge (sluice_lib.merge) to the lake and the Glue catalog: the table's current files per partition
as the engines take them (`existing`), and the switch of the touched partitions to their new versions.

Layout: a merged partition's version lives in a folder of its own under the partition's directory,
`curated/<dataset>/<partition>/<version>/part-<ingest_id>-<nnnnn>.snappy.parquet` (`curated/<dataset>/<version>/`
unpartitioned), and the catalog partition's location names it. The version folder has no `=` in its name, so a
reader that lists the table's root instead of asking the catalog fails loudly (Spark: conflicting directory
structures) rather than reading superseded rows. Files a plain append published directly in a partition's
directory stay its version until a merge replaces it. Superseded versions stay where they are: the previous
locations a publish returns are what a rollback switches back to, and retention removes them later.

The switch: new versions are copied first (invisible until the catalog names them), then one BatchUpdatePartition
per 100 replaced partitions, one BatchCreatePartition per 100 added, one BatchDeletePartition per 25 emptied.
Each partition switches at once, so no reader sees a half-written partition; across partitions the catalog has
no transaction, so for the moment between the requests a key that moved may be missing from both partitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.curated import DATA_FOLDER
from sluice_lib.errors import CatalogUpdateError, error_code
from sluice_lib.lake import (
    PARTITIONS_PER_REQUEST,
    Manifest,
    _storage_descriptor,
    copy_files,
    ensure_table,
    folder,
    list_keys,
    partition_of,
    partition_values,
)
from sluice_lib.raw import parse_s3_uri
from sluice_lib.settings import curated_prefix

DELETES_PER_PARTITION_REQUEST = 25  # BatchDeletePartition's limit


def version_name(ingested_at: str, ingest_id: str) -> str:
    """A version folder's name: sortable by time, unique per upload (`v20250501T120000Z-<ingest_id>`)."""
    stamp = "".join(c for c in ingested_at if c.isdigit())[:14]
    return f"v{stamp[:8]}T{stamp[8:14]}Z-{ingest_id}"


def version_prefix(dataset: str, partition: str, version: str) -> str:
    base = curated_prefix(dataset)
    return f"{base}{partition}/{version}/" if partition else f"{base}{version}/"


def _partition_of_location(location: str, dataset: str) -> str:
    """`s3://lake/curated/<dataset>/year=2025/month=3/v…/` -> `year=2025/month=3` (a version folder dropped)."""
    _, key = parse_s3_uri(folder(location))
    relative = key[len(curated_prefix(dataset)) :].strip("/")
    parts = relative.split("/") if relative else []
    if parts and "=" not in parts[-1]:
        parts = parts[:-1]
    return "/".join(parts)


def _files_at(s3: Any, location: str) -> list[str]:
    """The Parquet files directly in a location (not in its version folders), as `s3://` URIs."""
    bucket, prefix = parse_s3_uri(folder(location))
    return [
        f"s3://{bucket}/{key}"
        for key in list_keys(s3, bucket, prefix)
        if "/" not in key[len(prefix) :]
        and key.endswith(".parquet")
        and not key.rsplit("/", 1)[-1].startswith(("_", "."))
    ]


def current_locations(glue: Any, database: str, table: str) -> dict[str, str]:
    """Partition directory -> the location the catalog names for it (`""` -> the table's, unpartitioned); empty
    when the table does not exist yet."""
    try:
        found = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "EntityNotFoundException":
            return {}
        raise CatalogUpdateError(f"{database}.{table}: {exc}") from exc
    if not found.get("PartitionKeys"):
        return {"": found["StorageDescriptor"]["Location"]}
    locations = {}
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for partition in page["Partitions"]:
            location = partition["StorageDescriptor"]["Location"]
            locations[_partition_of_location(location, table)] = location
    return locations


def current_files(s3: Any, glue: Any, database: str, table: str) -> dict[str, list[str]]:
    """The engines' `existing`: partition directory -> the files of its current version."""
    return {p: _files_at(s3, loc) for p, loc in current_locations(glue, database, table).items()}


def publish_merge(
    s3: Any,
    glue: Any,
    *,
    manifest: Manifest,
    merge: Mapping[str, Any],
    output_uri: str,
    lake_bucket: str,
    database: str,
    version: str,
) -> dict[str, dict[str, str | None]]:
    """Copies the merged partitions of a transform output to their new version folders, then switches the
    catalog to them; returns `{"previous": {partition: location or None}, "current": {...}}` (the ledger keeps
    it: a rollback switches `current` back to `previous`)."""
    table = manifest.dataset
    before = current_locations(glue, database, table)
    written = [*merge["replaced"], *merge["added"]]
    plan = {}
    for partition in written:
        files = sorted(f for f in manifest.files if partition_of(f) == partition)
        prefix = version_prefix(table, partition, version)
        for rank, path in enumerate(files):
            plan[path] = f"{prefix}part-{version.rsplit('-', 1)[-1]}-{rank:05d}.snappy.parquet"
    source_bucket, source_prefix = parse_s3_uri(folder(output_uri))
    copy_files(s3, source_bucket, f"{source_prefix}{DATA_FOLDER}/", lake_bucket, plan)
    root = f"s3://{lake_bucket}/{curated_prefix(table)}"
    ensure_table(glue, database, table, manifest, root)
    new = {p: f"s3://{lake_bucket}/{version_prefix(table, p, version)}" for p in written}
    if not manifest.partition_keys:
        if "" in new:
            _switch_table_location(glue, database, table, new[""])
    else:
        _switch_partitions(glue, database, manifest, new, merge)
    changed = [*written, *merge["emptied"]]
    return {
        "previous": {p: before.get(p) for p in changed},
        "current": {p: new.get(p) for p in changed},
    }


def _switch_table_location(glue: Any, database: str, table: str, location: str) -> None:
    current = glue.get_table(DatabaseName=database, Name=table)["Table"]
    keys = (
        "Name",
        "Description",
        "Owner",
        "Retention",
        "StorageDescriptor",
        "PartitionKeys",
        "TableType",
        "Parameters",
    )
    table_input = {k: current[k] for k in keys if k in current}
    table_input["StorageDescriptor"] = {**table_input["StorageDescriptor"], "Location": location}
    try:
        glue.update_table(DatabaseName=database, TableInput=table_input)
    except ClientError as exc:
        raise CatalogUpdateError(f"{database}.{table}: cannot switch the table's location: {exc}") from exc


def _switch_partitions(
    glue: Any, database: str, manifest: Manifest, new: Mapping[str, str], merge: Mapping[str, Any]
) -> None:
    table, keys = manifest.dataset, manifest.partition_keys

    def entry(partition: str) -> dict[str, Any]:
        return {
            "Values": partition_values(partition, keys),
            "StorageDescriptor": _storage_descriptor(manifest.columns, new[partition]),
        }

    def check(response: dict[str, Any], what: str) -> None:
        if response.get("Errors"):
            raise CatalogUpdateError(
                f"{database}.{table}: cannot {what} partitions: {response['Errors'][:5]}"
            )

    try:
        replaced = list(merge["replaced"])
        for start in range(0, len(replaced), PARTITIONS_PER_REQUEST):
            batch = replaced[start : start + PARTITIONS_PER_REQUEST]
            updates = [
                {"PartitionValueList": partition_values(p, keys), "PartitionInput": entry(p)} for p in batch
            ]
            check(
                glue.batch_update_partition(DatabaseName=database, TableName=table, Entries=updates), "switch"
            )
        added = list(merge["added"])
        for start in range(0, len(added), PARTITIONS_PER_REQUEST):
            inputs = [entry(p) for p in added[start : start + PARTITIONS_PER_REQUEST]]
            check(
                glue.batch_create_partition(
                    DatabaseName=database, TableName=table, PartitionInputList=inputs
                ),
                "add",
            )
        emptied = list(merge["emptied"])
        for start in range(0, len(emptied), DELETES_PER_PARTITION_REQUEST):
            gone = [
                {"Values": partition_values(p, keys)}
                for p in emptied[start : start + DELETES_PER_PARTITION_REQUEST]
            ]
            check(
                glue.batch_delete_partition(DatabaseName=database, TableName=table, PartitionsToDelete=gone),
                "drop",
            )
    except ClientError as exc:
        raise CatalogUpdateError(f"{database}.{table}: cannot switch partitions: {exc}") from exc
