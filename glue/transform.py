"""Transform job: typed staging Parquet of one ingest -> deduplicated, partitioned curated Parquet + manifest,
joined with reference datasets' curated tables, plus the contract's gold tables (aggregates).

Glue ships this one file, so it cannot import sluice_lib: the contract arrives as `Contract.to_json()`
and is used as a plain dict. The transforms assume a UTC session time zone (`main` sets it).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

logger = logging.getLogger("sluice.transform")

LINEAGE_COLUMNS = ("_ingest_id", "_source_key", "_ingested_at", "_row_hash")
ROW_ORDER = "_row_order"
DATE_PARTS = ("year", "month", "day", "hour")
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "Zulu"})
MAX_RECORDS_PER_FILE = 5_000_000  # splits a huge partition into several files instead of one giant one
_INGEST_DIR = re.compile(r"(?:^|/)ingest_id=([^/]+)/*(?:[^/]*\.parquet)?$")

_COUNTS = ("rows_read", "rows_deduped", "rows_written")
REQUIRED_ARGS = ("run_id", "dataset", "source", "output", "contract")
OPTIONAL_ARGS = ("ingest_id", "source_key", "ingested_at", "staging_table", "staging_database", "references")
STAGING_PARTITION_KEY = "ingest_id"  # the staging tables' one partition key (Validate writes ingest_id=<id>/)
GOLD_FOLDER = "gold"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

# Contract type -> Spark type of the curated column.
CONTRACT_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "integer": T.LongType(),
    "number": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "datetime": T.TimestampType(),
    "time": T.StringType(),
    "year": T.IntegerType(),
}
_INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
# Staging types each contract type accepts. Strict on purpose: staging is typed by Validate from the
# same contract, so e.g. a bigint `account` (leading zeros lost) or a string `created` means the two
# disagree, and casting would hide it.
ACCEPTED_STAGING_TYPES: dict[str, tuple[type[T.DataType], ...]] = {
    "string": (T.StringType,),
    "integer": _INTEGRAL,
    "number": (*_INTEGRAL, T.FloatType, T.DoubleType, T.DecimalType),
    "boolean": (T.BooleanType,),
    "date": (T.DateType,),
    "datetime": (T.TimestampType, T.TimestampNTZType),  # NTZ wall-clock time is read as UTC
    "time": (T.StringType,),
    "year": _INTEGRAL,
}


# --- errors (named for the Glue run's error message; this script cannot import sluice_lib.errors) -------


class JobArgumentError(ValueError):
    """A job argument is missing or malformed."""


class StagingSchemaError(ValueError):
    """The staging data contradicts the contract (missing columns, types that cannot be cast)."""


class StagingNotFoundError(RuntimeError):
    """The staging location holds no readable Parquet."""


class ReferenceNotFoundError(RuntimeError):
    """A dataset the contract joins has no curated data at the location given in --references."""


class ReferenceSchemaError(ValueError):
    """A joined dataset's curated table lacks the key or selected columns the contract names."""


class AggregateError(ValueError):
    """An aggregate's SQL fails, or its result lacks the partition or serving columns the contract names."""


# --- arguments -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobArgs:
    run_id: str
    dataset: str
    source: str
    output: str
    contract: dict[str, Any]
    ingest_id: str
    source_key: str | None
    ingested_at: datetime
    staging_table: str | None = None
    staging_database: str | None = None
    job_name: str | None = None
    references: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Lineage:
    """Where the rows came from; stamped on every curated row."""

    ingest_id: str
    source_key: str | None
    ingested_at: datetime


def parse_job_args(raw: Mapping[str, str | None], *, local: bool, now: datetime | None = None) -> JobArgs:
    """Validates the raw `--name value` arguments; every error names the argument and what is wrong."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
    missing = [f"--{n}" for n in REQUIRED_ARGS if values.get(n) is None]
    empty = [f"--{n}" for n in REQUIRED_ARGS if values.get(n) == ""]
    if missing or empty:
        problems = [f"missing required arguments: {', '.join(missing)}"] if missing else []
        problems += [f"empty arguments: {', '.join(empty)}"] if empty else []
        raise JobArgumentError("; ".join(problems))
    run_id, dataset = str(values["run_id"]), str(values["dataset"])
    source, output = str(values["source"]), str(values["output"]).rstrip("/")
    staging_table = values.get("staging_table") or None
    staging_database = values.get("staging_database") or None
    if staging_table and not staging_database:
        raise JobArgumentError(
            f"--staging_table {staging_table} needs --staging_database (the Glue database the crawler writes to)"
        )
    if not local and not staging_table:
        raise JobArgumentError(
            "--staging_table is required on Glue: the job reads staging through the crawler's catalog table"
        )
    if local:
        # Through the catalog, --source is only checked against the partition's location (main stages it).
        local_paths = (("output", output),) if staging_table else (("source", source), ("output", output))
        for name, uri in local_paths:
            if _is_s3(uri):
                raise JobArgumentError(
                    f"--{name} {uri}: the local runtime (pip pyspark, no S3 filesystem) needs a local path; "
                    "stage s3:// objects to local files first"
                )
    contract = _parse_contract(str(values["contract"]), dataset)

    ingest_id = values.get("ingest_id") or None
    from_path = ingest_id_from_path(source)
    if ingest_id and from_path and ingest_id != from_path:
        raise JobArgumentError(
            f"--ingest_id {ingest_id!r} disagrees with the ingest_id={from_path} folder of --source {source}"
        )
    ingest_id = ingest_id or from_path
    if not ingest_id:
        raise JobArgumentError(f"--ingest_id is not given and --source {source} has no ingest_id=<id> folder")

    ingested_at = now or datetime.now(UTC)
    if values.get("ingested_at"):
        try:
            ingested_at = datetime.fromisoformat(str(values["ingested_at"]))
        except ValueError:
            raise JobArgumentError(
                f"--ingested_at {values['ingested_at']!r} is not an ISO-8601 timestamp"
            ) from None
    if ingested_at.tzinfo is None:
        ingested_at = ingested_at.replace(tzinfo=UTC)  # a naive time is taken as UTC
    references = _parse_references(values.get("references"), local=local)

    return JobArgs(
        run_id=run_id,
        dataset=dataset,
        source=source,
        output=output,
        contract=contract,
        ingest_id=ingest_id,
        source_key=values.get("source_key") or None,
        ingested_at=ingested_at.astimezone(UTC),
        staging_table=staging_table,
        staging_database=staging_database,
        job_name=values.get("JOB_NAME") or None,
        references=references,
    )


def _parse_references(text: str | None, *, local: bool) -> dict[str, str]:
    """`{"<dataset>": "<location of its curated table>"}`: joined datasets, and the dataset itself for
    aggregates (its curated rows of earlier runs). Absent or empty means none."""
    if not text:
        return {}
    try:
        refs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobArgumentError(f"--references is not valid JSON: {exc}") from None
    if not isinstance(refs, dict) or not all(isinstance(v, str) and v for v in refs.values()):
        raise JobArgumentError('--references must be a JSON object {"<dataset>": "<location>", ...}')
    bad = [k for k in refs if not _IDENTIFIER.match(k)]
    if bad:
        raise JobArgumentError(f"--references names datasets that are not lower_snake_case: {bad}")
    if local:
        remote = [k for k, v in refs.items() if _is_s3(v)]
        if remote:
            raise JobArgumentError(
                f"--references {remote}: the local runtime needs local paths; stage s3:// locations first"
            )
    return {k: v.rstrip("/") for k, v in refs.items()}


def _parse_contract(text: str, dataset: str) -> dict[str, Any]:
    """Checks the shape this job relies on; full validation happened in sluice_lib before the run."""
    try:
        contract = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobArgumentError(f"--contract is not valid JSON: {exc}") from None
    if not isinstance(contract, dict):
        raise JobArgumentError("--contract must be a JSON object with dataset, schema and pipeline")
    if contract.get("dataset") != dataset:
        raise JobArgumentError(
            f"--contract is for dataset {contract.get('dataset')!r} but --dataset is {dataset!r}"
        )
    schema = contract.get("schema")
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, list) or not fields:
        raise JobArgumentError("--contract has no schema.fields")
    for i, field in enumerate(fields):
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise JobArgumentError(f"--contract schema.fields[{i}] has no name")
        kind = field.get("type", "string")
        if kind not in CONTRACT_TYPES:
            raise JobArgumentError(
                f"--contract schema.fields[{i}] ({field['name']}) has unknown type {kind!r}"
            )
    if not isinstance(contract.get("pipeline", {}), dict):
        raise JobArgumentError("--contract pipeline must be an object")
    return contract


def ingest_id_from_path(source: str) -> str | None:
    """`.../ingest_id=<id>/` (or a part file inside it) names the ingest."""
    match = _INGEST_DIR.search(source.rstrip("/"))
    return match.group(1) if match else None


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _same_location(a: str, b: str) -> bool:
    def norm(uri: str) -> str:
        return re.sub(r"^s3[an]?://", "s3://", uri).rstrip("/")

    return norm(a) == norm(b)


def resolve_source(args: JobArgs, glue_client: Any = None) -> str:
    """Where the run's staging data is: the location of its `ingest_id=<id>` partition in the catalog table
    the crawler maintains (glue:GetTable, glue:GetPartition), which must be --source.

    Without --staging_table (local runs of this script on files) --source is read directly.
    """
    if not args.staging_table:
        return args.source
    if glue_client is None:
        raise JobArgumentError("--staging_table is given but no Glue client is available to resolve it")
    table = f"{args.staging_database}.{args.staging_table}"
    try:
        found = glue_client.get_table(DatabaseName=args.staging_database, Name=args.staging_table)["Table"]
    except Exception as exc:
        if _error_code(exc) == "EntityNotFoundException":
            raise StagingNotFoundError(
                f"catalog table {table} does not exist: the staging crawler has not catalogued {args.source}"
            ) from exc
        raise
    keys = [key["Name"] for key in found.get("PartitionKeys", [])]
    if keys != [STAGING_PARTITION_KEY]:
        raise StagingSchemaError(
            f"catalog table {table} is partitioned by {keys}, not [{STAGING_PARTITION_KEY}]"
        )
    partition = f"{STAGING_PARTITION_KEY}={args.ingest_id}"
    try:
        got = glue_client.get_partition(
            DatabaseName=args.staging_database, TableName=args.staging_table, PartitionValues=[args.ingest_id]
        )["Partition"]
    except Exception as exc:
        if _error_code(exc) == "EntityNotFoundException":
            raise StagingNotFoundError(
                f"catalog table {table} has no partition {partition}: neither the crawler nor RegisterPartition "
                f"added {args.source}"
            ) from exc
        raise
    location = str(got.get("StorageDescriptor", {}).get("Location") or "")
    if not _same_location(location, args.source):
        raise StagingNotFoundError(
            f"catalog table {table} partition {partition} is at {location or '(no location)'}, "
            f"not at --source {args.source}"
        )
    return location


# --- pure transforms ------------------------------------------------------------------------------------


def snake_case(name: str) -> str:
    """`Offer ID`, `offerId`, `offer-id` -> `offer_id`; a leading digit gets a `_` prefix."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name.strip())
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    if not s:
        raise StagingSchemaError(f"column name {name!r} has no letters or digits")
    return f"_{s}" if s[0].isdigit() else s


def normalise_column_names(df: DataFrame) -> DataFrame:
    """Renames every column to lower snake case; two columns that end up with one name are an error."""
    new = [snake_case(c) for c in df.columns]
    clashes = sorted({n for n in new if new.count(n) > 1})
    if clashes:
        origins = list(zip(df.columns, new, strict=True))
        pairs = "; ".join(f"{n} <- {[c for c, m in origins if m == n]}" for n in clashes)
        raise StagingSchemaError(f"staging columns collide after normalising names: {pairs}")
    return df.toDF(*new)


def check_staging_schema(schema: T.StructType, fields: Sequence[Mapping[str, Any]]) -> None:
    """Raises StagingSchemaError naming every contract column that is missing or has an incompatible type."""
    present = {f.name: f.dataType for f in schema.fields}
    missing = [f["name"] for f in fields if f["name"] not in present]
    wrong = []
    for f in fields:
        actual = present.get(f["name"])
        if actual is None or isinstance(actual, T.NullType):
            continue
        if not isinstance(actual, ACCEPTED_STAGING_TYPES[f.get("type", "string")]):
            wrong.append(f"{f['name']} ({actual.simpleString()}, contract says {f.get('type', 'string')})")
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if wrong:
        problems.append(f"types that cannot be cast: {', '.join(wrong)}")
    if problems:
        raise StagingSchemaError("staging data contradicts the contract: " + "; ".join(problems))


def cast_to_contract(df: DataFrame, fields: Sequence[Mapping[str, Any]]) -> DataFrame:
    """Selects the contract's fields in contract order, cast to their curated types; other columns drop.

    datetime -> timestamp (an instant; NTZ and offset-less strings are read as UTC in a UTC session),
    integer -> bigint, number -> double, year -> int, time -> string.
    """
    return df.select(
        *(F.col(f["name"]).cast(CONTRACT_TYPES[f.get("type", "string")]).alias(f["name"]) for f in fields)
    )


def trim_strings(df: DataFrame) -> DataFrame:
    """Strips leading and trailing whitespace (not only spaces) from every string column."""
    return df.select(
        *(
            F.regexp_replace(F.col(c.name), r"^\s+|\s+$", "").alias(c.name)
            if isinstance(c.dataType, T.StringType)
            else F.col(c.name)
            for c in df.schema.fields
        )
    )


def dedupe_by_key(
    df: DataFrame, primary_key: Sequence[str], order_by: str | None, tiebreak: str | None = None
) -> DataFrame:
    """Keeps the last row per primary key: highest `order_by` (null = lowest), then highest `tiebreak`.

    `tiebreak` should be unique per row (input line order, or `_row_hash`) so the result is deterministic.
    """
    if not primary_key:
        raise ValueError("dedupe_by_key needs a primary key")
    ordering = [F.col(c).desc_nulls_last() for c in (order_by, tiebreak) if c]
    if not ordering:
        raise ValueError("dedupe_by_key needs order_by or tiebreak to decide which row is last")
    window = Window.partitionBy(*primary_key).orderBy(*ordering)
    rank = "__sluice_rank"
    return df.withColumn(rank, F.row_number().over(window)).where(F.col(rank) == 1).drop(rank)


def _hash_text(column: str, data_type: T.DataType) -> Column:
    """Length-prefixed text of one value (`5:hello`), `-` for null: unambiguous once concatenated."""
    col = F.col(column)
    if isinstance(data_type, T.TimestampType):
        text = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    else:
        text = col.cast("string")
    prefixed = F.concat(F.length(text).cast("string"), F.lit(":"), text)
    return F.when(col.isNull(), F.lit("-")).otherwise(prefixed)


def add_lineage(
    df: DataFrame,
    *,
    ingest_id: str,
    source_key: str | None,
    ingested_at: datetime,
    hash_columns: Sequence[str],
) -> DataFrame:
    """Adds `_ingest_id`, `_source_key`, `_ingested_at` (UTC) and `_row_hash`.

    `_row_hash` = hex sha2-256 of the concatenated `_hash_text` of `hash_columns` in the given order:
    strings as they are, numbers and booleans as Spark casts them to string, dates `yyyy-MM-dd`,
    timestamps `yyyy-MM-ddTHH:mm:ss.ffffffZ`.
    """
    if ingested_at.tzinfo is None:
        raise ValueError("ingested_at must be timezone-aware")
    types = {f.name: f.dataType for f in df.schema.fields}
    unknown = [c for c in hash_columns if c not in types]
    if unknown:
        raise ValueError(f"hash columns not in the DataFrame: {', '.join(unknown)}")
    return df.withColumns(
        {
            "_ingest_id": F.lit(ingest_id).cast("string"),
            "_source_key": F.lit(source_key).cast("string"),
            "_ingested_at": F.lit(ingested_at.astimezone(UTC)).cast("timestamp"),
            "_row_hash": F.sha2(F.concat(*(_hash_text(c, types[c]) for c in hash_columns)), 256),
        }
    )


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


# --- composition ----------------------------------------------------------------------------------------


def _require_utc_session(df: DataFrame) -> None:
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in UTC_NAMES:
        raise RuntimeError(f"spark.sql.session.timeZone is {zone!r}; the transforms need UTC")


def conform_staging(df: DataFrame, contract: Mapping[str, Any]) -> DataFrame:
    """Steps 1-5: normalise names, check against the contract, cast, trim, dedupe.

    Dedupe ties are broken by row order taken before any shuffle, i.e. the staging file's line order
    (staging holds one file per ingest; across several files Spark orders splits by size).
    """
    _require_utc_session(df)
    fields = contract["schema"]["fields"]
    df = normalise_column_names(df)
    check_staging_schema(df.schema, fields)
    df = cast_to_contract(df, fields)
    df = trim_strings(df)
    dedupe = contract.get("pipeline", {}).get("dedupe")
    if dedupe is None:
        return df
    df = df.withColumn(ROW_ORDER, F.monotonically_increasing_id())
    df = dedupe_by_key(df, contract["schema"].get("primaryKey") or [], dedupe.get("order_by"), ROW_ORDER)
    return df.drop(ROW_ORDER)


def shape_curated(
    df: DataFrame,
    contract: Mapping[str, Any],
    lineage: Lineage,
    references: Mapping[str, DataFrame] | None = None,
) -> DataFrame:
    """Steps 6-8 on conformed rows: lineage (hash over the contract fields), transform steps (joins with
    the `references` DataFrames, then rename, derive, filter), partitions.

    Columns come out as data columns, then the lineage columns, then the partition columns.
    """
    _require_utc_session(df)
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


# --- gold tables ----------------------------------------------------------------------------------------


def partition_values(df: DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The distinct values of `columns` in `df` (the gold partitions a run's rows touch)."""
    return [tuple(row) for row in df.select(*columns).distinct().collect()]


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


def aggregate_view(run_rows: DataFrame, earlier: DataFrame | None, partition_by: Sequence[str]) -> DataFrame:
    """The curated rows an aggregate sees: this run's rows and the earlier runs' rows (other ingests) of the
    gold partitions the run touches, or of the whole table when the aggregate is not partitioned."""
    if earlier is None:
        return run_rows
    if partition_by:
        earlier = restrict_to_partitions(earlier, partition_by, partition_values(run_rows, partition_by))
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


# --- I/O ------------------------------------------------------------------------------------------------


def _is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://", "s3n://"))


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


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


def read_references(
    spark: SparkSession, contract: Mapping[str, Any], locations: Mapping[str, str], s3_client: Any = None
) -> dict[str, DataFrame]:
    """The curated tables of the datasets the contract joins, read from `locations` (--references)."""
    frames: dict[str, DataFrame] = {}
    for join in (contract.get("pipeline", {}).get("transform") or {}).get("join") or []:
        name = join["dataset"]
        if name in frames:
            continue
        if name not in locations:
            raise ReferenceNotFoundError(
                f"the contract joins {name!r} but --references gives no location for it"
            )
        frame = read_curated_table(spark, locations[name], s3_client=s3_client)
        if frame is None:
            raise ReferenceNotFoundError(
                f"--references {name}: {locations[name]} holds no curated Parquet; load {name} first"
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
    if _is_s3(data_uri):
        bucket, prefix = _split_s3(data_uri.rstrip("/") + "/")
        found = []
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [obj["Key"][len(prefix) :] for obj in page.get("Contents", [])]
    else:
        root = _local_path(data_uri)
        found = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in found if _is_data_file(f))


def write_json(uri: str, payload: Mapping[str, Any], s3_client: Any = None) -> None:
    body = json.dumps(payload, indent=2)
    if _is_s3(uri):
        bucket, key = _split_s3(uri)
        s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    else:
        path = _local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")


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
) -> list[dict[str, Any]]:
    """Computes every aggregate of the contract over the run's curated rows (read back from `data_uri`) and
    the earlier curated rows of the touched partitions; writes `<output>/gold/<name>/`; returns the
    manifest's `gold` section."""
    aggregates = args.contract.get("pipeline", {}).get("aggregates") or []
    if not aggregates:
        return []
    run_rows = read_written(spark, data_uri, curated_schema)
    earlier = None
    if args.dataset in args.references:
        earlier = read_curated_table(spark, args.references[args.dataset], curated_schema, s3_client)
    if earlier is not None:  # a rerun of this upload replaces its own earlier rows
        earlier = earlier.where(F.col("_ingest_id").isNull() | (F.col("_ingest_id") != F.lit(args.ingest_id)))
    section = []
    for aggregate in aggregates:
        parts = list(aggregate.get("partition_by") or [])
        view = aggregate_view(run_rows, earlier, parts)
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
                    "partitions": sorted({f.rsplit("/", 1)[0] for f in files if "/" in f}),
                    "files": files,
                    "columns": _column_types(gold.schema, [c for c in gold.columns if c not in parts]),
                    "partition_keys": _column_types(gold.schema, parts),
                }
            )
        finally:
            gold.unpersist()
    return section


def _steps_drop_rows(contract: Mapping[str, Any]) -> bool:
    """Whether the transform steps after the dedupe can drop rows (a filter or an inner join)."""
    steps = contract.get("pipeline", {}).get("transform") or {}
    return bool(steps.get("filter")) or any(j.get("how", "left") == "inner" for j in steps.get("join") or [])


def run(
    spark: SparkSession,
    args: JobArgs,
    s3_client: Any = None,
    glue_client: Any = None,
    stage: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Reads, transforms, writes `<output>/data/`, the gold tables under `<output>/gold/<name>/` and
    `<output>/_manifest.json`; returns the manifest.

    `stage` maps an s3:// location to a local folder holding its objects (the local runtime: pip pyspark has
    no S3 filesystem); on Glue it is None and Spark reads S3 itself.
    """
    contract = args.contract
    lineage = Lineage(args.ingest_id, args.source_key, args.ingested_at)
    references = read_references(spark, contract, args.references, s3_client)
    source = resolve_source(args, glue_client)
    if stage is not None and _is_s3(source):
        source = stage(source)
    staging = read_staging(spark, source)
    rows_read = staging.count()  # Parquet footers only
    parts = partition_columns(contract.get("pipeline", {}).get("partition_by"))
    data_uri = f"{args.output}/data"
    conformed = conform_staging(staging, contract)
    drops = _steps_drop_rows(contract)
    if drops:  # counted before the steps drop rows, then written: compute the dedupe once
        conformed = conformed.persist()
    try:
        rows_kept = conformed.count() if drops else None
        curated = shape_curated(conformed, contract, lineage, references)
        write_curated(curated, data_uri, parts)
    finally:
        if drops:
            conformed.unpersist()
    # Counted from the written files' footers: one pass over the rows instead of a count and a write.
    rows_written = read_written(spark, data_uri, curated.schema).count()
    rows_kept = rows_written if rows_kept is None else rows_kept
    gold = build_gold(spark, args, curated.schema, data_uri, references, s3_client)
    files = list_data_files(data_uri, s3_client)
    manifest = {
        "run_id": args.run_id,
        "dataset": args.dataset,
        "rows_read": rows_read,
        "rows_deduped": rows_read - rows_kept,
        "rows_written": rows_written,
        "partitions": sorted({f.rsplit("/", 1)[0] for f in files if "/" in f}),
        "files": files,
        "columns": _column_types(curated.schema, [c for c in curated.columns if c not in parts]),
        "partition_keys": _column_types(curated.schema, parts),
    }
    if contract.get("pipeline", {}).get("aggregates"):
        manifest["gold"] = gold
    write_json(f"{args.output}/_manifest.json", manifest, s3_client)
    logger.info("transform %s run %s: %s", args.dataset, args.run_id, {k: manifest[k] for k in _COUNTS})
    return manifest


# --- entry point ----------------------------------------------------------------------------------------


def get_or_create_spark() -> SparkSession:
    """The active session, or one local session per process (the local runtime reuses it across runs)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Spark's Python workers default to `python3` on PATH, which need not be this interpreter's minor
    # (PYTHON_VERSION_MISMATCH): run them on the driver's own interpreter unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(os.environ.get("SLUICE_SPARK_MASTER", "local[1]"))
        .appName("sluice-transform")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark


def configure_session(spark: SparkSession) -> None:
    """The settings every run relies on, set on Glue and locally alike (not left to either's defaults)."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # ANSI SQL, Spark 4's and Glue 6.0's default, stated so that no environment differs: an invalid cast or an
    # integer overflow in a contract's derive, filter or aggregate fails the job instead of writing a null or a
    # wrapped number (try_cast, try_divide, try_add return null). The job's own casts are widenings of staging
    # types that check_staging_schema accepted, and cannot fail.
    spark.conf.set("spark.sql.ansi.enabled", "true")
    # Standard INT64 micros (isAdjustedToUTC) instead of Spark's legacy INT96 default.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Staging is written by Arrow in the proleptic Gregorian calendar (as Spark 3 itself uses), without the
    # Spark version metadata that tells Spark not to rebase: read and write dates before 1582 and timestamps
    # before 1900 as they are instead of failing the job (the default, EXCEPTION).
    for mode in ("datetimeRebaseModeInRead", "datetimeRebaseModeInWrite", "int96RebaseModeInRead"):
        spark.conf.set(f"spark.sql.parquet.{mode}", "CORRECTED")


def _glue() -> tuple[Any, Any, Any] | None:
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return None
    return GlueContext, Job, getResolvedOptions


def _local_options(argv: Sequence[str]) -> dict[str, str | None]:
    parser = argparse.ArgumentParser(prog="transform.py", add_help=False)
    for name in ("JOB_NAME", *REQUIRED_ARGS, *OPTIONAL_ARGS):
        parser.add_argument(f"--{name}")
    parsed, _ = parser.parse_known_args(list(argv))  # tolerate Glue's own --job-bookmark-option etc.
    return vars(parsed)


def _glue_options(argv: Sequence[str], get_resolved_options: Any) -> dict[str, str | None]:
    given = {a.split("=", 1)[0][2:] for a in argv if a.startswith("--")}
    missing = [n for n in ("JOB_NAME", *REQUIRED_ARGS) if n not in given]
    if missing:
        raise JobArgumentError(f"missing required arguments: {', '.join('--' + n for n in missing)}")
    wanted = ["JOB_NAME", *REQUIRED_ARGS, *(n for n in OPTIONAL_ARGS if n in given)]
    resolved = dict(get_resolved_options([sys.argv[0], *argv], wanted))
    return {n: resolved.get(n) for n in ("JOB_NAME", *REQUIRED_ARGS, *OPTIONAL_ARGS)}


def main(
    argv: Sequence[str] | None = None,
    *,
    s3_client: Any = None,
    glue_client: Any = None,
    stage: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """One entry for Glue and local runs.

    Arguments: --run_id --dataset --source --output --contract (required), --JOB_NAME (required on Glue),
    --ingest_id --source_key --ingested_at --staging_table --staging_database --references (optional; on Glue
    --staging_table and --staging_database are required). Unknown arguments (Glue's own --job-bookmark-option,
    --TempDir, ...) are ignored. The clients are made here when not given; `stage` is for the local runtime
    (see `run`). Returns the manifest.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    glue = _glue()
    if glue is None:
        args = parse_job_args(_local_options(argv), local=True)
        spark, job = get_or_create_spark(), None
    else:
        glue_context_cls, job_cls, get_resolved_options = glue
        raw = _glue_options(argv, get_resolved_options)
        args = parse_job_args(raw, local=False)
        from pyspark.context import SparkContext

        glue_context = glue_context_cls(SparkContext.getOrCreate())
        spark = glue_context.spark_session
        job = job_cls(glue_context)
        job.init(args.job_name, {k: v for k, v in raw.items() if v is not None})
    configure_session(spark)
    if s3_client is None and any(_is_s3(u) for u in (args.output, args.source, *args.references.values())):
        import boto3

        s3_client = boto3.client("s3")
    if glue_client is None and args.staging_table:
        import boto3

        glue_client = boto3.client("glue")
    manifest = run(spark, args, s3_client, glue_client, stage)
    if job is not None:
        job.commit()
    return manifest


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    main()
