"""RejectFile step: moves a file that breaks its contract to rejected/ and marks the run REJECTED."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import RejectFileInput
from sluice_lib.settings import Settings
from sluice_lib.steps.reject_file import reject_file

SETTINGS = Settings.from_env()


client = aws_clients()


@step_handler(RejectFileInput, correlation_id_path="execution.Name")
def lambda_handler(event: RejectFileInput, context: LambdaContext) -> dict[str, Any]:
    """The RejectFile state (Validate's Catch) sends
    `{"event": <the execution input: S3 Object Created event, with "error" added>,
      "execution": <$$.Execution: {"Id", "Name", "StartTime", ...}>,
      "error": {"Error": "TooManyBadRowsError", "Cause": "<Lambda error JSON>"}}`.
    """
    result = reject_file(
        event,
        s3=client("s3"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        raw_bucket=SETTINGS.raw_bucket,
    )
    # No dataset dimension: the failure alarms subtract this metric (service dimension only) from failures.
    metrics.add_metric(name="FilesRejected", unit=MetricUnit.Count, value=1)
    logger.info("rejected", extra={"rejected_uri": result.rejected_uri, "error": event.error.error})
    return result.model_dump(mode="json")
