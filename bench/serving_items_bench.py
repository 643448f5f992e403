"""Load's item building alone: `sluice_lib.serving.read_items` over an offers-shaped curated Parquet file.

    python -m bench.serving_items_bench 1000000            # median of 3 passes over the file
    PYTHONPATH=/tmp/base/functions/shared python -m bench.serving_items_bench 1000000   # another checkout's code

The file has the curated offers columns (the contract's strings, `created` and `expire` as UTC timestamps, the
lineage columns) in row groups of 100,000, in the emulation's S3 (moto); each pass reads it with ranged GETs
and builds every item as Load does, without writing them. Prints seconds a pass and microseconds an item.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from moto import mock_aws

from sluice_lib import serving
from sluice_lib.contracts import Serving
from sluice_lib.lake import Manifest
from sluice_lib.models import ServingSlice

BUCKET = "lake"
KEY = "curated/offers/year=2026/month=11/part-00000.parquet"


def _table(rows: int) -> pa.Table:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    created = [start + timedelta(seconds=i * 7, microseconds=(i % 3) * 250) for i in range(rows)]
    return pa.table(
        {
            "account": [f"{i % 900_000:08d}" for i in range(rows)],
            "offer_id": [f"{i:012d}" for i in range(rows)],
            "catalog_id": [f"{i * 7:018d}" for i in range(rows)],
            "account_type_code": ["AB", "CD", "EF"] * (rows // 3) + ["AB"] * (rows % 3),
            "offer_type_id": [f"{i % 1000:08d}" for i in range(rows)],
            "created": pa.array(created, pa.timestamp("us", tz="UTC")),
            "expire": pa.array([c + timedelta(days=30) for c in created], pa.timestamp("us", tz="UTC")),
            "risk": ["low", "medium", "high"] * (rows // 3) + ["low"] * (rows % 3),
            "_ingest_id": ["ingest-1"] * rows,
            "_ingested_at": pa.array([start] * rows, pa.timestamp("us", tz="UTC")),
            "_source_file": ["s3://raw/incoming/offers/offers.csv"] * rows,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rows", type=int)
    parser.add_argument("--passes", type=int, default=3)
    opts = parser.parse_args()
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    buffer = io.BytesIO()
    pq.write_table(_table(opts.rows), buffer, row_group_size=100_000)
    manifest = Manifest(
        run_id="r",
        dataset="offers",
        rows_written=opts.rows,
        files=[KEY],
        columns=[],
        partition_keys=[{"name": "year", "type": "int"}, {"name": "month", "type": "int"}],
    )
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=buffer.getvalue())
        seconds = []
        for _ in range(opts.passes):
            started = time.perf_counter()
            items = sum(
                1
                for _ in serving.read_items(
                    s3, BUCKET, [ServingSlice(key=KEY)], manifest, Serving(pk=["account"], sk=["offer_id"])
                )
            )
            seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(
        f"{serving.__file__}: {items:,} items, median {median:.2f} s a pass "
        f"({median / items * 1e6:.1f} µs an item; passes {', '.join(f'{s:.2f}' for s in seconds)})"
    )


if __name__ == "__main__":
    main()
