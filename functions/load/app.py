"""Load step: publishes the transform output to curated/, the Glue catalog and the serving table."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from sluice_lib.ledger import Ledger
from sluice_lib.models import LoadInput
from sluice_lib.settings import Settings
from sluice_lib.steps.load import load_run

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
@event_parser(model=LoadInput)
def lambda_handler(event: LoadInput, context: LambdaContext) -> dict[str, Any]:
    """The Load state sends
    `{"run": <Validate's output>, "transform": {"job_run_id": "jr_...", "state": "SUCCEEDED"},
      "fan_out_files": 20}`.
    """
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    result = load_run(
        event,
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
