"""Steps 7-9 (DataFrame -> DataFrame): joins, rename, derive, filter, partition columns; the whole chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sluice_lib.curated import DATE_PARTS, LINEAGE_COLUMNS, Lineage
from sluice_lib.errors import ReferenceNotFoundError, ReferenceSchemaError
from sluice_transform.conform import conform_staging, dedupe_by_key, require_utc_session
from sluice_transform.lineage import add_lineage


def latest_per_key(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """One row per key: the most recently ingested (`_ingested_at`, then `_row_hash`, highest wins).

    A reference dataset's curated table holds every upload of it; a join must see each key once.
    Without lineage columns an arbitrary row per key is kept.
    """
    order = [c for c in ("_ingested_at", "_row_hash") if c in df.columns]
    if not order:
        return df.dropDuplicates(list(keys))
    return dedupe_by_key(df, keys, order[0], order[1] if len(order) > 1 else None)


def join_references(
    df: DataFrame, joins: Sequence[Mapping[str, Any]], references: Mapping[str, DataFrame]
) -> DataFrame:
    """The contract's `transform.join` steps, in order: each adds the `select` columns of the reference's
    latest row per `on` key (equi-join, `how` inner or left; null keys match nothing)."""
    for i, join in enumerate(joins):
        name, on, select = join["dataset"], list(join["on"]), list(join["select"])
        where = f"pipeline.transform.join[{i}] ({name})"
        if name not in references:
            raise ReferenceNotFoundError(f"{where}: no curated data given for {name!r} in --references")
        ref = references[name]
        missing = [c for c in [*on, *select] if c not in ref.columns]
        if missing:
            raise ReferenceSchemaError(
                f"{where}: the curated {name} table has no column {', '.join(missing)} "
                f"(it has {', '.join(ref.columns)})"
            )
        here = [c for c in on if c not in df.columns]
        if here:
            raise ReferenceSchemaError(f"{where}: the rows have no join key column {', '.join(here)}")
        clash = [c for c in select if c in df.columns]
        if clash:
            raise ReferenceSchemaError(f"{where}: select would overwrite columns {', '.join(clash)}")
        lineage = [c for c in ("_ingested_at", "_row_hash") if c in ref.columns]
        latest = latest_per_key(ref.select(*on, *select, *lineage), on).select(*on, *select)
        df = df.join(latest, on=on, how=join.get("how", "left"))
    return df


def apply_steps(
    df: DataFrame,
    rename: Mapping[str, str] | None = None,
    derive: Mapping[str, str] | None = None,
    filter: str | None = None,
) -> DataFrame:
    """The contract's transform steps after the joins, in this order: rename, derive (Spark SQL, in order),
    filter."""
    rename = dict(rename or {})
    unknown = [c for c in rename if c not in df.columns]
    if unknown:
        raise ValueError(f"pipeline.transform.rename names unknown columns: {', '.join(unknown)}")
    if rename:
        df = df.withColumnsRenamed(rename)
    for name, expression in (derive or {}).items():
        try:
            df = df.withColumn(name, F.expr(expression))
        except AnalysisException as exc:
            raise ValueError(f"pipeline.transform.derive.{name} ({expression}): {exc}") from exc
    if filter:
        try:
            df = df.where(F.expr(filter))
        except AnalysisException as exc:
            raise ValueError(f"pipeline.transform.filter ({filter}): {exc}") from exc
    return df


def steps_drop_rows(contract: Mapping[str, Any]) -> bool:
    """Whether the transform steps after the dedupe can drop rows (a filter or an inner join)."""
    steps = contract.get("pipeline", {}).get("transform") or {}
    return bool(steps.get("filter")) or any(j.get("how", "left") == "inner" for j in steps.get("join") or [])


def partition_columns(partition_by: Mapping[str, Any] | None) -> list[str]:
    """Names of the partition columns a `pipeline.partition_by` produces (outermost first)."""
    if not partition_by:
        return []
    if partition_by.get("field"):
        return list(partition_by.get("parts") or [])
    return list(partition_by.get("columns") or [])


def add_partition_columns(df: DataFrame, partition_by: Mapping[str, Any] | None) -> DataFrame:
    """Adds int date parts (`year`, `month`, `day`, `hour`) of `partition_by.field`, or checks columns."""
    if not partition_by:
        return df
    field = partition_by.get("field")
    if not field:
        missing = [c for c in partition_columns(partition_by) if c not in df.columns]
        if missing:
            raise ValueError(f"partition columns not in the data: {', '.join(missing)}")
        return df
    if field not in df.columns:
        raise ValueError(f"partition field {field!r} not in the data")
    parts = partition_columns(partition_by)
    bad = [p for p in parts if p not in DATE_PARTS]
    if bad:
        raise ValueError(f"unknown date parts {bad}; use {list(DATE_PARTS)}")
    clash = [p for p in parts if p in df.columns]
    if clash:
        raise ValueError(f"partition columns {clash} would overwrite data columns of the same name")
    functions = {"year": F.year, "month": F.month, "day": F.dayofmonth, "hour": F.hour}
    return df.withColumns({p: functions[p](F.col(field)).cast("int") for p in parts})


def shape_curated(
    df: DataFrame,
    contract: Mapping[str, Any],
    lineage: Lineage,
    references: Mapping[str, DataFrame] | None = None,
) -> DataFrame:
    """Steps 6-9 on conformed rows: lineage (hash over the contract fields), transform steps (joins with
    the `references` DataFrames, then rename, derive, filter), partitions.

    Columns come out as data columns, then the lineage columns, then the partition columns.
    """
    require_utc_session(df)
    pipeline = contract.get("pipeline", {})
    steps = pipeline.get("transform") or {}
    df = add_lineage(
        df,
        ingest_id=lineage.ingest_id,
        source_key=lineage.source_key,
        ingested_at=lineage.ingested_at,
        hash_columns=[f["name"] for f in contract["schema"]["fields"]],
    )
    df = join_references(df, steps.get("join") or [], references or {})
    df = apply_steps(df, steps.get("rename"), steps.get("derive"), steps.get("filter"))
    partition_by = dict(pipeline.get("partition_by") or {})
    if partition_by.get("field"):  # the field may have been renamed by the steps
        partition_by["field"] = (steps.get("rename") or {}).get(partition_by["field"], partition_by["field"])
    df = add_partition_columns(df, partition_by)
    parts = partition_columns(partition_by)
    data = [c for c in df.columns if c not in LINEAGE_COLUMNS and c not in parts]
    return df.select(*data, *LINEAGE_COLUMNS, *parts)


def build_curated(
    df: DataFrame,
    contract: Mapping[str, Any],
    lineage: Lineage,
    references: Mapping[str, DataFrame] | None = None,
) -> DataFrame:
    """Staging rows -> curated rows, in this order:

    1 normalise_column_names, 2 check_staging_schema, 3 cast_to_contract, 4 trim_strings,
    5 dedupe_by_key (last per primaryKey by pipeline.dedupe.order_by, then line order),
    6 add_lineage, 7 join_references, 8 apply_steps (rename, derive, filter), 9 add_partition_columns.
    Dedupe runs before the steps so a filter selects among current rows, never resurrects an old one.
    """
    return shape_curated(conform_staging(df, contract), contract, lineage, references)
