"""RegisterPartition step: adds the run's staging partition to the catalog when the schema is unchanged."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.models import RegisterPartitionInput
from sluice_lib.settings import Settings
from sluice_lib.steps.register_partition import register_staging_partition

SETTINGS = Settings.from_env()


client = aws_clients()


@step_handler(RegisterPartitionInput)
def lambda_handler(event: RegisterPartitionInput, context: LambdaContext) -> dict[str, Any]:
    """The RegisterPartition state sends `{"run": <Validate's output>}`."""
    result = register_staging_partition(event, glue=client("glue"), glue_database=SETTINGS.glue_database)
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    metrics.add_metric(
        name="StagingPartitionsRegistered", unit=MetricUnit.Count, value=int(result.registered)
    )
    logger.info("staging partition", extra=result.model_dump())
    return result.model_dump(mode="json")
