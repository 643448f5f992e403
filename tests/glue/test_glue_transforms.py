"""Pure transforms of the Glue job, each on a tiny DataFrame with expectations written here."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from types import ModuleType

import pytest
from pyspark.sql import DataFrame, Row, SparkSession

from sluice_lib.curated import Lineage
from sluice_lib.errors import StagingSchemaError
from sluice_transform.conform import (
    cast_to_contract,
    check_staging_schema,
    conform_staging,
    dedupe_by_key,
    normalise_column_names,
    trim_strings,
)
from sluice_transform.lineage import add_lineage
from sluice_transform.steps import add_partition_columns, apply_steps, build_curated

pytestmark = pytest.mark.spark


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def aware(value: object) -> object:
    """pyspark collects timestamps as naive local times; make them comparable with UTC datetimes."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return value


def rows(df: DataFrame) -> list[tuple]:
    return [tuple(aware(v) for v in r) for r in df.collect()]


def test_normalise_column_names_mixed_styles_become_lower_snake_case(spark: SparkSession):
    df = spark.createDataFrame(
        [(1, 2, 3, 4, 5)], ["Offer ID", "accountTypeCode", " risk-level ", "HTTPCode", "1st"]
    )

    out = normalise_column_names(df)

    assert out.columns == ["offer_id", "account_type_code", "risk_level", "http_code", "_1st"]
    assert rows(out) == [(1, 2, 3, 4, 5)]


def test_normalise_column_names_two_columns_with_one_name_raise_staging_schema_error(spark: SparkSession):
    df = spark.createDataFrame([(1, 2)], ["Offer ID", "offer_id"])

    with pytest.raises(StagingSchemaError, match=r"offer_id <- \['Offer ID', 'offer_id'\]"):
        normalise_column_names(df)


def test_trim_strings_strips_whitespace_of_string_columns_only(spark: SparkSession):
    df = spark.createDataFrame([("  a b ", 1, "\tx\n"), (None, 2, "y")], "s string, n bigint, t string")

    out = trim_strings(df)

    assert out.schema.simpleString() == "struct<s:string,n:bigint,t:string>"
    assert rows(out) == [("a b", 1, "x"), (None, 2, "y")]


def test_cast_to_contract_selects_fields_in_contract_order_with_curated_types(spark: SparkSession):
    fields = [
        {"name": "created", "type": "datetime"},
        {"name": "qty", "type": "integer"},
        {"name": "price", "type": "number"},
        {"name": "ok", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "yr", "type": "year"},
        {"name": "at", "type": "time"},
        {"name": "name", "type": "string"},
    ]
    df = spark.createDataFrame(
        [("x", "extra", 3, 2, True, date(2025, 3, 1), 2025, "10:30:00", datetime(2025, 3, 1, 23, 30))],
        "name string, dropped string, qty int, price int, ok boolean, day date, yr bigint, at string, "
        "created timestamp_ntz",
    )

    out = cast_to_contract(df, fields)

    assert out.schema.simpleString() == (
        "struct<created:timestamp,qty:bigint,price:double,ok:boolean,day:date,yr:int,at:string,name:string>"
    )
    # timestamp_ntz wall-clock time is read as UTC
    assert rows(out) == [
        (utc("2025-03-01T23:30:00+00:00"), 3, 2.0, True, date(2025, 3, 1), 2025, "10:30:00", "x")
    ]


def test_check_staging_schema_names_missing_and_uncastable_columns(spark: SparkSession):
    schema = spark.createDataFrame([], "account bigint, created string, qty int").schema
    fields = [
        {"name": "account", "type": "string"},
        {"name": "created", "type": "datetime"},
        {"name": "qty", "type": "integer"},
        {"name": "risk", "type": "string"},
    ]

    with pytest.raises(StagingSchemaError) as info:
        check_staging_schema(schema, fields)

    assert str(info.value) == (
        "staging data contradicts the contract: missing columns: risk; types that cannot be cast: "
        "account (bigint, contract says string), created (string, contract says datetime)"
    )


def test_check_staging_schema_accepts_staging_types_of_validate(spark: SparkSession):
    schema = spark.createDataFrame(
        [], "s string, i bigint, n double, b boolean, d date, t timestamp, y bigint"
    ).schema
    fields = [
        {"name": "s", "type": "string"},
        {"name": "i", "type": "integer"},
        {"name": "n", "type": "number"},
        {"name": "b", "type": "boolean"},
        {"name": "d", "type": "date"},
        {"name": "t", "type": "datetime"},
        {"name": "y", "type": "year"},
    ]

    check_staging_schema(schema, fields)


def test_dedupe_by_key_keeps_last_row_by_order_by_then_tiebreak(spark: SparkSession):
    df = spark.createDataFrame(
        [
            ("a", 1, utc("2025-03-01T00:00:00+00:00"), "old", 0),
            ("a", 1, utc("2025-03-02T00:00:00+00:00"), "newest", 1),
            ("a", 1, utc("2025-01-01T00:00:00+00:00"), "older line, later", 2),
            ("b", 1, utc("2025-03-01T00:00:00+00:00"), "tie, first line", 3),
            ("b", 1, utc("2025-03-01T00:00:00+00:00"), "tie, last line", 4),
            ("c", 1, None, "null order_by", 5),
            ("c", 1, utc("2020-01-01T00:00:00+00:00"), "any value beats null", 6),
            ("a", 2, None, "single", 7),
        ],
        "k string, k2 int, created timestamp, v string, line bigint",
    )

    out = dedupe_by_key(df, ["k", "k2"], "created", "line")

    assert sorted((r.k, r.k2, r.v) for r in out.collect()) == [
        ("a", 1, "newest"),
        ("a", 2, "single"),
        ("b", 1, "tie, last line"),
        ("c", 1, "any value beats null"),
    ]
    assert out.columns == ["k", "k2", "created", "v", "line"]


def test_dedupe_by_key_without_order_by_keeps_last_line(spark: SparkSession):
    df = spark.createDataFrame([("a", "first", 0), ("a", "second", 1)], "k string, v string, line bigint")

    out = dedupe_by_key(df, ["k"], None, "line")

    assert rows(out) == [("a", "second", 1)]


def test_add_lineage_stamps_ids_and_hashes_contract_fields_null_safe(spark: SparkSession):
    df = spark.createDataFrame(
        [("ab", 12, utc("2025-03-01T10:00:00.5+01:00"), None), ("ab", None, None, True)],
        "s string, n bigint, t timestamp, b boolean",
    )
    ingested = utc("2025-03-02T08:00:00+02:00")

    out = add_lineage(
        df,
        ingest_id="ing1",
        source_key="incoming/x/f.csv",
        ingested_at=ingested,
        hash_columns=["s", "n", "t", "b"],
    )

    texts = ["2:ab2:1227:2025-03-01T09:00:00.500000Z-", "2:ab--4:true"]
    expected_hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    assert out.columns == ["s", "n", "t", "b", "_ingest_id", "_source_key", "_ingested_at", "_row_hash"]
    got = [tuple(r)[4:] for r in rows(out)]
    assert got == [
        ("ing1", "incoming/x/f.csv", utc("2025-03-02T06:00:00+00:00"), expected_hashes[0]),
        ("ing1", "incoming/x/f.csv", utc("2025-03-02T06:00:00+00:00"), expected_hashes[1]),
    ]
    assert out.schema["_ingested_at"].dataType.simpleString() == "timestamp"


def test_add_lineage_hash_distinguishes_shifted_values_and_nulls(spark: SparkSession):
    df = spark.createDataFrame([("a|b", "c"), ("a", "b|c"), ("", None), (None, "")], "x string, y string")

    out = add_lineage(
        df,
        ingest_id="i",
        source_key=None,
        ingested_at=utc("2025-01-01T00:00:00+00:00"),
        hash_columns=["x", "y"],
    )

    hashes = [r._row_hash for r in out.collect()]
    assert len(set(hashes)) == 4
    assert [r._source_key for r in out.collect()] == [None] * 4


def test_add_partition_columns_date_parts_are_utc_ints(spark: SparkSession):
    df = spark.createDataFrame([(utc("2025-04-01T01:30:00+02:00"),)], "created timestamp")

    out = add_partition_columns(df, {"field": "created", "parts": ["year", "month", "day", "hour"]})

    assert out.schema.simpleString() == "struct<created:timestamp,year:int,month:int,day:int,hour:int>"
    assert [tuple(r)[1:] for r in out.collect()] == [(2025, 3, 31, 23)]


def test_add_partition_columns_plain_columns_pass_through_or_must_exist(spark: SparkSession):
    df = spark.createDataFrame([("low", 1)], "risk string, n bigint")

    assert rows(add_partition_columns(df, {"columns": ["risk"]})) == [("low", 1)]
    with pytest.raises(ValueError, match="partition columns not in the data: region"):
        add_partition_columns(df, {"columns": ["region"]})


def test_apply_steps_renames_then_derives_then_filters(spark: SparkSession):
    df = spark.createDataFrame([("a", 1), ("b", 5), ("c", 10)], "code string, qty bigint")

    out = apply_steps(
        df,
        rename={"qty": "quantity"},
        derive={"double_qty": "quantity * 2", "label": "concat(code, '-', double_qty)"},
        filter="double_qty > 5",
    )

    assert out.columns == ["code", "quantity", "double_qty", "label"]
    assert rows(out) == [("b", 5, 10, "b-10"), ("c", 10, 20, "c-20")]


def test_apply_steps_derive_runs_in_ansi_mode_invalid_cast_fails_and_try_cast_is_null(
    spark: SparkSession, transform: ModuleType
):
    transform.configure_session(spark)
    df = spark.createDataFrame([("a", "12"), ("b", "x")], "code string, qty string")

    safe = apply_steps(df, derive={"n": "try_cast(qty AS int)"})
    assert rows(safe) == [("a", "12", 12), ("b", "x", None)]
    strict = apply_steps(df, derive={"n": "cast(qty AS int)"})
    with pytest.raises(Exception, match="CAST_INVALID_INPUT"):
        strict.collect()


def test_apply_steps_unknown_names_raise_value_error_naming_the_step(spark: SparkSession):
    df = spark.createDataFrame([("a", 1)], "code string, qty bigint")

    with pytest.raises(ValueError, match="rename names unknown columns: nope"):
        apply_steps(df, rename={"nope": "x"})
    with pytest.raises(ValueError, match=r"derive\.bad \(missing \+ 1\)"):
        apply_steps(df, derive={"bad": "missing + 1"})


def test_build_curated_filter_applies_after_dedupe_and_columns_are_ordered(spark: SparkSession):
    contract = {
        "dataset": "orders",
        "schema": {
            "fields": [
                {"name": "order_id", "type": "string"},
                {"name": "status", "type": "string"},
                {"name": "updated", "type": "datetime"},
            ],
            "primaryKey": ["order_id"],
        },
        "pipeline": {
            "partition_by": {"field": "updated", "parts": ["year", "month"], "columns": []},
            "dedupe": {"order_by": "updated"},
            "transform": {
                "rename": {"status": "state"},
                "derive": {"open": "state = 'open'"},
                "filter": "open",
            },
        },
    }
    staging = spark.createDataFrame(
        [
            (" o1 ", "open", utc("2025-01-01T00:00:00+00:00")),
            ("o1", "closed", utc("2025-02-01T00:00:00+00:00")),  # latest o1 is closed: filtered, no fallback
            ("o2", "open ", utc("2025-02-03T00:00:00+00:00")),
        ],
        "Order_Id string, Status string, Updated timestamp",
    )
    lineage = Lineage("ing1", None, utc("2025-03-01T00:00:00+00:00"))

    out = build_curated(staging, contract, lineage)

    assert out.columns == [
        "order_id", "state", "updated", "open",
        "_ingest_id", "_source_key", "_ingested_at", "_row_hash",
        "year", "month",
    ]  # fmt: skip
    assert [
        Row(**r.asDict()) for r in out.select("order_id", "state", "open", "year", "month").collect()
    ] == [Row(order_id="o2", state="open", open=True, year=2025, month=2)]


def test_conform_staging_primary_key_without_dedupe_rule_keeps_the_later_line(spark: SparkSession):
    df = spark.createDataFrame(
        [(1, "Ann", "Oslo"), (1, "Ann2", "Bergen"), (2, "Bo", "Oslo")], "id int, name string, city string"
    )
    keyed = {
        "schema": {
            "fields": [{"name": "id", "type": "integer"}, {"name": "name"}, {"name": "city"}],
            "primaryKey": ["id"],
        },
        "pipeline": {},
    }
    unkeyed = {"schema": {"fields": keyed["schema"]["fields"]}, "pipeline": {}}

    assert rows(conform_staging(df.coalesce(1), keyed)) == [(1, "Ann2", "Bergen"), (2, "Bo", "Oslo")]
    assert len(rows(conform_staging(df.coalesce(1), unkeyed))) == 3  # no key: append-only, nothing dropped
