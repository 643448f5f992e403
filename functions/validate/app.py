"""Validate step: checks every row of an uploaded CSV against its contract and stages the valid rows."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.ledger import Ledger
from sluice_lib.models import ValidateInput, ValidateOutput
from sluice_lib.settings import Settings
from sluice_lib.steps.validate import record_counts, validate_run

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()
CONTRACTS = SETTINGS.contracts()


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@logger.inject_lambda_context(correlation_id_path="execution.Name")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ValidateInput)
def lambda_handler(event: ValidateInput, context: LambdaContext) -> dict[str, Any]:
    """The Validate state sends
    `{"event": <the EventBridge "Object Created" event (or an S3 notification)>,
      "execution": <$$.Execution: {"Id": "arn:aws:states:...", "Name": "...", "StartTime": "...", ...}>}`.
    Rejection errors (EmptyFileError, TooManyBadRowsError, ...) propagate: the Catch matches their names;
    so does DuplicateExecutionError, when another running execution owns the object version's run.
    Over ValidateChunkBytes it returns the fan-out plan (ValidateFanOut) instead of the counts.
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
    if isinstance(out, ValidateOutput):  # else a fan-out plan: MergeChunks reports the counts
        record_counts(metrics, out, milliseconds=(time.perf_counter() - started) * 1000)
        logger.info("validated", extra={"counts": out.counts.model_dump(), "source": out.source.uri})
    return out.model_dump(mode="json")
