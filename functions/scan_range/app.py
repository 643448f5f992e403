"""ScanRange step: one byte range of a large upload, scanned for quotes and record starts (a ScanRanges item)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, step_handler
from sluice_lib.models import ScanRangeInput
from sluice_lib.settings import Settings
from sluice_lib.steps.scan_range import scan_range_run

SETTINGS = Settings.from_env()


client = aws_clients()


@step_handler(ScanRangeInput, correlation_id_path="plan.run_id")
def lambda_handler(event: ScanRangeInput, context: LambdaContext) -> dict[str, Any]:
    """Each item of the ScanRanges Distributed Map sends
    `{"plan": <Validate's fan-out plan>, "range": {"index": 3, "start": 3221225472, "end": 4294967296}}`.
    """
    out = scan_range_run(event, s3=client("s3"), settings=SETTINGS)
    logger.info("scanned", extra=out.model_dump())
    return out.model_dump(mode="json")
