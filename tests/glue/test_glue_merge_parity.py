"""The two engines merge alike: a sequence of generated files with overlapping keys (contracts with a dedupe
rule and without, renamed keys, string/date/int partition columns with Spark's escaping and nulls, and an
unpartitioned table) merged into a
table by the Glue job (`--merge_with`) and by the DuckDB engine (`existing=`), each into its own copy; after
every file the two outputs hold the same rows, partitions, Parquet schema and manifest, and both tables one row
per key."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from lambda_parity_rows import GENERATORS
from pyspark.sql import SparkSession
from test_glue_lambda_engine_parity import _contract, _stage, _without_file_names, rows, schemas

from merge_table import Table
from sluice_lib.curated import Lineage
from sluice_lib.transform_lambda.engine import transform_folder

pytestmark = pytest.mark.spark
START = datetime(2025, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("dataset", ["parity_kinds", "parity_keyed", "offers", "users"])
def test_engines_merge_a_file_sequence_into_identical_tables(
    spark: SparkSession, transform: ModuleType, tmp_path: Path, dataset: str
):
    contract = _contract(dataset)
    rng = random.Random(f"merge-{dataset}")
    glue_table, lambda_table = Table(tmp_path / "glue_table"), Table(tmp_path / "lambda_table")
    for step in range(3):
        (tmp_path / f"s{step}").mkdir()
        staging = _stage(tmp_path / f"s{step}", contract, GENERATORS[dataset](rng, 24))
        staging = staging.rename(staging.parent / f"ingest_id=i{step}")
        key = f"incoming/{dataset}/{step}.csv"
        at = START + timedelta(minutes=step)
        glue_out, lambda_out = tmp_path / f"glue{step}", tmp_path / f"lambda{step}"

        glue_manifest = transform.main(
            ["--run_id", f"r{step}", "--dataset", dataset, "--source", str(staging), "--output", str(glue_out),
             "--contract", contract.to_json(), "--source_key", key, "--ingested_at", at.isoformat(),
             "--merge_with", json.dumps(glue_table.current)]
        )  # fmt: skip
        lambda_manifest = transform_folder(
            staging, lambda_out, contract, run_id=f"r{step}", lineage=Lineage(f"i{step}", key, at),
            existing=lambda_table.current,
        )  # fmt: skip

        assert _without_file_names(lambda_manifest) == _without_file_names(glue_manifest), f"step {step}"
        assert rows(lambda_out / "data") == rows(glue_out / "data"), f"step {step}"
        assert schemas(lambda_out / "data") == schemas(glue_out / "data"), f"step {step}"
        merge = glue_manifest["merge"]
        if step:
            assert merge["replaced"], "overlapping keys touch existing partitions"
        glue_table.publish(glue_out, merge)
        lambda_table.publish(lambda_out, lambda_manifest["merge"])
        keys = [tuple(row[k] for k in contract.primary_key) for _, row in glue_table.all_rows()]
        assert keys and max(Counter(keys).values()) == 1, f"step {step}: a key twice"
