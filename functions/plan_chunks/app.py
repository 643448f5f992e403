"""PlanChunks step: the record boundaries of a large upload, from its range scans (the ValidateChunks items)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from sluice_lib.models import PlanChunksInput
from sluice_lib.settings import Settings
from sluice_lib.steps.plan_chunks import plan_chunks_run

logger = Logger()
tracer = Tracer()
SETTINGS = Settings.from_env()


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=Config(max_pool_connections=16))


@logger.inject_lambda_context(correlation_id_path="plan.run_id")
@tracer.capture_lambda_handler
@event_parser(model=PlanChunksInput)
def lambda_handler(event: PlanChunksInput, context: LambdaContext) -> dict[str, Any]:
    """The PlanChunks state sends `{"plan": <Validate's fan-out plan>}` once ScanRanges is done."""
    out = plan_chunks_run(event, s3=client("s3"), settings=SETTINGS)
    logger.info("planned", extra=out.model_dump())
    return out.model_dump(mode="json")
