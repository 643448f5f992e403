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

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.catalog_files import current_locations
from sluice_lib.curated import DATA_FOLDER
from sluice_lib.errors import CatalogUpdateError
from sluice_lib.lake import (
    PARTITIONS_PER_REQUEST,
    Column,
    Manifest,
    _storage_descriptor,
    copy_files,
    drop_partitions,
    ensure_table,
    folder,
    partition_of,
    partition_values,
)
from sluice_lib.raw import parse_s3_uri
from sluice_lib.settings import curated_prefix


def version_name(ingested_at: str, ingest_id: str) -> str:
    """A version folder's name: sortable by time, unique per upload (`v20250501T120000Z-<ingest_id>`)."""
    stamp = "".join(c for c in ingested_at if c.isdigit())[:14]
    return f"v{stamp[:8]}T{stamp[8:14]}Z-{ingest_id}"


def version_prefix(dataset: str, partition: str, version: str) -> str:
    base = curated_prefix(dataset)
    return f"{base}{partition}/{version}/" if partition else f"{base}{version}/"


def merged_file_names(manifest: Manifest, merge: Any, ingest_id: str) -> dict[str, str]:
    """Output file (relative) -> its name in its partition's version folder, `part-<ingest_id>-<nnnnn>.snappy.parquet`,
    for the files of the replaced and added partitions (`merge`: the manifest's section or MergeCounts)."""
    section = merge if isinstance(merge, Mapping) else merge.model_dump()
    written = {*section["replaced"], *section["added"]}
    names = {}
    for partition in sorted(written):
        files = sorted(f for f in manifest.files if partition_of(f) == partition)
        for rank, path in enumerate(files):
            names[path] = f"part-{ingest_id}-{rank:05d}.snappy.parquet"
    return names


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
    ingest_id: str | None = None,
) -> dict[str, dict[str, str | None]]:
    """Copies the merged partitions of a transform output to their new version folders, then switches the
    catalog to them; returns `{"previous": {partition: location or None}, "current": {...}}` (the ledger keeps
    it: a rollback switches `current` back to `previous`). Files are named `part-<ingest_id>-<n>` (default: the
    version's last `-` part). Publishing the same version again (a retried or redriven Load) leaves the same
    catalog: an added partition that exists is updated, an emptied one already gone is fine."""
    table = manifest.dataset
    before = current_locations(glue, database, table)
    written = [*merge["replaced"], *merge["added"]]
    plan = {
        path: f"{version_prefix(table, partition_of(path), version)}{name}"
        for path, name in merged_file_names(manifest, merge, ingest_id or version.rsplit("-", 1)[-1]).items()
    }
    source_bucket, source_prefix = parse_s3_uri(folder(output_uri))
    copy_files(s3, source_bucket, f"{source_prefix}{DATA_FOLDER}/", lake_bucket, plan)
    root = f"s3://{lake_bucket}/{curated_prefix(table)}"
    ensure_table(glue, database, table, manifest, root)
    new = {p: f"s3://{lake_bucket}/{version_prefix(table, p, version)}" for p in written}
    if not manifest.partition_keys:
        if "" in new:
            switch_table_location(glue, database, table, new[""])
    else:
        switch_partitions(
            glue, database, table, keys=manifest.partition_keys, columns=manifest.columns,
            replaced={p: new[p] for p in merge["replaced"]}, added={p: new[p] for p in merge["added"]},
            emptied=merge["emptied"],
        )  # fmt: skip
    changed = [*written, *merge["emptied"]]
    return {
        "previous": {p: before.get(p) for p in changed},
        "current": {p: new.get(p) for p in changed},
    }


def switch_table_location(glue: Any, database: str, table: str, location: str) -> None:
    """Points an unpartitioned table at `location` (UpdateTable with the rest of its definition as it is)."""
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


def switch_partitions(
    glue: Any,
    database: str,
    table: str,
    *,
    keys: list[Column],
    columns: list[Column],
    replaced: Mapping[str, str],
    added: Mapping[str, str],
    emptied: Iterable[str],
) -> None:
    """Switches partitions of `table` (partition keys `keys`, data `columns`): the `replaced` ones to their new
    locations first, then the `added` ones created (or switched, when they exist already), then the `emptied`
    ones dropped (fine when gone). Used by a merge's publish and by a rollback (sluice_lib.rollback)."""
    new = {**replaced, **added}

    def entry(partition: str) -> dict[str, Any]:
        return {
            "Values": partition_values(partition, keys),
            "StorageDescriptor": _storage_descriptor(columns, new[partition]),
        }

    def check(response: dict[str, Any], what: str, fine: str = "") -> list[dict[str, Any]]:
        """Raises on the answer's per-partition errors except those of code `fine`, which it returns."""
        errors = response.get("Errors") or []
        tolerated = [e for e in errors if fine and e.get("ErrorDetail", {}).get("ErrorCode") == fine]
        if len(tolerated) < len(errors):
            raise CatalogUpdateError(f"{database}.{table}: cannot {what} partitions: {errors[:5]}")
        return tolerated

    try:
        switched = list(replaced)
        for start in range(0, len(switched), PARTITIONS_PER_REQUEST):
            batch = switched[start : start + PARTITIONS_PER_REQUEST]
            updates = [
                {"PartitionValueList": partition_values(p, keys), "PartitionInput": entry(p)} for p in batch
            ]
            check(
                glue.batch_update_partition(DatabaseName=database, TableName=table, Entries=updates), "switch"
            )
        created = list(added)
        for start in range(0, len(created), PARTITIONS_PER_REQUEST):
            inputs = [entry(p) for p in created[start : start + PARTITIONS_PER_REQUEST]]
            exist = check(
                glue.batch_create_partition(
                    DatabaseName=database, TableName=table, PartitionInputList=inputs
                ),
                "add",
                "AlreadyExistsException",
            )
            if exist:  # added by an earlier attempt of this Load (or, for a rollback, since): point them here
                again = [
                    {"PartitionValueList": e["PartitionValues"], "PartitionInput": i}
                    for e in exist
                    for i in inputs
                    if i["Values"] == e["PartitionValues"]
                ]
                check(
                    glue.batch_update_partition(DatabaseName=database, TableName=table, Entries=again),
                    "switch",
                )
    except ClientError as exc:
        raise CatalogUpdateError(f"{database}.{table}: cannot switch partitions: {exc}") from exc
    drop_partitions(glue, database, table, keys, list(emptied))
