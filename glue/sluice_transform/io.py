"""Reads and writes: staging and curated Parquet, the run's output files and its manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sluice_lib.curated import MAX_RECORDS_PER_FILE
from sluice_lib.errors import ReferenceNotFoundError, StagingNotFoundError
from sluice_lib.merge import partition_pairs
from sluice_transform.locations import is_s3, local_path, split_s3


def read_staging(spark: SparkSession, source: str) -> DataFrame:
    try:
        return spark.read.parquet(source)
    except AnalysisException as exc:
        raise StagingNotFoundError(f"--source {source}: no readable staging Parquet ({exc})") from exc


def read_written(spark: SparkSession, data_uri: str, schema: T.StructType) -> DataFrame:
    """The rows this run just wrote to `data_uri` (Hive partitions typed by `schema`)."""
    return spark.read.schema(schema).option("basePath", data_uri).parquet(data_uri)


def read_curated_table(
    spark: SparkSession, uri: str, schema: T.StructType | None = None, s3_client: Any = None
) -> DataFrame | None:
    """A curated table (Hive-partitioned Parquet) at `uri`; None when it holds no data files.

    With `schema`, partition values are read as its types; without, all files' schemas are merged.
    """
    if not list_data_files(uri, s3_client):
        return None
    reader = spark.read.option("basePath", uri)
    reader = reader.schema(schema) if schema is not None else reader.option("mergeSchema", "true")
    return reader.parquet(uri)


@dataclass(frozen=True)
class CatalogTable:
    """A curated table as the Glue catalog presents it: each partition's current files
    (sluice_lib.catalog_files.current_files; `""` for an unpartitioned table) and the partition keys' Hive types."""

    files: Mapping[str, Sequence[str]]
    partition_types: Sequence[tuple[str, str]]


def joined_datasets(contract: Mapping[str, Any]) -> list[str]:
    """The datasets the contract's transform joins, in order, once each."""
    joins = (contract.get("pipeline", {}).get("transform") or {}).get("join") or []
    return list(dict.fromkeys(join["dataset"] for join in joins))


def read_catalog_table(spark: SparkSession, table: CatalogTable) -> DataFrame | None:
    """The rows of `table`'s current files (schemas merged), with the partition columns typed by the catalog
    from each partition's directory; None when it names no file. Never the table's root, under which a keyed
    table keeps superseded versions until retention removes them (docs/merge.md)."""
    frames = []
    for partition, paths in sorted(table.files.items()):
        values = dict(partition_pairs(partition))
        frame = spark.read.option("mergeSchema", "true").parquet(*paths)
        frames.append(
            frame.withColumns(
                {name: F.lit(values.get(name)).cast(hive) for name, hive in table.partition_types}
            )
        )
    if not frames:
        return None
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def read_references(
    spark: SparkSession,
    contract: Mapping[str, Any],
    locations: Mapping[str, str],
    s3_client: Any = None,
    catalog: Mapping[str, CatalogTable] | None = None,
) -> dict[str, DataFrame]:
    """The curated tables of the datasets the contract joins: as the catalog presents them when `catalog` has
    them (the job on Glue and in the local runtime), else read from `locations` (--references: a run of the
    script on local files, without a catalog)."""
    frames: dict[str, DataFrame] = {}
    for name in joined_datasets(contract):
        if name not in locations:
            raise ReferenceNotFoundError(
                f"the contract joins {name!r} but --references gives no location for it"
            )
        if catalog is not None and name in catalog:
            frame = read_catalog_table(spark, catalog[name])
            where = f"the catalog's partitions of {name} (table location {locations[name]})"
        else:
            frame = read_curated_table(spark, locations[name], s3_client=s3_client)
            where = locations[name]
        if frame is None:
            raise ReferenceNotFoundError(
                f"--references {name}: {where} holds no curated Parquet; load {name} first"
            )
        frames[name] = frame
    return frames


def write_curated(df: DataFrame, data_uri: str, partition_by: Sequence[str]) -> None:
    """Snappy Parquet, one file per partition directory (more only past MAX_RECORDS_PER_FILE rows)."""
    out = df.repartition(*partition_by) if partition_by else df.repartition(1)
    (
        out.write.mode("overwrite")
        .option("compression", "snappy")
        .option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
        .partitionBy(*partition_by)
        .parquet(data_uri)
    )


def _is_data_file(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def list_data_files(data_uri: str, s3_client: Any = None) -> list[str]:
    """Parquet files under `data_uri`, as sorted paths relative to it (markers and checksums skipped)."""
    if is_s3(data_uri):
        bucket, prefix = split_s3(data_uri.rstrip("/") + "/")
        found = []
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [obj["Key"][len(prefix) :] for obj in page.get("Contents", [])]
    else:
        root = local_path(data_uri)
        found = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in found if _is_data_file(f))


def write_json(uri: str, payload: Mapping[str, Any], s3_client: Any = None) -> None:
    body = json.dumps(payload, indent=2)
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    else:
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
