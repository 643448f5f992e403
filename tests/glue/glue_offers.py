"""Shared fixtures of the Glue job tests: typed offers staging as Validate writes it, job arguments, and a
stand-in for the Glue runtime's awsglue package."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

OFFERS_COLUMNS = [
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
]
TS = pa.timestamp("us", tz="UTC")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def offers_staging(rows: list[tuple]) -> pa.Table:
    """Typed staging as Validate writes it: contract order, strings and timestamp(us, UTC)."""
    names = [
        "account",
        "offer_id",
        "catalog_id",
        "account_type_code",
        "offer_type_id",
        "created",
        "expire",
        "risk",
    ]
    types = [pa.string()] * 5 + [TS, TS, pa.string()]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)


def write_staging(root: Path, table: pa.Table, ingest_id: str = "ing42") -> Path:
    folder = root / "staging" / "offers" / f"ingest_id={ingest_id}"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-00000.parquet", compression="snappy")
    return folder


def read_output(data: Path) -> list[dict[str, Any]]:
    table = ds.dataset(data, format="parquet", partitioning="hive").to_table()
    return sorted(table.to_pylist(), key=lambda r: (r["account"], r["offer_id"]))


def job_args(source: Path, output: Path, contract: str, *extra: str) -> list[str]:
    return [
        "--run_id", "run-1", "--dataset", "offers", "--source", str(source),
        "--output", str(output), "--contract", contract, *extra,
    ]  # fmt: skip


STAGING_ROWS = [
    # account, offer_id, catalog_id, type, offer_type, created, expire, risk
    ("00000001", "000000000001", "1" * 18, "AB", "00000001", utc("2025-03-01T10:00:00+00:00"),
     utc("2025-06-01T00:00:00+00:00"), "low"),
    (" 00000001 ", "000000000001", "1" * 18, "AB", "00000001", utc("2025-04-02T09:30:00+02:00"),
     utc("2025-06-01T00:00:00+00:00"), "high"),  # same key once trimmed, later: wins
    ("00000002", "000000000001", "2" * 18, "CD", "00000002", utc("2025-03-31T23:59:59.999999+00:00"),
     utc("2025-07-01T00:00:00+00:00"), " medium"),
    ("00000002", "000000000002", "2" * 18, "CD", "00000002", utc("2025-04-01T00:30:00+01:00"),
     utc("2025-07-01T00:00:00+00:00"), "low"),  # 2025-03-31T23:30Z: March in UTC
]  # fmt: skip


def fake_awsglue(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]) -> None:
    """Stands in for the awsglue package of the Glue runtime (not installable from PyPI)."""

    def get_resolved_options(args: list[str], options: list[str]) -> dict[str, str]:
        parser = argparse.ArgumentParser()
        for option in options:
            parser.add_argument(f"--{option}", required=True)
        parsed, _ = parser.parse_known_args(args[1:])
        return vars(parsed)

    class GlueContext:
        def __init__(self, sc: Any) -> None:
            self.spark_session = SparkSession.builder.getOrCreate()

    class Job:
        def __init__(self, glue_context: GlueContext) -> None:
            pass

        def init(self, name: str, args: dict[str, str]) -> None:
            calls.append(("init", (name, sorted(args))))

        def commit(self) -> None:
            calls.append(("commit", None))

    modules = {
        name: ModuleType(name) for name in ("awsglue", "awsglue.utils", "awsglue.context", "awsglue.job")
    }
    modules["awsglue.utils"].getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
    modules["awsglue.context"].GlueContext = GlueContext  # type: ignore[attr-defined]
    modules["awsglue.job"].Job = Job  # type: ignore[attr-defined]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def catalog_staging_table(
    glue: Any, location_of: dict[str, str], *, keys: tuple[str, ...] = ("ingest_id",)
) -> None:
    """The crawler's `sluice.staging_offers` table in the (moto) catalog, with one partition per
    {ingest_id: location}."""
    glue.create_database(DatabaseInput={"Name": "sluice"})
    columns = [
        {"Name": c["name"], "Type": c["type"]} for c in OFFERS_COLUMNS if not c["name"].startswith("_")
    ]
    glue.create_table(
        DatabaseName="sluice",
        TableInput={
            "Name": "staging_offers",
            "StorageDescriptor": {"Columns": columns, "Location": "s3://lake/staging/offers/"},
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
            "Parameters": {"classification": "parquet"},
        },
    )
    for ingest_id, location in location_of.items():
        glue.create_partition(
            DatabaseName="sluice",
            TableName="staging_offers",
            PartitionInput={
                "Values": [ingest_id],
                "StorageDescriptor": {"Columns": columns, "Location": location},
            },
        )
