"""RejectFile step: moves a file that breaks its contract to rejected/ and marks the run REJECTED."""

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
from sluice_lib.models import RejectFileInput
from sluice_lib.raw import COPY_PARTS_AT_ONCE
from sluice_lib.settings import Settings
from sluice_lib.steps.reject_file import reject_file

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()


@cache
def client(service: str) -> Any:
    # One connection per part of a multipart copy (sluice_lib.raw: COPY_PARTS_AT_ONCE parts at a time).
    return boto3.client(service, config=Config(max_pool_connections=COPY_PARTS_AT_ONCE))


@logger.inject_lambda_context(correlation_id_path="execution.Name")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RejectFileInput)
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
