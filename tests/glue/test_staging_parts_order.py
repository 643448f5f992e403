"""Dedupe ties across the fanned-out Validate's staging parts: the later part by name wins, whatever the sizes
(Spark reads larger files first), in the Glue job's conform_staging and in the Lambda engine's file order."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from sluice_lib.transform_lambda.engine import staging_files
from sluice_transform.conform import conform_staging

pytestmark = pytest.mark.spark

CONTRACT = {
    "schema": {
        "fields": [{"name": "k", "type": "string"}, {"name": "v", "type": "string"}],
        "primaryKey": ["k"],
    },
    "pipeline": {"dedupe": {}},
}


def write_parts(folder: Path) -> None:
    """part-00000 (small): key "tie" once; part-00001 (larger, so Spark reads it first): key "tie" again, which
    must win as the later line of the upload."""
    small = pa.table({"k": ["tie"], "v": ["first chunk"]})
    big = pa.table(
        {"k": [*(f"k{i}" for i in range(2000)), "tie"], "v": [*("x" * 50,) * 2000, "second chunk"]}
    )
    pq.write_table(small, folder / "part-00000.parquet")
    pq.write_table(big, folder / "part-00001.parquet")


def test_conform_staging_dedupe_tie_across_parts_keeps_the_later_part(spark: SparkSession, tmp_path: Path):
    write_parts(tmp_path)

    out = conform_staging(spark.read.parquet(str(tmp_path)), json.loads(json.dumps(CONTRACT)))

    assert [r.v for r in out.where("k = 'tie'").collect()] == ["second chunk"]
    assert out.count() == 2001


def test_lambda_engine_reads_staging_parts_in_name_order(tmp_path: Path):
    write_parts(tmp_path)

    assert [p.name for p in staging_files(tmp_path)] == ["part-00000.parquet", "part-00001.parquet"]
