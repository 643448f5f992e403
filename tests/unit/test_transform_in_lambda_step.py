"""The TransformInLambda step around the engine: S3 in and out (emulated), what its layer may import, the
`--param` overrides that pick the engine locally, and what `sluice contracts check` says about engines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from steps_aws import SETTINGS, emulated_aws, import_handler, lambda_context
from typer.testing import CliRunner

from events import load_event
from sluice.cli import app
from sluice.local.parameters import ParameterError, parse_parameters
from sluice.local.template import SamApp
from sluice_lib.errors import StagingNotFoundError
from sluice_lib.models import ValidateOutput
from sluice_lib.steps.transform_in_lambda import transform_run

ROOT = Path(__file__).resolve().parents[2]
TS = pa.timestamp("us", tz="UTC")
COLUMNS = [
    "account",
    "offer_id",
    "catalog_id",
    "account_type_code",
    "offer_type_id",
    "created",
    "expire",
    "risk",
]


def _staging(created: list[str]) -> bytes:
    n = len(created)
    table = pa.table(
        {
            **{c: pa.array([f"{i:08d}" for i in range(n)]) for c in COLUMNS[:5]},
            "created": pa.array([datetime.fromisoformat(c) for c in created], TS),
            "expire": pa.array([datetime(2026, 9, 1, tzinfo=UTC)] * n, TS),
            "risk": pa.array(["low"] * n),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _run() -> ValidateOutput:
    run = ValidateOutput.model_validate(load_event("transform_in_lambda")["run"])
    return run.model_copy(
        update={
            "staging_uri": f"s3://{SETTINGS.lake_bucket}/staging/offers/ingest_id={run.ingest_id}/",
            "output_uri": f"s3://{SETTINGS.lake_bucket}/runs/offers/{run.run_id}/",
        }
    )


def _keys(s3: Any, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=SETTINGS.lake_bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_transform_run_reads_staging_from_s3_and_replaces_the_run_output():
    run = _run()
    staging_key = f"staging/offers/ingest_id={run.ingest_id}/part-00000.parquet"
    output = f"runs/offers/{run.run_id}/"
    with emulated_aws() as aws:
        aws.s3.put_object(
            Bucket=SETTINGS.lake_bucket, Key=staging_key, Body=_staging(["2026-03-04T05:06:07Z"])
        )
        aws.s3.put_object(
            Bucket=SETTINGS.lake_bucket, Key=f"{output}data/year=1999/month=1/old.parquet", Body=b"x"
        )

        result = transform_run(run=run, s3=aws.s3, job_run_id="req-1", now=datetime(2026, 3, 5, tzinfo=UTC))

        assert result.model_dump(exclude={"seconds"}) == {
            "job_run_id": "req-1", "state": "SUCCEEDED", "engine": "lambda",
            "rows_read": 1, "rows_written": 1, "files": 1,
        }  # fmt: skip
        assert _keys(aws.s3, output) == [
            f"{output}_manifest.json",
            f"{output}data/year=2026/month=3/part-00000.snappy.parquet",
        ]
        body = aws.s3.get_object(Bucket=SETTINGS.lake_bucket, Key=f"{output}_manifest.json")["Body"].read()
        manifest = json.loads(body)
        assert (manifest["run_id"], manifest["files"]) == (
            run.run_id,
            ["year=2026/month=3/part-00000.snappy.parquet"],
        )


def test_transform_run_without_staging_objects_names_the_run():
    run = _run()
    with (
        emulated_aws() as aws,
        pytest.raises(StagingNotFoundError, match=f"no staging objects for run {run.run_id}"),
    ):
        transform_run(run=run, s3=aws.s3, job_run_id="req-1")


def test_handler_returns_the_shape_the_state_keeps_as_transform():
    run = _run()
    with emulated_aws() as aws:
        key = f"staging/offers/ingest_id={run.ingest_id}/part-00000.parquet"
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=_staging(["2026-04-01T00:00:00Z"] * 2))
        handler = import_handler("transform_in_lambda")

        out = handler.lambda_handler(
            {"run": run.model_dump(mode="json")}, lambda_context("transform_in_lambda")
        )

    assert {k: out[k] for k in ("state", "engine", "rows_read", "rows_written", "files")} == {
        "state": "SUCCEEDED", "engine": "lambda", "rows_read": 2, "rows_written": 2, "files": 1,
    }  # fmt: skip
    assert out["job_run_id"]


def test_engine_and_handler_run_without_pyarrow(tmp_path: Path):
    """The function's layers hold DuckDB but not pyarrow (the AWS SDK for pandas layer would not fit)."""
    staging = tmp_path / "staging" / "ingest_id=i"
    staging.mkdir(parents=True)
    (staging / "part-00000.parquet").write_bytes(_staging(["2026-03-04T05:06:07Z"]))
    script = f"""
import sys
sys.modules["pyarrow"] = None  # any import of pyarrow fails
from datetime import datetime, timezone
from pathlib import Path
import importlib.util
from sluice_lib.contracts import ContractStore
from sluice_lib.curated import Lineage
from sluice_lib.transform_lambda.engine import transform_folder
spec = importlib.util.spec_from_file_location("h", {str(ROOT / "functions/transform_in_lambda/app.py")!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
contract = ContractStore(Path({str(ROOT / "contracts")!r})).get("offers")
lineage = Lineage("i", "k", datetime(2026, 1, 1, tzinfo=timezone.utc))
manifest = transform_folder(Path({str(staging)!r}), Path({str(tmp_path / "out")!r}), contract, run_id="r", lineage=lineage)
print(manifest["rows_written"], manifest["files"])
"""
    # The handler reads the template's environment at import (Settings.from_env), as in the function.
    names = (
        "RAW_BUCKET",
        "LAKE_BUCKET",
        "BAD_RECORDS_QUEUE_URL",
        "RUNS_TABLE",
        "SERVING_TABLE",
        "GLUE_DATABASE",
        "TOPIC_ARN",
    )
    env = {**os.environ, **dict.fromkeys(names, "x"), "CONTRACTS_DIR": str(ROOT / "contracts")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 ['year=2026/month=3/part-00000.snappy.parquet']"


def test_parse_parameters_checks_names_and_constraints_as_cloudformation():
    template = SamApp.load(ROOT / "template.sam.yaml")
    assert parse_parameters(["SmallFileMaxBytes=0", "LoadFanOutFiles=3"], template) == {
        "SmallFileMaxBytes": "0",
        "LoadFanOutFiles": "3",
    }
    for text, message in [
        ("SmallFileMaxBytes", "write KEY=VALUE"),
        ("Nope=1", "no such parameter"),
        ("SmallFileMaxBytes=-1", "less than the minimum 0"),
        ("SmallFileMaxBytes=lots", "not a number"),
        ("GlueWorkerType=G.9X", "not one of G.1X, G.2X, G.4X, G.8X"),
        ("EnvironmentName=Prod", "does not match"),
    ]:
        with pytest.raises(ParameterError, match=message):
            parse_parameters([text], template)


def test_run_with_a_bad_param_is_a_usage_error(tmp_path: Path):
    upload = tmp_path / "offers.csv"
    upload.write_text("account\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["run", str(upload), "--dataset", "offers", "--param", "SmallFileMaxBytes=-5"]
    )
    assert result.exit_code == 2
    assert "--param SmallFileMaxBytes=-5: less than the minimum 0" in result.output


def test_contracts_check_says_which_engines_each_contract_can_use():
    result = CliRunner().invoke(app, ["contracts", "check", str(ROOT / "contracts")])
    assert result.exit_code == 0
    for line in [
        "  offers: lambda, glue",
        "  orders: glue (needs Spark: transform.derive, aggregates)",
        "  signups: glue (needs Spark: transform.filter, aggregates)",
        "  songs: lambda, glue",
        "  streams: glue (needs Spark: transform.join, transform.derive, transform.filter, aggregates)",
        "  tickets: glue (needs Spark: transform.derive)",
        "  users: lambda, glue",
    ]:
        assert line in result.output.splitlines()


def test_asl_takes_the_lease_then_routes_to_either_transform_and_both_leave_load_the_same_transform_result():
    states = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text(encoding="utf-8"))["States"]
    success = next(c for c in states["CrawlFinished?"]["Choices"] if "And" in c)
    assert states["RegisterPartition"]["Next"] == success["Next"] == "TakeLease"
    assert states["TakeLease"]["Next"] == "TransformEngine?"
    choice = states["TransformEngine?"]
    assert choice["Default"] == "Transform"
    (rule,) = choice["Choices"]
    assert rule["Next"] == "TransformInLambda"
    assert {"Variable": "$.run.result.transform_engine", "StringEquals": "lambda"} in rule["And"]
    glue, lam = states["Transform"], states["TransformInLambda"]
    assert glue["ResultPath"] == lam["ResultPath"] == "$.transform"
    assert glue["Next"] == lam["Next"] == "Load"
    assert set(lam["ResultSelector"]) == {*glue["ResultSelector"], "engine.$"}
    assert "Catch" not in lam  # a failure fails the execution at this state, so Redrive resumes here
    # Load's Lambda service errors; Load alone also waits for the merge lease (DatasetBusyError)
    assert lam["Retry"] == [r for r in states["Load"]["Retry"] if r["ErrorEquals"] != ["DatasetBusyError"]]
