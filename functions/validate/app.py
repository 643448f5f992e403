"""Validate step: checks every row of an uploaded CSV against its contract and stages the valid rows."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import ValidateInput
from sluice_lib.settings import Settings
from sluice_lib.steps.validate import validate_run

SETTINGS = Settings.from_env()
CONTRACTS = SETTINGS.contracts()


client = aws_clients()


@step_handler(ValidateInput, correlation_id_path="execution.Name")
def lambda_handler(event: ValidateInput, context: LambdaContext) -> dict[str, Any]:
    """The Validate state sends
    `{"event": <the EventBridge "Object Created" event (or an S3 notification)>,
      "execution": <$$.Execution: {"Id": "arn:aws:states:...", "Name": "...", "StartTime": "...", ...}>}`.
    Rejection errors (EmptyFileError, TooManyBadRowsError, ...) propagate: the Catch matches their names;
    so does DuplicateExecutionError, when another running execution owns the object version's run.
    """
    started = time.perf_counter()
    out = validate_run(
        event,
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        sfn=client("stepfunctions"),
        contracts=CONTRACTS,
        settings=SETTINGS,
        s3=client("s3"),
        sqs=client("sqs"),
        glue=client("glue"),
    )
    milliseconds = (time.perf_counter() - started) * 1000
    metrics.add_dimension(name="dataset", value=out.dataset)
    metrics.add_metric(name="RowsIn", unit=MetricUnit.Count, value=out.counts.rows_in)
    metrics.add_metric(name="RowsValid", unit=MetricUnit.Count, value=out.counts.rows_valid)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=out.counts.rows_rejected)
    metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=out.counts.bytes_in)
    metrics.add_metric(name="ValidateDuration", unit=MetricUnit.Milliseconds, value=milliseconds)
    logger.info("validated", extra={"counts": out.counts.model_dump(), "source": out.source.uri})
    return out.model_dump(mode="json")
