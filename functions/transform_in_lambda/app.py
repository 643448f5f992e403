"""TransformInLambda step: transforms a small file's staging data with DuckDB, as the Glue job would."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.models import TransformInLambdaInput
from sluice_lib.steps.transform_in_lambda import transform_run

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# DuckDB's share of the function's memory; the rest is the runtime, Python and the S3 transfers.
DUCKDB_MEMORY_SHARE = 0.75


@cache
def s3() -> Any:
    return boto3.client("s3")


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TransformInLambdaInput)
def lambda_handler(event: TransformInLambdaInput, context: LambdaContext) -> dict[str, Any]:
    """The TransformInLambda state sends `{"run": <Validate's output>}` (a run whose `transform_engine` is
    `lambda`); it keeps `job_run_id`, `state` and `engine` of the result as `$.transform`, as the Transform
    state keeps the Glue job run's."""
    result = transform_run(
        run=event.run,
        s3=s3(),
        job_run_id=context.aws_request_id,
        memory_limit_mb=int(int(context.memory_limit_in_mb) * DUCKDB_MEMORY_SHARE),
    )
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    metrics.add_metric(name="RowsTransformed", unit=MetricUnit.Count, value=result.rows_written)
    metrics.add_metric(name="TransformDuration", unit=MetricUnit.Seconds, value=result.seconds)
    logger.info("transformed", extra=result.model_dump())
    return result.model_dump(mode="json")
