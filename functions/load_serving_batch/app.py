"""LoadServingBatch step: writes the serving items of a few curated files Load published (one Map item)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import BULK_WRITES, POOLED, aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import LoadServingBatchInput
from sluice_lib.settings import Settings
from sluice_lib.steps.load_serving_batch import load_serving_batch

SETTINGS = Settings.from_env()
client = aws_clients(POOLED)
bulk_client = aws_clients(BULK_WRITES)  # the serving writes


@step_handler(LoadServingBatchInput)
def lambda_handler(event: LoadServingBatchInput, context: LambdaContext) -> dict[str, Any]:
    """Each item of the LoadServing Distributed Map sends
    `{"run": <Validate's output>, "batch": {"index": 0, "slices": [{"key": "curated/<dataset>/.../part-....parquet",
    "start": 0, "end": 1000000}]}}` (rows [start, end) of each file).
    """
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    batch = load_serving_batch(
        event,
        s3=client("s3"),
        dynamodb=bulk_client("dynamodb"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        lake_bucket=SETTINGS.lake_bucket,
        serving_table=SETTINGS.serving_table,
    )
    metrics.add_metric(name="ServingItems", unit=MetricUnit.Count, value=batch.serving_items)
    logger.info("loaded serving batch", extra=batch.model_dump())
    return batch.model_dump(mode="json")
