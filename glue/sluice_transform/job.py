"""One run of the job, wired: staging -> curated rows under `<output>/data/`, gold tables, the manifest."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sluice_lib.curated import DATA_FOLDER, GOLD_FOLDER, MANIFEST_NAME, Lineage, partitions_of
from sluice_lib.merge import merge_rule, merge_section
from sluice_transform.arguments import JobArgs
from sluice_transform.conform import conform_staging
from sluice_transform.gold import aggregate_view, compute_aggregate, gold_partitions
from sluice_transform.io import (
    list_data_files,
    read_curated_table,
    read_staging,
    read_written,
    write_curated,
    write_json,
)
from sluice_transform.merge import SOURCE, merge_curated, read_partitions
from sluice_transform.steps import partition_columns, shape_curated, steps_drop_rows

logger = logging.getLogger("sluice.transform")

_COUNTS = ("rows_read", "rows_deduped", "rows_written")


def _column_types(schema: T.StructType, names: Sequence[str]) -> list[dict[str, str]]:
    types = {f.name: f.dataType for f in schema.fields}
    # simpleString is Hive's name for atomic types (bigint, int, timestamp); complex ones are not expected.
    return [{"name": n, "type": types[n].simpleString()} for n in names]


def build_gold(
    spark: SparkSession,
    args: JobArgs,
    curated_schema: T.StructType,
    data_uri: str,
    references: Mapping[str, DataFrame],
    s3_client: Any = None,
    touched: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Computes every aggregate of the contract over the run's curated rows (read back from `data_uri`) and
    the earlier curated rows of the gold partitions it recomputes; writes `<output>/gold/<name>/`; returns the
    manifest's `gold` section.

    After a merge (`touched`: the existing partitions the run rewrote or emptied) the run's rows are the merged
    partitions, the earlier rows the current files of the others (`args.merge_with`): the table as the catalog
    presents it once Load switches, never a superseded version. The gold partitions recomputed are those of the
    run's rows and of the touched partitions' previous versions, so a gold partition or row whose curated rows
    all moved away or were emptied is recomputed too: the manifest's `recomputed` lists every one, and Load
    removes those the recompute left without rows."""
    aggregates = args.contract.get("pipeline", {}).get("aggregates") or []
    if not aggregates:
        return []
    run_rows = read_written(spark, data_uri, curated_schema)
    earlier = None
    superseded: list[DataFrame] = []
    if touched is not None:  # a merge wrote whole partitions: the rest of the table is the catalog's others
        existing = args.merge_with or {}
        by = partition_columns(args.contract.get("pipeline", {}).get("partition_by"))
        untouched = sorted(set(existing) - set(touched))
        frames = read_partitions(spark, existing, untouched, curated_schema, by)
        earlier = reduce(DataFrame.unionByName, frames) if frames else None
        superseded = read_partitions(spark, existing, touched, curated_schema, by)
    elif args.dataset in args.references:
        earlier = read_curated_table(spark, args.references[args.dataset], curated_schema, s3_client)
        if earlier is not None:  # a rerun of this upload replaces its own earlier rows
            earlier = earlier.where(
                F.col("_ingest_id").isNull() | (F.col("_ingest_id") != F.lit(args.ingest_id))
            )
    section = []
    for aggregate in aggregates:
        parts = list(aggregate.get("partition_by") or [])
        recomputed = gold_partitions([run_rows, *superseded], parts) if parts else {}
        view = aggregate_view(run_rows, earlier, parts, list(recomputed.values()))
        gold = compute_aggregate(spark, aggregate, args.dataset, view, references).persist()
        try:
            rows = gold.count()
            gold_uri = f"{args.output}/{GOLD_FOLDER}/{aggregate['name']}"
            write_curated(gold, gold_uri, parts)
            files = list_data_files(gold_uri, s3_client)
            section.append(
                {
                    "name": aggregate["name"],
                    "rows_written": rows,
                    "replace": "partitions" if parts else "table",
                    "partitions": partitions_of(files),
                    "recomputed": sorted(recomputed),
                    "files": files,
                    "columns": _column_types(gold.schema, [c for c in gold.columns if c not in parts]),
                    "partition_keys": _column_types(gold.schema, parts),
                }
            )
        finally:
            gold.unpersist()
    return section


def run(
    spark: SparkSession,
    args: JobArgs,
    source: str,
    references: Mapping[str, DataFrame],
    s3_client: Any = None,
) -> dict[str, Any]:
    """Reads the staging Parquet at `source`, transforms it with the `references` (the joined datasets' curated
    tables), writes `<output>/data/`, the gold tables under `<output>/gold/<name>/` and `<output>/_manifest.json`
    (last); returns the manifest."""
    contract = args.contract
    lineage = Lineage(args.ingest_id, args.source_key, args.ingested_at)
    staging = read_staging(spark, source)
    rows_read = staging.count()  # Parquet footers only
    parts = partition_columns(contract.get("pipeline", {}).get("partition_by"))
    data_uri = f"{args.output}/{DATA_FOLDER}"
    conformed = conform_staging(staging, contract)
    drops = steps_drop_rows(contract)
    rule = merge_rule(contract) if args.merge_with is not None else None
    if drops or rule:  # counted before the steps drop rows, then written: compute the dedupe once
        conformed = conformed.persist()
    merge = merged = None
    try:
        rows_kept = conformed.count() if drops else None
        curated = shape_curated(conformed, contract, lineage, references)
        if rule is not None and args.merge_with is not None:
            merged, counts, touched = merge_curated(spark, curated, args.merge_with, rule, parts)
            curated = merged.drop(SOURCE)
            if rows_kept is None:  # the run's rows, whichever version won
                rows_kept = sum(counts.values())
        write_curated(curated, data_uri, parts)
    finally:
        if drops or rule:
            conformed.unpersist()
        if merged is not None:
            merged.unpersist()
    # Counted from the written files' footers: one pass over the rows instead of a count and a write.
    rows_written = read_written(spark, data_uri, curated.schema).count()
    rows_kept = rows_written if rows_kept is None else rows_kept
    merged_touched = touched if rule is not None and args.merge_with is not None else None
    gold = build_gold(spark, args, curated.schema, data_uri, references, s3_client, merged_touched)
    files = list_data_files(data_uri, s3_client)
    if rule is not None and args.merge_with is not None:
        written = partitions_of(files) or ([""] if rows_written else [])
        merge = merge_section(counts, touched, written, args.merge_with)
    manifest = {
        "run_id": args.run_id,
        "dataset": args.dataset,
        "rows_read": rows_read,
        "rows_deduped": rows_read - rows_kept,
        "rows_written": rows_written,
        "partitions": partitions_of(files),
        "files": files,
        "columns": _column_types(curated.schema, [c for c in curated.columns if c not in parts]),
        "partition_keys": _column_types(curated.schema, parts),
    }
    if merge is not None:
        manifest["merge"] = merge
    if contract.get("pipeline", {}).get("aggregates"):
        manifest["gold"] = gold
    write_json(f"{args.output}/{MANIFEST_NAME}", manifest, s3_client)
    logger.info("transform %s run %s: %s", args.dataset, args.run_id, {k: manifest[k] for k in _COUNTS})
    return manifest
