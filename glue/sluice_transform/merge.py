"""The merge on Spark (sluice_lib.merge states the rule): the run's curated rows (DataFrame) merged with the
existing table's touched partitions, as the DuckDB engine's sluice_lib.transform_lambda.merge does."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import reduce
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sluice_lib.merge import MERGE_COUNTS, MergeRule, partition_pairs, touched_partitions

SOURCE = "__sluice_incoming"  # 1 on the run's rows, 0 on the existing ones
_RANK = "__sluice_rank"
_FILE = "__sluice_file"


def _given(path: str) -> str:
    """A file's path as the caller gives it (a local path, `file:` or `s3://` URI), in one spelling."""
    if path.startswith("file:"):
        return "/" + re.sub(r"^file:/*", "", path)
    return re.sub(r"^s3[an]?://", "s3://", path)


def _read(file_path: str) -> str:
    """`_metadata.file_path` (a URI: `file:///x%20y`, `%25` for a `%` of a partition directory) as `_given`."""
    return _given(unquote(file_path))


def _holding_keys(
    spark: SparkSession, incoming: DataFrame, existing: Mapping[str, Sequence[str]], keys: Sequence[str]
) -> set[str]:
    """The existing partitions whose files hold an incoming key: reads the key columns, nothing else (the
    given schema also spares Spark reading every footer to infer one)."""
    files = {_given(f): p for p, fs in existing.items() for f in fs}
    if not files:
        return set()
    schema = T.StructType([incoming.schema[k] for k in keys])
    found = (
        spark.read.schema(schema)
        .parquet(*(f for fs in existing.values() for f in fs))
        .select(*keys, F.col("_metadata.file_path").alias(_FILE))
        .join(incoming.select(*keys).distinct(), list(keys), "left_semi")
        .select(_FILE)
        .distinct()
        .collect()
    )
    return {files[_read(row[_FILE])] for row in found}


def read_partitions(
    spark: SparkSession,
    existing: Mapping[str, Sequence[str]],
    partitions: Sequence[str],
    schema: T.StructType,
    partition_columns: Sequence[str],
) -> list[DataFrame]:
    """One DataFrame per partition of `existing` named in `partitions`: its files read with `schema`'s data
    columns, its partition columns as the directory's values typed by `schema` (columns in `schema`'s order)."""
    parts = list(partition_columns)
    data_schema = T.StructType([f for f in schema.fields if f.name not in parts])
    frames = []
    for partition in partitions:
        texts = dict(partition_pairs(partition))
        typed = {p: F.lit(texts[p]).cast(schema[p].dataType) for p in parts}
        frame = spark.read.schema(data_schema).parquet(*existing[partition]).withColumns(typed)
        frames.append(frame.select(*schema.names))
    return frames


def merge_curated(
    spark: SparkSession,
    incoming: DataFrame,
    existing: Mapping[str, Sequence[str]],
    rule: MergeRule,
    partition_columns: Sequence[str],
) -> tuple[DataFrame, dict[str, int], list[str]]:
    """The merged rows of the touched and new partitions (columns as `incoming`, then SOURCE; persisted: the
    caller drops SOURCE and unpersists it), the counts, the touched partitions. `incoming` is read several
    times: persist what it is computed from."""
    parts = list(partition_columns)
    holding = _holding_keys(spark, incoming, existing, rule.keys)
    values = [tuple(row) for row in incoming.select(*parts).distinct().collect()] if parts else []
    if not parts and not incoming.isEmpty():
        values = [()]
    touched = touched_partitions(existing, holding, values)
    reads = [
        frame.withColumn(SOURCE, F.lit(0))
        for frame in read_partitions(spark, existing, touched, incoming.schema, parts)
    ]
    versions = reduce(DataFrame.unionByName, reads, incoming.withColumn(SOURCE, F.lit(1)))
    order = [F.col(rule.order_by).desc_nulls_last()] if rule.order_by else []
    order += [
        F.col("_ingested_at").desc_nulls_last(),
        F.col(SOURCE).desc(),
        F.col("_row_hash").desc_nulls_last(),
    ]
    window = Window.partitionBy(*rule.keys).orderBy(*order)
    merged = versions.withColumn(_RANK, F.row_number().over(window)).where(F.col(_RANK) == 1).drop(_RANK)
    merged = merged.persist()
    known = versions.where(F.col(SOURCE) == 0).select(*rule.keys, F.col("_row_hash").alias("__known_hash"))
    winners = merged.select(*rule.keys, F.col(SOURCE).alias("__won"), F.col("_row_hash").alias("__won_hash"))
    row = (
        incoming.select(*rule.keys)
        .join(known, list(rule.keys), "left")
        .join(winners, list(rule.keys), "inner")
        .agg(
            F.count(F.when(F.col("__known_hash").isNull(), 1)).alias("inserted"),
            F.count(
                F.when(
                    F.col("__known_hash").isNotNull()
                    & (F.col("__won") == 1)
                    & ~F.col("__won_hash").eqNullSafe(F.col("__known_hash")),
                    1,
                )
            ).alias("updated"),
            F.count(F.lit(1)).alias("total"),
        )
        .collect()[0]
    )
    counts = dict(
        zip(
            MERGE_COUNTS,
            (row["inserted"], row["updated"], row["total"] - row["inserted"] - row["updated"]),
            strict=True,
        )
    )
    return merged, counts, touched
