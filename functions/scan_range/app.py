"""ScanRange step: one byte range of a large upload, scanned for quotes and record starts (a ScanRanges item)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.models import ScanRangeInput
from sluice_lib.settings import Settings
from sluice_lib.steps.scan_range import scan_range_run

logger = Logger()
tracer = Tracer()
SETTINGS = Settings.from_env()


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@logger.inject_lambda_context(correlation_id_path="plan.run_id")
@tracer.capture_lambda_handler
@event_parser(model=ScanRangeInput)
def lambda_handler(event: ScanRangeInput, context: LambdaContext) -> dict[str, Any]:
    """Each item of the ScanRanges Distributed Map sends
    `{"plan": <Validate's fan-out plan>, "range": {"index": 3, "start": 3221225472, "end": 4294967296}}`.
    """
    out = scan_range_run(event, s3=client("s3"), settings=SETTINGS)
    logger.info("scanned", extra=out.model_dump())
    return out.model_dump(mode="json")
