"""Steps 1-5 (DataFrame -> DataFrame): staging column names, the contract check, casts, trims, dedupe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sluice_lib.curated import raise_if_staging_contradicts, snake_case_columns

ROW_ORDER = "_row_order"
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "Zulu"})
# Contract type -> Spark type of the curated column (its Hive name: sluice_lib.curated.HIVE_TYPES). Types, not
# type names: the name "timestamp" would follow spark.sql.timestampType.
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


def require_utc_session(df: DataFrame) -> None:
    """The transforms assume a UTC session time zone (the entry's configure_session sets it)."""
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in UTC_NAMES:
        raise RuntimeError(f"spark.sql.session.timeZone is {zone!r}; the transforms need UTC")


def normalise_column_names(df: DataFrame) -> DataFrame:
    """Renames every column to lower snake case; two columns that end up with one name are an error."""
    return df.toDF(*snake_case_columns(df.columns))


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
    raise_if_staging_contradicts(missing, wrong)


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


def conform_staging(df: DataFrame, contract: Mapping[str, Any]) -> DataFrame:
    """Steps 1-5: normalise names, check against the contract, cast, trim, dedupe.

    A contract with a `primaryKey` keeps one row per key (with or without `pipeline.dedupe`): the highest
    `dedupe.order_by`, then the later line. Ties are broken by the upload's line order: the staging file's name
    (the fanned-out Validate writes one part per chunk, part-00000, part-00001, ... in file order), then the
    row order taken before any shuffle (Spark reads a file's splits in order; across files it orders splits by
    size, hence the name first).
    """
    require_utc_session(df)
    fields = contract["schema"]["fields"]
    df = normalise_column_names(df)
    check_staging_schema(df.schema, fields)
    df = cast_to_contract(df, fields)
    df = trim_strings(df)
    primary_key = contract["schema"].get("primaryKey") or []
    if not primary_key:  # no key, no dedupe: the table is append-only
        return df
    dedupe = contract.get("pipeline", {}).get("dedupe") or {}
    df = df.withColumn(ROW_ORDER, F.struct(F.input_file_name(), F.monotonically_increasing_id()))
    df = dedupe_by_key(df, primary_key, dedupe.get("order_by"), ROW_ORDER)
    return df.drop(ROW_ORDER)
