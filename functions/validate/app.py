"""Validate step: checks every row of an uploaded CSV against its contract and stages the valid rows."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.errors import TooManyBadRowsError
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import ValidateInput, source_from_event
from sluice_lib.settings import Settings
from sluice_lib.validate import validate_object

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
    """
    source = source_from_event(event.event)
    arn = event.execution.arn
    ledger = Ledger(client("dynamodb"), SETTINGS.runs_table)
    claim = ledger.claim(
        source,
        execution_arn=arn,
        run_id=event.execution.name,
        started_at=event.execution.start_time,
        sfn=client("stepfunctions"),
    )
    logger.info("claimed", extra={"source": source.uri, "previous": claim.previous_status})
    started = time.perf_counter()
    try:
        out = validate_object(
            source=source,
            execution=event.execution,
            contracts=CONTRACTS,
            settings=SETTINGS,
            s3=client("s3"),
            sqs=client("sqs"),
            glue=client("glue"),
        )
    except TooManyBadRowsError as exc:  # keep the counts of a rejected file, then let the Catch see it
        ledger.advance(source, arn, "Validate", counts=exc.counts, validated_at=now_iso())
        raise
    metrics.add_dimension(name="dataset", value=out.dataset)
    metrics.add_metric(name="RowsIn", unit=MetricUnit.Count, value=out.counts.rows_in)
    metrics.add_metric(name="RowsValid", unit=MetricUnit.Count, value=out.counts.rows_valid)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=out.counts.rows_rejected)
    metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=out.counts.bytes_in)
    metrics.add_metric(
        name="ValidateDuration", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    ledger.advance(
        source,
        arn,
        "Validate",
        counts=out.counts.model_dump(),
        quarantine_uri=out.quarantine_uri,
        validated_at=now_iso(),
    )
    logger.info("validated", extra={"counts": out.counts.model_dump(), "source": source.uri})
    return out.model_dump(mode="json")
