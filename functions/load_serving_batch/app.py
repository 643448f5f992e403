"""LoadServingBatch step: writes the serving items of a few curated files Load published (one Map item)."""

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
from sluice_lib.models import LoadServingBatchInput
from sluice_lib.settings import Settings
from sluice_lib.steps.load_serving_batch import load_serving_batch

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()
# Pooled connections for the parallel BatchWriteItem requests; adaptive retry for throttling.
_CONFIG = Config(max_pool_connections=16, retries={"mode": "adaptive", "max_attempts": 10})


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=LoadServingBatchInput)
def lambda_handler(event: LoadServingBatchInput, context: LambdaContext) -> dict[str, Any]:
    """Each item of the LoadServing Distributed Map sends
    `{"run": <Validate's output>, "batch": {"index": 0, "keys": ["curated/<dataset>/.../part-....parquet"]}}`.
    """
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    batch = load_serving_batch(
        event,
        s3=client("s3"),
        dynamodb=client("dynamodb"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        lake_bucket=SETTINGS.lake_bucket,
        serving_table=SETTINGS.serving_table,
    )
    metrics.add_metric(name="ServingItems", unit=MetricUnit.Count, value=batch.serving_items)
    logger.info("loaded serving batch", extra=batch.model_dump())
    return batch.model_dump(mode="json")
