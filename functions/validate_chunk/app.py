"""ValidateChunk step: one chunk of a large upload checked against its contract (a ValidateChunks item)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.models import ValidateChunkInput
from sluice_lib.settings import Settings
from sluice_lib.steps.validate_chunk import validate_chunk_run

logger = Logger()
tracer = Tracer()
SETTINGS = Settings.from_env()
CONTRACTS = SETTINGS.contracts()


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@logger.inject_lambda_context(correlation_id_path="plan.run_id")
@tracer.capture_lambda_handler
@event_parser(model=ValidateChunkInput)
def lambda_handler(event: ValidateChunkInput, context: LambdaContext) -> dict[str, Any]:
    """Each item of the ValidateChunks Distributed Map sends
    `{"plan": <Validate's fan-out plan>, "chunk": {"index": 1, "start": 1073741901, "end": 2147483702,
    "lines_before": 9876543}}`. A rejection found in the chunk comes back in `rejection`, not as an error.
    """
    out = validate_chunk_run(event, s3=client("s3"), contracts=CONTRACTS, settings=SETTINGS)
    logger.info("validated chunk", extra=out.model_dump())
    return out.model_dump(mode="json")
