"""MergeChunks step: the chunks of a large upload reduced to what Validate returns for a small one."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from sluice_lib.ledger import Ledger
from sluice_lib.models import MergeChunksInput
from sluice_lib.settings import Settings
from sluice_lib.steps.merge_chunks import merge_chunks_run
from sluice_lib.steps.validate import record_counts

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()
CONTRACTS = SETTINGS.contracts()


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=Config(max_pool_connections=16))


@logger.inject_lambda_context(correlation_id_path="plan.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=MergeChunksInput)
def lambda_handler(event: MergeChunksInput, context: LambdaContext) -> dict[str, Any]:
    """The MergeChunks state sends `{"plan": <Validate's fan-out plan>, "chunks": <PlanChunks' output>}`.
    Rejection errors (a chunk's NotUtf8Error, TooManyBadRowsError on the totals, ...) propagate for the Catch."""
    out = merge_chunks_run(
        event,
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        contracts=CONTRACTS,
        settings=SETTINGS,
        s3=client("s3"),
        sqs=client("sqs"),
        glue=client("glue"),
    )
    since_start = datetime.now(UTC) - datetime.fromisoformat(
        event.plan.started_at
    )  # Validate's whole fan-out
    record_counts(metrics, out, milliseconds=since_start.total_seconds() * 1000)
    logger.info(
        "validated", extra={"counts": out.counts.model_dump(), "source": out.source.uri, "chunks": out.chunks}
    )
    return out.model_dump(mode="json")
