"""The Lambda transform engine without Spark: the engine rule, Java's double text, Spark's partition directory
names, and a small run of the DuckDB engine against rows written out by hand. (tests/glue holds it to the Glue
job's output on generated data.)"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice_lib.contracts import Contract, ContractStore, load_contract_text, parse_contract
from sluice_lib.curated import Lineage
from sluice_lib.errors import LambdaEngineIneligibleError, StagingNotFoundError, StagingSchemaError
from sluice_lib.transform_engine import choose_engine, engines, lambda_blockers
from sluice_lib.transform_lambda.engine import partition_text, transform_folder
from sluice_lib.transform_lambda.java_text import java_double_to_string

ROOT = Path(__file__).resolve().parents[2]
STORE = ContractStore(ROOT / "contracts")
TS = pa.timestamp("us", tz="UTC")
LINEAGE = Lineage("ing1", "incoming/offers/o.csv", datetime(2025, 5, 1, 10, 0, tzinfo=UTC))


def _contract(dataset: str) -> Contract:
    found = STORE.get(dataset)
    assert found is not None
    return found


def _inline(text: str) -> Contract:
    return parse_contract(load_contract_text(text), "inline")


# --- the rule -------------------------------------------------------------------------------------------


def test_engines_of_shipped_contracts_lambda_only_without_spark_sql():
    assert {d: engines(_contract(d)) for d in STORE.datasets()} == {
        "offers": ["lambda", "glue"],
        "orders": ["glue"],
        "signups": ["glue"],
        "songs": ["lambda", "glue"],
        "streams": ["glue"],
        "tickets": ["glue"],
        "users": ["lambda", "glue"],
    }


def test_lambda_blockers_name_each_spark_sql_part_of_the_pipeline():
    assert lambda_blockers(_contract("signups")) == ["transform.filter", "aggregates"]
    assert lambda_blockers(_contract("streams")) == [
        "transform.join",
        "transform.derive",
        "transform.filter",
        "aggregates",
    ]
    assert lambda_blockers(_contract("tickets")) == ["transform.derive"]


def test_lambda_blockers_partition_columns_of_number_or_datetime_type():
    contract = _inline(
        """
dataset: odd
schema:
  fields: [{name: a, type: number}, {name: b, type: datetime}, {name: c, type: string}]
pipeline:
  transform: {rename: {b: bee}}
  partition_by: {columns: [a, bee, c]}
"""
    )
    assert lambda_blockers(contract) == ["partition_by.columns of type datetime/number"]


def test_choose_engine_lambda_up_to_the_threshold_then_glue():
    offers = _contract("offers")
    assert choose_engine(offers, 1_000_000, 1_000_000).engine == "lambda"
    assert choose_engine(offers, 1_000_001, 1_000_000).fields() == {
        "transform_engine": "glue",
        "transform_engine_reason": "1,000,001 bytes > SmallFileMaxBytes 1,000,000",
    }
    assert choose_engine(offers, 10, 0).fields() == {
        "transform_engine": "glue",
        "transform_engine_reason": "SmallFileMaxBytes is 0: the Lambda engine is off",
    }
    assert choose_engine(_contract("signups"), 10, 1_000_000).fields() == {
        "transform_engine": "glue",
        "transform_engine_reason": "the contract needs Spark: transform.filter, aggregates",
    }


# --- Java's text of a double (what Spark's cast to string gives) --------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e7, "1.0E7"),
        (9999999.0, "9999999.0"),
        (1e-3, "0.001"),
        (1e-4, "1.0E-4"),
        (0.5, "0.5"),
        (100.0, "100.0"),
        (123.456, "123.456"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (5e-324, "4.9E-324"),
        (2e23, "1.9999999999999998E23"),
        (1e23, "9.999999999999999E22"),
        (1.6130484589462314e17, "1.61304845894623136E17"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (9007199254740993.0, "9.007199254740992E15"),
    ],
)
def test_java_double_to_string_prints_as_java_17(value: float, text: str):
    assert java_double_to_string(value) == text


def test_partition_text_escapes_as_spark_and_names_null_and_empty_the_default_partition():
    assert partition_text("a/b=c:d%e", "string") == "a%2Fb%3Dc%3Ad%25e"
    assert partition_text("with space, naïve", "string") == "with space, naïve"
    assert partition_text("tab\there", "string") == "tab%09here"
    assert partition_text(None, "int") == "__HIVE_DEFAULT_PARTITION__"
    assert partition_text("", "string") == "__HIVE_DEFAULT_PARTITION__"
    assert partition_text(date(2024, 2, 29), "date") == "2024-02-29"
    assert partition_text(True, "boolean") == "true"
    assert partition_text(7, "int") == "7"


# --- the engine ---------------------------------------------------------------------------------------------


def _offers_staging(folder: Path, rows: list[dict]) -> Path:
    staging = folder / "staging" / "ingest_id=ing1"
    staging.mkdir(parents=True)
    columns = [
        "account",
        "offer_id",
        "catalog_id",
        "account_type_code",
        "offer_type_id",
        "created",
        "expire",
        "risk",
    ]
    types = {"created": TS, "expire": TS}
    table = pa.table({c: pa.array([r[c] for r in rows], types.get(c, pa.string())) for c in columns})
    pq.write_table(table, staging / "part-00000.parquet")
    return staging


def _offer(account: str, created: str, risk: str) -> dict:
    return {
        "account": account, "offer_id": "000000000001", "catalog_id": "1" * 18, "account_type_code": " AB ",
        "offer_type_id": "00000001", "created": datetime.fromisoformat(created),
        "expire": datetime(2025, 6, 1, tzinfo=UTC), "risk": risk,
    }  # fmt: skip


def test_transform_folder_keeps_last_row_per_key_partitions_and_writes_the_manifest(tmp_path: Path):
    staging = _offers_staging(
        tmp_path,
        [
            _offer("00000001", "2025-04-02T07:30:00+00:00", "low"),
            _offer("00000001", "2025-04-02T07:30:00+00:00", "high"),  # same created: the later line wins
            _offer("00000001", "2025-03-01T00:00:00+00:00", "medium"),  # older: dropped
            _offer("00000002", "2025-03-31T23:59:59.999999+00:00", "low"),
        ],
    )

    manifest = transform_folder(
        staging, tmp_path / "out", _contract("offers"), run_id="run-1", lineage=LINEAGE
    )

    assert manifest == {
        "run_id": "run-1",
        "dataset": "offers",
        "rows_read": 4,
        "rows_deduped": 2,
        "rows_written": 2,
        "partitions": ["year=2025/month=3", "year=2025/month=4"],
        "files": [
            "year=2025/month=3/part-00000.snappy.parquet",
            "year=2025/month=4/part-00000.snappy.parquet",
        ],
        "columns": [
            {"name": "account", "type": "string"},
            {"name": "offer_id", "type": "string"},
            {"name": "catalog_id", "type": "string"},
            {"name": "account_type_code", "type": "string"},
            {"name": "offer_type_id", "type": "string"},
            {"name": "created", "type": "timestamp"},
            {"name": "expire", "type": "timestamp"},
            {"name": "risk", "type": "string"},
            {"name": "_ingest_id", "type": "string"},
            {"name": "_source_key", "type": "string"},
            {"name": "_ingested_at", "type": "timestamp"},
            {"name": "_row_hash", "type": "string"},
        ],
        "partition_keys": [{"name": "year", "type": "int"}, {"name": "month", "type": "int"}],
    }
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text()) == manifest
    april = pq.read_table(tmp_path / "out" / "data" / "year=2025" / "month=4" / "part-00000.snappy.parquet")
    assert april.to_pylist() == [
        {
            "account": "00000001", "offer_id": "000000000001", "catalog_id": "1" * 18, "account_type_code": "AB",
            "offer_type_id": "00000001", "created": datetime(2025, 4, 2, 7, 30, tzinfo=UTC),
            "expire": datetime(2025, 6, 1, tzinfo=UTC), "risk": "high", "_ingest_id": "ing1",
            "_source_key": "incoming/offers/o.csv", "_ingested_at": datetime(2025, 5, 1, 10, 0, tzinfo=UTC),
            "_row_hash": hashlib.sha256(
                b"8:00000001" b"12:000000000001" b"18:111111111111111111" b"2:AB" b"8:00000001"
                b"27:2025-04-02T07:30:00.000000Z" b"27:2025-06-01T00:00:00.000000Z" b"4:high"
            ).hexdigest(),
        }
    ]  # fmt: skip
    assert [f.nullable for f in april.schema] == [True] * 8 + [False, False, False, True]
    assert (
        pq.read_metadata(tmp_path / "out" / "data" / "year=2025" / "month=4" / "part-00000.snappy.parquet")
        .row_group(0)
        .column(0)
        .compression
        == "SNAPPY"
    )


def test_transform_folder_replaces_an_earlier_output(tmp_path: Path):
    staging = _offers_staging(tmp_path, [_offer("00000001", "2025-04-02T07:30:00+00:00", "low")])
    stale = tmp_path / "out" / "data" / "year=1999" / "month=1"
    stale.mkdir(parents=True)
    (stale / "part-00000.snappy.parquet").write_bytes(b"old")

    manifest = transform_folder(
        staging, tmp_path / "out", _contract("offers"), run_id="run-1", lineage=LINEAGE
    )

    assert manifest["partitions"] == ["year=2025/month=4"]
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.parquet")
    ) == ["data/year=2025/month=4/part-00000.snappy.parquet"]


def test_transform_folder_refuses_a_contract_that_needs_spark(tmp_path: Path):
    staging = _offers_staging(tmp_path, [_offer("00000001", "2025-04-02T07:30:00+00:00", "low")])
    with pytest.raises(
        LambdaEngineIneligibleError, match=r"signups: the contract needs Spark \(transform.filter"
    ):
        transform_folder(staging, tmp_path / "out", _contract("signups"), run_id="r", lineage=LINEAGE)


def test_transform_folder_names_missing_and_mistyped_staging_columns(tmp_path: Path):
    staging = tmp_path / "staging" / "ingest_id=ing1"
    staging.mkdir(parents=True)
    pq.write_table(
        pa.table({"Account": ["1"], "created": ["not a timestamp"]}), staging / "part-00000.parquet"
    )
    with pytest.raises(StagingSchemaError) as caught:
        transform_folder(staging, tmp_path / "out", _contract("offers"), run_id="r", lineage=LINEAGE)
    assert str(caught.value) == (
        "staging data contradicts the contract: missing columns: offer_id, catalog_id, account_type_code, "
        "offer_type_id, expire, risk; types that cannot be cast: created (string, contract says datetime)"
    )


def test_transform_folder_without_staging_files_raises_staging_not_found(tmp_path: Path):
    staging = tmp_path / "staging" / "ingest_id=ing1"
    staging.mkdir(parents=True)
    (staging / "_SUCCESS").write_text("")
    with pytest.raises(StagingNotFoundError):
        transform_folder(staging, tmp_path / "out", _contract("offers"), run_id="r", lineage=LINEAGE)


def test_transform_folder_primary_key_without_dedupe_rule_keeps_later_line_and_counts_the_dropped(
    tmp_path: Path,
):
    staging = tmp_path / "staging" / "ingest_id=ing1"
    staging.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "id": pa.array([1, 1, 2], pa.int64()),
                "name": ["Ann", "Ann2", "Bo"],
                "city": ["Oslo", "Bergen", "Oslo"],
            }
        ),
        staging / "part-00000.parquet",
    )
    contract = _inline(
        "dataset: inline\nschema:\n  fields: [{name: id, type: integer}, {name: name}, {name: city}]\n"
        "  primaryKey: [id]\n"
    )

    manifest = transform_folder(staging, tmp_path / "out", contract, run_id="r", lineage=LINEAGE)

    assert (manifest["rows_read"], manifest["rows_deduped"], manifest["rows_written"]) == (3, 1, 2)
    table = pq.read_table(tmp_path / "out" / "data" / manifest["files"][0]).sort_by("id")
    assert table.select(["id", "name", "city"]).to_pylist() == [
        {"id": 1, "name": "Ann2", "city": "Bergen"},
        {"id": 2, "name": "Bo", "city": "Oslo"},
    ]
