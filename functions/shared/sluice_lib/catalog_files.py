"""A curated table as the Glue catalog presents it: each partition's current location and the Parquet files of
that version. Every reader of a curated table goes through here (or the catalog itself), never the table's root:
a keyed table's superseded versions stay under its root until retention removes them (docs/merge.md).
Pure (clients are parameters, errors read by code): the Glue job ships it with `--extra-py-files`."""

from __future__ import annotations

from typing import Any

from sluice_lib.errors import CatalogUpdateError, error_code


def curated_root(dataset: str) -> str:
    """The curated table's prefix in the lake bucket (the table's catalog location): `curated/<dataset>/`."""
    return f"curated/{dataset}/"


def split_location(location: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b/`): the location as a folder prefix."""
    rest = location.split("://", 1)[-1]
    bucket, _, key = rest.partition("/")
    return bucket, key.rstrip("/") + "/" if key.strip("/") else ""


def partition_of_location(location: str, dataset: str) -> str:
    """`s3://lake/curated/<dataset>/year=2025/month=3/v…/` -> `year=2025/month=3` (a version folder dropped)."""
    _, key = split_location(location)
    relative = key[len(curated_root(dataset)) :].strip("/")
    parts = relative.split("/") if relative else []
    if parts and "=" not in parts[-1]:
        parts = parts[:-1]
    return "/".join(parts)


def files_at(s3: Any, location: str) -> list[str]:
    """The Parquet files directly in a location (not in its version folders), as sorted `s3://` URIs."""
    bucket, prefix = split_location(location)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) :]
            if "/" not in name and name.endswith(".parquet") and not name.startswith(("_", ".")):
                found.append(f"s3://{bucket}/{obj['Key']}")
    return sorted(found)


def current_locations(glue: Any, database: str, table: str) -> dict[str, str]:
    """Partition directory -> the location the catalog names for it (`""` -> the table's, unpartitioned); empty
    when the table does not exist yet."""
    try:
        found = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except Exception as exc:  # botocore's ClientError, read by its code (this module imports no botocore)
        if error_code(exc) == "EntityNotFoundException":
            return {}
        if error_code(exc):
            raise CatalogUpdateError(f"{database}.{table}: {exc}") from exc
        raise
    if not found.get("PartitionKeys"):
        return {"": found["StorageDescriptor"]["Location"]}
    locations = {}
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for partition in page["Partitions"]:
            location = partition["StorageDescriptor"]["Location"]
            locations[partition_of_location(location, table)] = location
    return locations


def partition_types(glue: Any, database: str, table: str) -> list[tuple[str, str]]:
    """(name, Hive type) of the table's partition keys, outermost first; empty when unpartitioned or absent."""
    try:
        found = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except Exception as exc:
        if error_code(exc) == "EntityNotFoundException":
            return []
        raise
    return [(k["Name"], k["Type"]) for k in found.get("PartitionKeys", [])]


def current_files(s3: Any, glue: Any, database: str, table: str) -> dict[str, list[str]]:
    """The engines' `existing`: partition directory -> the files of its current version (partitions without
    files left out)."""
    files = {p: files_at(s3, loc) for p, loc in current_locations(glue, database, table).items()}
    return {p: fs for p, fs in files.items() if fs}
