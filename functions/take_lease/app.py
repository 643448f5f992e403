"""TakeLease step: takes a keyed dataset's merge lease before its transform reads the curated table."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.models import TakeLeaseInput
from sluice_lib.settings import Settings
from sluice_lib.steps.take_lease import take_lease

SETTINGS = Settings.from_env()
LEASE_SECONDS = float(os.environ["MERGE_LEASE_SECONDS"])  # the template's MergeLeaseSeconds
client = aws_clients()


@step_handler(TakeLeaseInput)
def lambda_handler(event: TakeLeaseInput, context: LambdaContext) -> dict[str, Any]:
    """The TakeLease state sends `{"run": <Validate's output>}` and keeps `held` and `generation` (the dataset's
    publish generation, for Load) of the result; DatasetBusyError while another execution merges into the dataset
    (the state retries it with backoff and jitter)."""
    result = take_lease(
        event, dynamodb=client("dynamodb"), runs_table=SETTINGS.runs_table, ttl_seconds=LEASE_SECONDS
    )
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    logger.info("merge lease", extra=result.model_dump())
    return result.model_dump(mode="json")
