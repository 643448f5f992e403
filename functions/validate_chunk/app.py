"""ValidateChunk step: one chunk of a large upload checked against its contract (a ValidateChunks item)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, step_handler
from sluice_lib.models import ValidateChunkInput
from sluice_lib.settings import Settings
from sluice_lib.steps.validate_chunk import validate_chunk_run

SETTINGS = Settings.from_env()
CONTRACTS = SETTINGS.contracts()


client = aws_clients()


@step_handler(ValidateChunkInput, correlation_id_path="plan.run_id")
def lambda_handler(event: ValidateChunkInput, context: LambdaContext) -> dict[str, Any]:
    """Each item of the ValidateChunks Distributed Map sends
    `{"plan": <Validate's fan-out plan>, "chunk": {"index": 1, "start": 1073741901, "end": 2147483702,
    "lines_before": 9876543}}`. A rejection found in the chunk comes back in `rejection`, not as an error.
    """
    out = validate_chunk_run(event, s3=client("s3"), contracts=CONTRACTS, settings=SETTINGS)
    logger.info("validated chunk", extra=out.model_dump())
    return out.model_dump(mode="json")
