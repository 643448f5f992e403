"""Where a run's quality results go: the lake's `quality` table (one Parquet file per run, partitioned by
dataset, registered in the Glue Data Catalog), and one CloudWatch metric per failing rule (EMF, Powertools)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from sluice_lib.contracts import QUALITY_TABLE
from sluice_lib.errors import CatalogUpdateError, error_code
from sluice_lib.lake import PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE
from sluice_lib.quality.evaluate import QualityResult

QUALITY_PREFIX = f"{QUALITY_TABLE}/"
QUALITY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("ingest_id", pa.string()),
        ("source_key", pa.string()),
        ("checked_at", pa.timestamp("ms", tz="UTC")),
        ("rule", pa.string()),
        ("rule_type", pa.string()),
        ("severity", pa.string()),
        ("passed", pa.bool_()),
        ("value", pa.float64()),
        ("threshold", pa.string()),
        ("detail", pa.string()),
    ]
)
_GLUE_TYPES = {
    "string": "string",
    "timestamp[ms, tz=UTC]": "timestamp",
    "bool": "boolean",
    "double": "double",
}
METRIC_NAME = "QualityRuleFailed"


def results_key(dataset: str, run_id: str) -> str:
    """One object per run: a retried or redriven Validate of the run overwrites its own results."""
    return f"{QUALITY_PREFIX}dataset={dataset}/{run_id}.parquet"


def results_table(
    results: Iterable[QualityResult], *, run_id: str, ingest_id: str, source_key: str, checked_at: datetime
) -> pa.Table:
    rows = [
        {
            "run_id": run_id,
            "ingest_id": ingest_id,
            "source_key": source_key,
            "checked_at": checked_at,
            "rule": r.rule,
            "rule_type": r.type,
            "severity": r.severity,
            "passed": r.passed,
            "value": None if r.value is None else float(r.value),
            "threshold": r.threshold,
            "detail": r.detail,
        }
        for r in results
    ]
    return pa.Table.from_pylist(rows, schema=QUALITY_SCHEMA)


def write_results(
    s3: Any, glue: Any, *, lake_bucket: str, database: str, dataset: str, run_id: str, table: pa.Table
) -> str:
    """Puts the run's results into the quality table (and the table and its dataset partition into the catalog,
    when they are not there yet); returns the object's URI."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    key = results_key(dataset, run_id)
    s3.put_object(Bucket=lake_bucket, Key=key, Body=sink.getvalue())
    register(glue, database, f"s3://{lake_bucket}/{QUALITY_PREFIX}", dataset)
    return f"s3://{lake_bucket}/{key}"


def _descriptor(location: str) -> dict[str, Any]:
    return {
        "Columns": [{"Name": f.name, "Type": _GLUE_TYPES[str(f.type)]} for f in QUALITY_SCHEMA],
        "Location": location,
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": True,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    }


def register(glue: Any, database: str, location: str, dataset: str) -> None:
    """Creates the `quality` table and its `dataset=<dataset>` partition unless they exist (two calls a run:
    AlreadyExistsException is the common answer and costs nothing)."""
    calls = (
        lambda: glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": QUALITY_TABLE,
                "Description": "sluice: one row per quality rule per run (contracts' quality: sections)",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "parquet.compression": "SNAPPY",
                },
                "PartitionKeys": [{"Name": "dataset", "Type": "string"}],
                "StorageDescriptor": _descriptor(location),
            },
        ),
        lambda: glue.create_partition(
            DatabaseName=database,
            TableName=QUALITY_TABLE,
            PartitionInput={
                "Values": [dataset],
                "StorageDescriptor": _descriptor(f"{location}dataset={dataset}/"),
            },
        ),
    )
    for call in calls:
        try:
            call()
        except ClientError as exc:
            if error_code(exc) != "AlreadyExistsException":
                raise CatalogUpdateError(
                    f"{database}.{QUALITY_TABLE}: cannot register {dataset}: {exc}"
                ) from exc


def emit_metrics(dataset: str, results: Iterable[QualityResult]) -> int:
    """One `QualityRuleFailed` metric (dimensions dataset, rule, severity) per failing rule; returns how many.

    CloudWatch embedded metric format: a log line each, no API call (Powertools' single_metric)."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "sluice"
    failed = [r for r in results if not r.passed]
    for result in failed:
        with single_metric(name=METRIC_NAME, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
            metric.add_dimension(name="dataset", value=dataset)
            metric.add_dimension(name="rule", value=result.rule[:250])
            metric.add_dimension(name="severity", value=result.severity)
    return len(failed)
