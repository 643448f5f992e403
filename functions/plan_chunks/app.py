"""PlanChunks step: the record boundaries of a large upload, from its range scans (the ValidateChunks items)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import POOLED, aws_clients, logger, step_handler
from sluice_lib.models import PlanChunksInput
from sluice_lib.settings import Settings
from sluice_lib.steps.plan_chunks import plan_chunks_run

SETTINGS = Settings.from_env()


client = aws_clients(POOLED)  # reads the range scans 16 at a time


@step_handler(PlanChunksInput, correlation_id_path="plan.run_id")
def lambda_handler(event: PlanChunksInput, context: LambdaContext) -> dict[str, Any]:
    """The PlanChunks state sends `{"plan": <Validate's fan-out plan>}` once ScanRanges is done."""
    out = plan_chunks_run(event, s3=client("s3"), settings=SETTINGS)
    logger.info("planned", extra=out.model_dump())
    return out.model_dump(mode="json")
