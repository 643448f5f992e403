"""RegisterPartition step: adds the run's staging partition to the catalog when the schema is unchanged."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.models import RegisterPartitionInput
from sluice_lib.settings import Settings
from sluice_lib.steps.register_partition import register_staging_partition

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()


@cache
def glue() -> Any:
    return boto3.client("glue")


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RegisterPartitionInput)
def lambda_handler(event: RegisterPartitionInput, context: LambdaContext) -> dict[str, Any]:
    """The RegisterPartition state sends `{"run": <Validate's output>}`."""
    result = register_staging_partition(event, glue=glue(), glue_database=SETTINGS.glue_database)
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    metrics.add_metric(
        name="StagingPartitionsRegistered", unit=MetricUnit.Count, value=int(result.registered)
    )
    logger.info("staging partition", extra=result.model_dump())
    return result.model_dump(mode="json")
