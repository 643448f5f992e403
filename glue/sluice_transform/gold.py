"""Gold tables (DataFrame -> DataFrame): a contract's aggregates over the curated rows a run touches."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sluice_lib.curated import partition_dir
from sluice_lib.errors import AggregateError


def gold_partitions(frames: Sequence[DataFrame], columns: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The partitions by `columns` that the rows of `frames` fall in: directory (as Spark's writer names it,
    `year=2025/month=3`) -> the columns' values. A gold partition column is a curated column holding the same
    values (the contract checks the name), so these are the gold partitions those rows count in."""
    texts = [F.col(c).cast("string").alias(f"__sluice_text_{i}") for i, c in enumerate(columns)]
    union = functools.reduce(DataFrame.unionByName, (frame.select(*columns) for frame in frames))
    rows = union.select(*columns, *texts).distinct().collect()
    n = len(columns)
    return {partition_dir(columns, row[n:]): tuple(row[:n]) for row in rows}


def restrict_to_partitions(
    df: DataFrame, columns: Sequence[str], values: Sequence[tuple[Any, ...]]
) -> DataFrame:
    """The rows whose `columns` hold one of `values` (null-safe). A predicate on partition columns only, so
    Spark lists only those partitions' files of a partitioned table."""
    if not values:
        return df.limit(0)
    if len(columns) == 1 and all(v[0] is not None for v in values):
        return df.where(F.col(columns[0]).isin([v[0] for v in values]))
    matches = [
        functools.reduce(
            lambda a, b: a & b, (F.col(c).eqNullSafe(F.lit(v)) for c, v in zip(columns, row, strict=True))
        )
        for row in values
    ]
    return df.where(functools.reduce(lambda a, b: a | b, matches))


def aggregate_view(
    run_rows: DataFrame,
    earlier: DataFrame | None,
    partition_by: Sequence[str],
    recomputed: Sequence[tuple[Any, ...]],
) -> DataFrame:
    """The curated rows an aggregate sees: this run's rows and the earlier rows (other ingests, or the partitions
    a merge left as they were) of the gold partitions `recomputed` (values of `partition_by`), or of the whole
    table when the aggregate is not partitioned. `run_rows` fall in `recomputed` by construction."""
    if earlier is None:
        return run_rows
    if partition_by:
        earlier = restrict_to_partitions(earlier, partition_by, recomputed)
    return run_rows.unionByName(earlier, allowMissingColumns=True)


def compute_aggregate(
    spark: SparkSession,
    aggregate: Mapping[str, Any],
    dataset: str,
    view: DataFrame,
    references: Mapping[str, DataFrame] | None = None,
) -> DataFrame:
    """Runs the aggregate's SQL with `view` as the temporary view `<dataset>` and each reference DataFrame
    as a view of its name; checks the result has the partition and serving columns."""
    name = aggregate["name"]
    views = {**(references or {}), dataset: view}
    try:
        for view_name, frame in views.items():
            frame.createOrReplaceTempView(view_name)
        try:
            gold = spark.sql(aggregate["sql"])
        except AnalysisException as exc:
            raise AggregateError(f"pipeline.aggregates ({name}): the sql fails: {exc}") from exc
    finally:
        for view_name in views:
            spark.catalog.dropTempView(view_name)
    serving = aggregate.get("serving") or {}
    for what, names in (
        ("partition_by", aggregate.get("partition_by") or []),
        ("serving", [*serving.get("pk", []), *serving.get("sk", [])]),
    ):
        missing = [c for c in names if c not in gold.columns]
        if missing:
            raise AggregateError(
                f"pipeline.aggregates ({name}).{what} names columns the sql does not return: "
                f"{', '.join(missing)} (it returns {', '.join(gold.columns)})"
            )
    partition_by = list(aggregate.get("partition_by") or [])
    return gold.select(*(c for c in gold.columns if c not in partition_by), *partition_by)
