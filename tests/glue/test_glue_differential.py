"""Differential test: the job against an independent DuckDB reading of the offers contract's rules."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

FIELDS = [
    "account",
    "offer_id",
    "catalog_id",
    "account_type_code",
    "offer_type_id",
    "created",
    "expire",
    "risk",
]
TS = pa.timestamp("us", tz="UTC")
START = datetime(2024, 11, 1, tzinfo=UTC)


def generate_offers(seed: int = 20250301, n: int = 2000) -> list[dict]:
    """Offers-like staging rows with duplicate keys, exact created ties and padded strings."""
    rng = random.Random(seed)
    accounts = [f"{rng.randrange(10**8):08d}" for _ in range(120)]
    offers = [f"{rng.randrange(10**12):012d}" for _ in range(6)]

    def pad(value: str) -> str:
        return (
            rng.choice(["", " ", "  ", "\t"]) + value + rng.choice(["", " ", "\t "])
            if rng.random() < 0.15
            else value
        )

    rows = []
    for _ in range(n):
        if rows and rng.random() < 0.05:  # a re-sent line with the same key and created: the later line wins
            earlier = rng.choice(rows)
            rows.append({**earlier, "risk": pad(rng.choice(["low", "medium", "high"]))})
            continue
        created = START + timedelta(seconds=rng.randrange(120 * 86400), microseconds=rng.randrange(10**6))
        rows.append(
            {
                "account": pad(rng.choice(accounts)),
                "offer_id": pad(rng.choice(offers)),
                "catalog_id": f"{rng.randrange(10**18):018d}",
                "account_type_code": pad(rng.choice(["AB", "CD", "EF"])),
                "offer_type_id": f"{rng.randrange(10**8):08d}",
                "created": created,
                "expire": created + timedelta(days=rng.randrange(1, 365)),
                "risk": pad(rng.choice(["low", "medium", "high"])),
            }
        )
    # a month boundary to the microsecond
    rows.append(
        {**rows[0], "account": "00000000", "created": datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)}
    )
    return rows


def to_table(rows: list[dict], with_line: bool) -> pa.Table:
    types = {"created": TS, "expire": TS}
    columns = {f: pa.array([r[f] for r in rows], types.get(f, pa.string())) for f in FIELDS}
    if with_line:
        columns["line"] = pa.array(range(len(rows)), pa.int64())
    return pa.table(columns)


EXPECTED_SQL = """
SET TimeZone = 'UTC';
CREATE TABLE expected AS
WITH trimmed AS (
    SELECT trim(account, ' ' || chr(9)) AS account, trim(offer_id, ' ' || chr(9)) AS offer_id,
           trim(catalog_id, ' ' || chr(9)) AS catalog_id,
           trim(account_type_code, ' ' || chr(9)) AS account_type_code,
           trim(offer_type_id, ' ' || chr(9)) AS offer_type_id,
           created, expire, trim(risk, ' ' || chr(9)) AS risk, line
    FROM staging
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY account, offer_id ORDER BY created DESC, line DESC) AS rn
    FROM trimmed
)
SELECT account, offer_id, catalog_id, account_type_code, offer_type_id, created, expire, risk,
       CAST(year(created) AS INTEGER) AS year, CAST(month(created) AS INTEGER) AS month
FROM ranked WHERE rn = 1;
"""


def hash_text(row: dict) -> str:
    """The documented _row_hash input: length-prefixed text per field in contract order."""
    parts = []
    for f in FIELDS:
        value = row[f]
        text = (
            value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(value, datetime) else value
        )
        parts.append(f"{len(text)}:{text}")
    return "".join(parts)


def test_main_matches_duckdb_reading_of_offers_contract(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    rows = generate_offers()
    source = tmp_path / "staging" / "offers" / "ingest_id=diff1"
    source.mkdir(parents=True)
    pq.write_table(to_table(rows, with_line=False), source / "part-00000.parquet", compression="snappy")
    con = duckdb.connect()
    con.register("staging", to_table(rows, with_line=True))
    con.execute(EXPECTED_SQL)
    expected = con.sql("SELECT * FROM expected").fetch_arrow_table().to_pylist()

    manifest = transform.main(
        [
            "--run_id", "diff", "--dataset", "offers", "--source", str(source),
            "--output", str(tmp_path / "out"), "--contract", offers_contract_json,
        ]
    )  # fmt: skip

    written = (
        ds.dataset(tmp_path / "out" / "data", format="parquet", partitioning="hive").to_table().to_pylist()
    )
    key = ("account", "offer_id")
    assert len(expected) < len(rows) - 100  # the data really has duplicates to drop
    assert sorted(tuple(r[c] for c in [*FIELDS, "year", "month"]) for r in written) == sorted(
        tuple(r[c] for c in [*FIELDS, "year", "month"]) for r in expected
    )
    hashes = {tuple(r[k] for k in key): r["_row_hash"] for r in written}
    assert hashes == {
        tuple(r[k] for k in key): hashlib.sha256(hash_text(r).encode()).hexdigest() for r in expected
    }
    assert {r["_ingest_id"] for r in written} == {"diff1"}
    partitions = sorted({f"year={r['year']}/month={r['month']}" for r in expected})
    assert (manifest["rows_read"], manifest["rows_deduped"], manifest["rows_written"]) == (
        len(rows),
        len(rows) - len(expected),
        len(expected),
    )
    assert manifest["partitions"] == partitions
    assert [f.rsplit("/", 1)[0] for f in manifest["files"]] == partitions  # one file per partition
