"""TransformInLambda step: transforms a small file's staging data with DuckDB, as the Glue job would."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.models import TransformInLambdaInput
from sluice_lib.settings import Settings
from sluice_lib.steps.transform_in_lambda import transform_run

# DuckDB's share of the function's memory; the rest is the runtime, Python and the S3 transfers.
DUCKDB_MEMORY_SHARE = 0.75
SETTINGS = Settings.from_env()
client = aws_clients()


@step_handler(TransformInLambdaInput)
def lambda_handler(event: TransformInLambdaInput, context: LambdaContext) -> dict[str, Any]:
    """The TransformInLambda state sends `{"run": <Validate's output>}` (a run whose `transform_engine` is
    `lambda`); it keeps `job_run_id`, `state` and `engine` of the result as `$.transform`, as the Transform
    state keeps the Glue job run's."""
    result = transform_run(
        run=event.run,
        s3=client("s3"),
        job_run_id=context.aws_request_id,
        memory_limit_mb=int(int(context.memory_limit_in_mb) * DUCKDB_MEMORY_SHARE),
        glue=client("glue"),
        database=SETTINGS.glue_database,
    )
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    metrics.add_metric(name="RowsTransformed", unit=MetricUnit.Count, value=result.rows_written)
    metrics.add_metric(name="TransformDuration", unit=MetricUnit.Seconds, value=result.seconds)
    logger.info("transformed", extra=result.model_dump())
    return result.model_dump(mode="json")
