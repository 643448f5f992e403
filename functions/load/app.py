"""Load step: publishes the transform output to curated/, the Glue catalog and the serving table."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from sluice_lib.ledger import Ledger
from sluice_lib.load import load_run, load_serving_batch
from sluice_lib.models import LoadInput, ServingBatchInput
from sluice_lib.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()
# Pooled connections for the parallel copies and BatchWriteItem requests; adaptive retry for throttling.
_CONFIG = Config(max_pool_connections=16, retries={"mode": "adaptive", "max_attempts": 10})


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Load state sends
    `{"run": <Validate's output>, "transform": {"job_run_id": "jr_...", "state": "SUCCEEDED"},
      "fan_out_files": 20}`;
    each item of the LoadServing Distributed Map sends
    `{"run": <Validate's output>, "batch": {"index": 0, "keys": ["curated/<dataset>/.../part-....parquet"]}}`.
    """
    metrics.add_dimension(name="dataset", value=str(event.get("run", {}).get("dataset") or "_unknown"))
    if "batch" in event:
        batch = load_serving_batch(
            parse(event=event, model=ServingBatchInput),
            s3=client("s3"),
            dynamodb=client("dynamodb"),
            ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
            lake_bucket=SETTINGS.lake_bucket,
            serving_table=SETTINGS.serving_table,
        )
        metrics.add_metric(name="ServingItems", unit=MetricUnit.Count, value=batch.serving_items)
        logger.info("loaded serving batch", extra=batch.model_dump())
        return batch.model_dump(mode="json")
    result = load_run(
        parse(event=event, model=LoadInput),
        s3=client("s3"),
        glue=client("glue"),
        dynamodb=client("dynamodb"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        lake_bucket=SETTINGS.lake_bucket,
        glue_database=SETTINGS.glue_database,
        serving_table=SETTINGS.serving_table,
    )
    metrics.add_metric(name="RowsLoaded", unit=MetricUnit.Count, value=result.rows_loaded)
    metrics.add_metric(name="ServingItems", unit=MetricUnit.Count, value=result.serving_items)
    logger.info("loaded", extra=result.model_dump(exclude={"partitions"}))
    return result.model_dump(mode="json")
